// Typed views of the metrics.jsonl records the panels draw (records arrive as `{type, ...}` objects; each kind
// is validated here before use, so a malformed line is reported instead of drawn wrongly). Pure.
import { z } from 'zod';
import type { MetricRecord } from '../../src/protocol';

const stepIndex = z.number().int().nonnegative();

/** `{"type":"step","step":n,"loss":x,"layers":[...]}`: one optimizer step (layers: the IST-selected layers). */
export const stepRecordSchema = z
  .object({
    type: z.literal('step'),
    step: stepIndex,
    loss: z.number().optional(),
    lr: z.number().optional(),
    layers: z.array(z.number().int().nonnegative()).optional(),
  })
  .passthrough();
export type StepRecord = z.infer<typeof stepRecordSchema>;

/** `{"type":"importance","step":n,"scores":[...L],...}`: the IST layer scores after an update. */
export const importanceRecordSchema = z
  .object({
    type: z.literal('importance'),
    step: stepIndex,
    scores: z.array(z.number()).min(1),
  })
  .passthrough();
export type ImportanceRecord = z.infer<typeof importanceRecordSchema>;

export interface Selected<T> {
  records: T[];
  /** One line per record of the right type that failed validation: `metrics.jsonl record #i: $.path: problem`. */
  problems: string[];
}

/** The records of one type that validate against `schema`; others of that type become problems. */
export function selectRecords<T>(records: readonly MetricRecord[], type: string, schema: z.ZodType<T>): Selected<T> {
  const out: T[] = [];
  const problems: string[] = [];
  records.forEach((record, index) => {
    if (record.type !== type) return;
    const result = schema.safeParse(record);
    if (result.success) out.push(result.data);
    else problems.push(`metrics.jsonl ${type} record #${index}: ${result.error.issues.map((i) => `$.${i.path.join('.')}: ${i.message}`).join('; ')}`);
  });
  return { records: out, problems };
}
