// The records of metrics.jsonl that have a fixed shape, as the engine writes them; the panels read them through
// the tolerant views below (a record of an older version missing an optional field still draws).
import { z } from 'zod';

const stepIndex = z.number().int().nonnegative();

/** `{"type":"step",...}`: one optimizer step; `layers` are the layers whose parameters it updated (sorted). */
export const stepRecordSchema = z
  .object({
    type: z.literal('step'),
    step: stepIndex,
    loss: z.number(),
    lr: z.number(),
    gradNorm: z.number(),
    tokens: z.number().int().nonnegative(),
    ms: z.number(),
    layers: z.array(z.number().int().nonnegative()),
  })
  .strict();
export type StepRecord = z.infer<typeof stepRecordSchema>;

/** `{"type":"importance",...}`: the IST layer scores after a score update, before step `step`'s update. */
export const importanceRecordSchema = z
  .object({
    type: z.literal('importance'),
    step: stepIndex,
    /** Scores after the update [L]. */
    scores: z.array(z.number()).min(1),
    /** Centred rewards r^_k = exp(-l_k) - mean. */
    rewards: z.array(z.number()),
    /** Loss of each rollout l_k. */
    losses: z.array(z.number()),
    /** The layers each rollout suppressed. */
    suppressed: z.array(z.array(z.number().int().nonnegative())),
  })
  .strict();
export type ImportanceRecord = z.infer<typeof importanceRecordSchema>;

/** What the panels need of a step record (other fields, e.g. an offsite run's `phase`, pass through). */
export const stepRecordView = stepRecordSchema.partial().required({ type: true, step: true }).passthrough();
export type StepRecordView = z.infer<typeof stepRecordView>;

/** What the panels need of an importance record. */
export const importanceRecordView = importanceRecordSchema.pick({ type: true, step: true, scores: true }).passthrough();
export type ImportanceRecordView = z.infer<typeof importanceRecordView>;
