// The job process protocol: requests the host sends to the worker (over Node IPC) and the events the worker
// streams back. Every message crossing the process boundary is validated with these parsers; no casts.
import { z } from 'zod';
import { deviceNameSchema, formatZodError, metricRecordSchema, runSummarySchema } from './runFiles';

/** Overrides of the config's `runtime` block (CLI --device/--threads, VS Code settings). */
export const runtimeOverridesSchema = z
  .object({
    device: deviceNameSchema.optional(),
    threads: z.number().int().nonnegative().optional(),
  })
  .strict();
export type RuntimeOverrides = z.infer<typeof runtimeOverridesSchema>;

export const startRequestSchema = z
  .object({
    type: z.literal('start'),
    configPath: z.string().min(1),
    runDir: z.string().min(1),
    runtime: runtimeOverridesSchema.optional(),
  })
  .strict();
export const cancelRequestSchema = z.object({ type: z.literal('cancel') }).strict();

export const workerRequestSchema = z.discriminatedUnion('type', [startRequestSchema, cancelRequestSchema]);
export type WorkerRequest = z.infer<typeof workerRequestSchema>;
export type StartRequest = z.infer<typeof startRequestSchema>;

export const logLevelSchema = z.enum(['debug', 'info', 'warn', 'error']);
export type LogLevel = z.infer<typeof logLevelSchema>;

export const jobEventSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('started'), runDir: z.string(), task: z.string(), name: z.string() }).strict(),
  z.object({ type: z.literal('progress'), fraction: z.number().min(0).max(1), message: z.string() }).strict(),
  z.object({ type: z.literal('metric'), record: metricRecordSchema }).strict(),
  z.object({ type: z.literal('artifact'), path: z.string(), kind: z.string() }).strict(),
  z.object({ type: z.literal('log'), level: logLevelSchema, message: z.string() }).strict(),
  z.object({ type: z.literal('finished'), summary: runSummarySchema }).strict(),
  z.object({ type: z.literal('failed'), message: z.string(), where: z.string().optional() }).strict(),
]);
export type JobEvent = z.infer<typeof jobEventSchema>;
export type JobEventType = JobEvent['type'];

/** Thrown by the parsers below; the message names the message kind and every offending field. */
export class ProtocolError extends Error {
  override name = 'ProtocolError';
}

/** Validates a message received by the worker. Throws ProtocolError with the offending JSON paths. */
export function parseWorkerRequest(x: unknown): WorkerRequest {
  const result = workerRequestSchema.safeParse(x);
  if (!result.success) throw new ProtocolError(`invalid worker request: ${formatZodError(result.error)}`);
  return result.data;
}

/** Validates a message received from the worker. Throws ProtocolError with the offending JSON paths. */
export function parseJobEvent(x: unknown): JobEvent {
  const result = jobEventSchema.safeParse(x);
  if (!result.success) throw new ProtocolError(`invalid job event: ${formatZodError(result.error)}`);
  return result.data;
}
