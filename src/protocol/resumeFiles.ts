// Shapes of the run-folder files a resume reads: `checkpoints/latest.json`, a checkpoint's `state.json` (tune)
// and `offsite-state.json` (offsite). Parsed with these schemas so a truncated or hand-edited file is reported
// with its path and the JSON path at fault instead of a bare `Unexpected token` or a TypeError later on.
import { z } from 'zod';
import { formatZodError } from './runFiles';

const count = z.number().int().nonnegative();

/** A checkpoint folder's name: step-NNNNNN, with -K when that step was checkpointed again (train/checkpoint.ts). */
export const CHECKPOINT_DIR_PATTERN = /^step-\d+(-\d+)?$/;

/** checkpoints/latest.json: the newest checkpoint folder. */
export const checkpointPointerSchema = z
  .object({
    dir: z.string().regex(CHECKPOINT_DIR_PATTERN, 'must name a step-NNNNNN folder'),
    step: count,
  })
  .passthrough();
export type CheckpointPointer = z.infer<typeof checkpointPointerSchema>;

/** A checkpoint's state.json: everything besides tensors needed to continue a run exactly. */
export const trainStateSchema = z
  .object({
    /** Completed optimizer steps (the next step to run). */
    step: count,
    /** Training examples consumed by the completed steps (the data order is derived from the seed and this). */
    consumed: count,
    seed: count,
    /** Random streams are derived from (seed, purpose, step, micro-batch), so seed + step is the whole RNG state. */
    rng: z.literal('derived from seed, step and micro-batch'),
    optimizer: z.enum(['adamw', 'sgd']),
    /** Fingerprint of the settings that must match on resume (model, data, peft, train). */
    fingerprint: z.string(),
    /** IST layer scores after the completed steps (runs with layerSelection ist). */
    istScores: z.array(z.number().finite()).optional(),
  })
  .strict();
export type TrainState = z.infer<typeof trainStateSchema>;

// JSON has no NaN: JSON.stringify writes a NaN metric (e.g. the perplexity of an empty set) as null.
const metricValue = z.number().nullable().transform((v) => v ?? Number.NaN);

/** Evaluation metrics of one model + adapter (evalLoss, evalPerplexity, evalAccuracy, ...). */
export const offsiteEvaluationSchema = z.record(metricValue);
export type OffsiteEvaluation = z.infer<typeof offsiteEvaluationSchema>;

/** Gradient agreement, emulator vs full model, per adapter linear map. */
export const offsiteGradientStepSchema = z
  .object({ names: z.array(z.string()), cosine: z.array(metricValue), relError: z.array(metricValue) })
  .strict();
export type OffsiteGradientStep = z.infer<typeof offsiteGradientStepSchema>;

/** One tuning phase's step count and losses. */
export const offsiteTuneStepSchema = z
  .object({ steps: count, firstLoss: metricValue.optional(), finalLoss: metricValue.optional(), msPerStep: z.number() })
  .strict();
export type OffsiteTuneStep = z.infer<typeof offsiteTuneStepSchema>;

/** One compressed module of the emulator (offsite/emulator/types.ts ModuleDiagnostics). */
const emulatorModuleSchema = z
  .object({
    name: z.string(),
    layer: count,
    kind: z.enum(['attention', 'mlp']),
    fullRank: count,
    keptRank: count,
    kept: z.array(count).readonly(),
    singularValues: z.array(metricValue).readonly(),
    gcs: z.array(metricValue).readonly().nullable(),
    fullChannels: count.optional(),
    keptChannels: count.optional(),
  })
  // Keys the engine may add later are dropped, not rejected (this is a cache of the step's output).
  .strip();

/** The emulator step: parameter counts, phase timings, compression diagnostics. */
export const offsiteEmulatorStepSchema = z
  .object({
    parameterCount: count,
    fullParameterCount: count,
    // distill: method ot only (absent in states written before it existed).
    timings: z.object({ stats: z.number(), svd: z.number(), selection: z.number(), write: z.number(), distill: z.number().optional(), evaluate: z.number() }).strip(),
    compressionSeconds: z.number(),
    diagnostics: z
      .object({ modules: z.array(emulatorModuleSchema).readonly(), loss: z.object({ full: metricValue, emulator: metricValue }).strict().optional() })
      .strip(),
  })
  .strict();
export type OffsiteEmulatorStep = z.infer<typeof offsiteEmulatorStepSchema>;

/** The recorded outputs of the offsite pipeline's steps, each present once that step completed. */
export const offsiteStepsSchema = z
  .object({
    emulator: offsiteEmulatorStepSchema.optional(),
    zeroShot: z.object({ full: offsiteEvaluationSchema, emulator: offsiteEvaluationSchema }).strict().optional(),
    gradientsBefore: offsiteGradientStepSchema.optional(),
    tuneEmulator: offsiteTuneStepSchema.optional(),
    emulatorFinetuned: offsiteEvaluationSchema.optional(),
    plugIn: offsiteEvaluationSchema.optional(),
    gradientsAfter: offsiteGradientStepSchema.optional(),
    fullFinetune: z.object({ tune: offsiteTuneStepSchema, evaluation: offsiteEvaluationSchema }).strict().optional(),
  })
  .strict();
export type OffsiteSteps = z.infer<typeof offsiteStepsSchema>;

/** best-adapter/best.json: which step's adapter the folder holds and its validation loss (train.keepBest). */
export const bestAdapterRecordSchema = z.object({ step: count, valLoss: z.number().finite() }).strict();
export type BestAdapterRecord = z.infer<typeof bestAdapterRecordSchema>;

/** offsite-state.json. */
export const offsiteStateFileSchema = z.object({ fingerprint: z.string(), steps: offsiteStepsSchema }).strict();
export type OffsiteStateFile = z.infer<typeof offsiteStateFileSchema>;

/**
 * Reads and validates a resume file; throws naming the file and, for a wrong shape, the JSON paths at fault.
 * `text` is the file's content (the caller reads it, so a missing file keeps its own message).
 */
export function parseResumeFile<S extends z.ZodTypeAny>(schema: S, text: string, file: string): z.infer<S> {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new Error(`${file}: not valid JSON (${e instanceof Error ? e.message : String(e)}); the file is truncated or corrupt`);
  }
  const result = schema.safeParse(raw);
  if (!result.success) throw new Error(`${file}: ${formatZodError(result.error)}`);
  return result.data as z.infer<S>;
}
