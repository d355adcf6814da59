// metrics.jsonl of a run being resumed: what its first part left (for the summary to describe the whole run), and
// the records a rerun replaces.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { RUN_FILES } from '../../protocol/runFolder';
import { writeFileAtomic } from '../runs/atomic';
import { readMetrics } from '../runs/reader';

/** The loss metrics.jsonl records for optimizer step `step` (the last such record), or undefined. */
export function recordedStepLoss(runDir: string, step: number): number | undefined {
  let loss: number | undefined;
  for (const record of readMetrics(runDir)) {
    if (record.type === 'step' && record.step === step && typeof record.loss === 'number') loss = record.loss;
  }
  return loss;
}

/** Rewrites metrics.jsonl without the records `drop` selects (and without a torn last line). */
export function dropMetricRecords(runDir: string, drop: (record: Record<string, unknown>) => boolean): void {
  const file = path.join(runDir, RUN_FILES.metrics);
  if (!fs.existsSync(file)) return;
  const kept = fs.readFileSync(file, 'utf8').split('\n').filter((line) => {
    if (line.trim().length === 0) return false;
    try {
      const record: unknown = JSON.parse(line);
      return typeof record === 'object' && record !== null && !drop(record as Record<string, unknown>);
    } catch {
      return false; // a torn last line
    }
  });
  writeFileAtomic(file, kept.map((l) => `${l}\n`).join(''));
}
