// Shapes of the files in a run folder (summary.json, metrics.jsonl records), shared by the engine, the worker,
// the extension host and the webviews. Pure zod: no Node imports, so webview bundles can use it too.
import { z } from 'zod';

export const runStatusSchema = z.enum(['running', 'completed', 'cancelled', 'failed']);
export type RunStatus = z.infer<typeof runStatusSchema>;

export const deviceNameSchema = z.enum(['auto', 'cpu', 'cuda', 'webgpu']);
export type DeviceName = z.infer<typeof deviceNameSchema>;

/** The device a job asked for, the one it ran on, and why it fell back (when it did). */
export const deviceInfoSchema = z
  .object({
    requested: z.string(),
    used: z.string(),
    fallbackReason: z.string().optional(),
  })
  .strict();
export type DeviceInfo = z.infer<typeof deviceInfoSchema>;

/** An error as recorded in summary.json and sent in `failed` events: what went wrong and where. */
export const runErrorSchema = z
  .object({
    message: z.string(),
    where: z.string().optional(),
  })
  .strict();
export type RunError = z.infer<typeof runErrorSchema>;

/** summary.json. `metrics` holds the final scalar metrics of the task (e.g. gflops for device-check). */
export const runSummarySchema = z
  .object({
    status: runStatusSchema,
    name: z.string(),
    task: z.string(),
    /** When the run first started (a resume keeps it). */
    startedAt: z.string(),
    /** When the latest resume started (absent for a run that was never resumed). */
    resumedAt: z.string().optional(),
    endedAt: z.string().optional(),
    device: deviceInfoSchema.optional(),
    metrics: z.record(z.unknown()).default({}),
    error: runErrorSchema.optional(),
    /** The job process that wrote the run last (its heartbeat.json tells whether it still runs). */
    pid: z.number().int().positive().optional(),
  })
  // Later tasks may add fields (checkpoint, resumedFrom, ...): keep them instead of rejecting the file.
  .passthrough();
export type RunSummary = z.infer<typeof runSummarySchema>;

/** summary.json `metrics` of a tune run (tasks/tune.ts); eval* metrics only with eval data, zeroShot* with train.evalAtStart. */
export const tuneMetricsSchema = z
  .object({
    steps: z.number(),
    resumedFromStep: z.number().optional(),
    firstLoss: z.number().optional(),
    finalLoss: z.number().optional(),
    msPerStep: z.number(),
    trainableParams: z.number(),
    optimizerStateBytes: z.number(),
    evalLoss: z.number().optional(),
    evalPerplexity: z.number().optional(),
    evalAccuracy: z.number().optional(),
    zeroShotEvalLoss: z.number().optional(),
    zeroShotEvalPerplexity: z.number().optional(),
    zeroShotEvalAccuracy: z.number().optional(),
  })
  .passthrough();
export type TuneMetrics = z.infer<typeof tuneMetricsSchema>;

/** summary.json `memory` of a tune run: trainable values, optimizer state, peak resident set of the job process. */
export const runMemorySchema = z
  .object({ trainableParameters: z.number(), optimizerStateBytes: z.number(), peakRssBytes: z.number() })
  .strict();
export type RunMemory = z.infer<typeof runMemorySchema>;

/** summary.json `offsite`: the offsite-tuning numbers of one emulator method (tasks/offsite.ts writes it). */
export const offsiteSummarySchema = z
  .object({
    metric: z.enum(['accuracy', 'perplexity']),
    fullZeroShot: z.number(),
    emulatorZeroShot: z.number(),
    emulatorFinetuned: z.number(),
    plugIn: z.number(),
    fullFinetuned: z.number().optional(),
    /** Privacy gap, larger = more privacy: accuracy plugIn - emulatorFinetuned; perplexity emulatorFinetuned - plugIn. */
    gap: z.number(),
    gapDefinition: z.string(),
    method: z.string(),
    adapterPeft: z.enum(['full', 'lora']),
    adapterLayers: z.tuple([z.number().int(), z.number().int()]),
    /** Seconds of statistics, SVD, selection and writing (the emulator's loss evaluation not included). */
    compressionSeconds: z.number(),
    emulatorParameters: z.number(),
    fullParameters: z.number(),
    meanCosineBefore: z.number(),
    meanCosineAfter: z.number(),
  })
  .strict();
export type OffsiteSummary = z.infer<typeof offsiteSummarySchema>;

/**
 * run.lock: the process that holds a run folder while a job runs in it (the CLI or extension host that started
 * the job). Created with an exclusive link, removed when the job ends; stale once that process is gone.
 */
export const runLockSchema = z
  .object({ pid: z.number().int().positive(), hostname: z.string(), acquiredAt: z.string() })
  .strict();
export type RunLock = z.infer<typeof runLockSchema>;

/**
 * heartbeat.json: rewritten every few seconds by the job process while it runs, removed when it ends. A summary
 * saying `running` whose heartbeat is gone stale (or whose process is dead) is a run that was killed.
 */
export const runHeartbeatSchema = z
  .object({ pid: z.number().int().positive(), hostname: z.string(), at: z.string() })
  .strict();
export type RunHeartbeat = z.infer<typeof runHeartbeatSchema>;

/** One line of metrics.jsonl: any JSON object with a string `type`. */
export const metricRecordSchema = z.object({ type: z.string().min(1) }).passthrough();
export type MetricRecord = z.infer<typeof metricRecordSchema>;

/** The record the device-check task writes once, at the end. */
export const deviceCheckRecordSchema = z
  .object({
    type: z.literal('device-check'),
    size: z.number().int().positive(),
    repeats: z.number().int().positive(),
    msPerMatMul: z.number().nonnegative(),
    gflops: z.number().nonnegative(),
    maxAbsError: z.number().nonnegative(),
    device: deviceInfoSchema,
  })
  .strict();
export type DeviceCheckRecord = z.infer<typeof deviceCheckRecordSchema>;

/** Formats a zod error as `path: message; path: message` with JSON paths like `$.summary.status`. */
export function formatZodError(error: z.ZodError): string {
  return error.issues
    .map((issue) => `${jsonPathOf(issue.path)}: ${issue.message}`)
    .join('; ');
}

function jsonPathOf(path: (string | number)[]): string {
  let out = '$';
  for (const segment of path) {
    out += typeof segment === 'number' ? `[${segment}]` : /^[A-Za-z_$][\w$]*$/.test(segment) ? `.${segment}` : `[${JSON.stringify(segment)}]`;
  }
  return out;
}
