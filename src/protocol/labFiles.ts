// The built-in lab model's record, `pretraining.json` beside its weights (lab/pretrain.ts writes it; the demo, the
// tests and the README read it): the pretraining settings, the loss curve, the knowledge-probe accuracies and
// the wall time. Pure zod, no Node imports.
import { z } from 'zod';

export const labAttributeSchema = z.enum(['birthCity', 'employer', 'field', 'birthYear']);

export const pretrainSettingsSchema = z
  .object({
    worldSeed: z.number().int(),
    people: z.number().int().positive(),
    seed: z.number().int(),
    steps: z.number().int().positive(),
    batchSize: z.number().int().positive(),
    seq: z.number().int().positive(),
    lr: z.number().positive(),
    warmupSteps: z.number().int().nonnegative(),
    passes: z.number().int().positive(),
    evalEvery: z.number().int().nonnegative(),
    threads: z.number().int().nonnegative(),
  })
  .strict();
export type PretrainSettings = z.infer<typeof pretrainSettingsSchema>;

/** Accuracy of the held-out-phrasing probe for one attribute (chance = 1 / number of values). */
export const probeResultSchema = z
  .object({ attribute: labAttributeSchema, accuracy: z.number(), chance: z.number(), count: z.number().int() })
  .strict();
export type ProbeResult = z.infer<typeof probeResultSchema>;

export const pretrainRecordSchema = z
  .object({
    settings: pretrainSettingsSchema,
    /** sha256 of the generated world's JSON: the world the weights were trained on. */
    worldSha256: z.string().regex(/^[0-9a-f]{64}$/),
    parameters: z.number().int().positive(),
    tokensPerStep: z.number().int().positive(),
    wallSeconds: z.number().nonnegative(),
    /** Mean training loss over each window of 25 steps, with the wall time at its end. */
    curve: z.array(z.object({ step: z.number().int(), loss: z.number(), elapsedSeconds: z.number() }).strict()),
    probes: z.array(z.object({ step: z.number().int(), results: z.array(probeResultSchema) }).strict()),
  })
  .strict();
export type PretrainRecord = z.infer<typeof pretrainRecordSchema>;
