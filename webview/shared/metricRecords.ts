// Selecting the metrics.jsonl records a panel draws (records arrive as `{type, ...}` objects; each kind is
// validated before use, so a malformed line is reported instead of drawn wrongly). Pure.
import { z } from 'zod';
import type { MetricRecord } from '../../src/protocol';

// The record shapes live in the contract room; the panels validate with its tolerant views.
export { importanceRecordView as importanceRecordSchema, stepRecordView as stepRecordSchema } from '../../src/protocol/metricRecords';
export type { ImportanceRecordView as ImportanceRecord, StepRecordView as StepRecord } from '../../src/protocol/metricRecords';

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
