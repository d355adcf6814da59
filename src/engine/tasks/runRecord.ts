// What a resumed run's first part left in metrics.jsonl, for the summary to describe the whole run.
import { readMetrics } from '../runs/reader';

/** The loss metrics.jsonl records for optimizer step `step` (the last such record), or undefined. */
export function recordedStepLoss(runDir: string, step: number): number | undefined {
  let loss: number | undefined;
  for (const record of readMetrics(runDir)) {
    if (record.type === 'step' && record.step === step && typeof record.loss === 'number') loss = record.loss;
  }
  return loss;
}
