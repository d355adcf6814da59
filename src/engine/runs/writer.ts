// Writes a run folder's files. Used by the worker (and by the job manager to record cancel/crash outcomes).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { runSummarySchema, type MetricRecord, type RunSummary } from '../../protocol/runFiles';
import { appendLine, openNoFollow, writeJsonAtomic } from './atomic';
import { RUN_FILES } from './layout';
import { readSummary } from './reader';

/** Writes config.json (the resolved config) atomically. */
export function writeRunConfig(runDir: string, config: unknown): void {
  writeJsonAtomic(path.join(runDir, RUN_FILES.config), config);
}

/** Writes summary.json atomically, replacing it completely. */
export function writeSummary(runDir: string, summary: RunSummary): void {
  writeJsonAtomic(path.join(runDir, RUN_FILES.summary), runSummarySchema.parse(summary));
}

/**
 * Merges `patch` into the existing summary.json (keeping every other field) and writes it atomically.
 * `base` supplies the required fields when there is no (readable) summary yet. Returns the written summary.
 */
export function updateSummary(runDir: string, patch: Partial<RunSummary>, base?: Omit<RunSummary, 'metrics'>): RunSummary {
  let previous: RunSummary | null = null;
  try {
    previous = readSummary(runDir);
  } catch {
    previous = null; // unreadable: rebuilt from base below
  }
  const start = previous ?? (base === undefined ? undefined : { metrics: {}, ...base });
  if (start === undefined) throw new Error(`${path.join(runDir, RUN_FILES.summary)}: no summary to update and no base given`);
  // Fields set to undefined in the patch keep their previous value.
  const defined = Object.fromEntries(Object.entries(patch).filter(([, v]) => v !== undefined));
  const merged = runSummarySchema.parse({ ...start, ...defined, metrics: { ...start.metrics, ...(patch.metrics ?? {}) } });
  writeSummary(runDir, merged);
  return merged;
}

/** Appends one record to metrics.jsonl. */
export function appendMetric(runDir: string, record: MetricRecord): void {
  appendLine(path.join(runDir, RUN_FILES.metrics), JSON.stringify(record));
}

/** Appends a timestamped line to log.txt. */
export function appendLog(runDir: string, level: string, message: string): void {
  appendLine(path.join(runDir, RUN_FILES.log), `${new Date().toISOString()} ${level.toUpperCase()} ${message}`);
}

/** Creates an empty file if missing (so a fresh run folder has all its files). */
export function touchFile(file: string): void {
  fs.closeSync(openNoFollow(file, fs.constants.O_WRONLY | fs.constants.O_APPEND | fs.constants.O_CREAT));
}
