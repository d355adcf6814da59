// Reads run folders. Tolerant of runs in progress: a missing summary is `null` and a torn last line of
// metrics.jsonl (being appended right now) is ignored.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { formatZodError, metricRecordSchema, runSummarySchema, type MetricRecord, type RunSummary } from '../../protocol/runFiles';
import { RUN_FILES, runsDirFor } from './layout';
import { interruptedReason } from './lock';
import { isRunId } from './runId';

/** summary.json, or null if it does not exist. Throws (naming the file) when it is not a valid summary. */
export function readSummary(runDir: string): RunSummary | null {
  const file = path.join(runDir, RUN_FILES.summary);
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if (err instanceof Error && 'code' in err && err.code === 'ENOENT') return null;
    throw err;
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new Error(`${file}: invalid JSON: ${err instanceof Error ? err.message : String(err)}`);
  }
  const result = runSummarySchema.safeParse(json);
  if (!result.success) throw new Error(`${file}: not a run summary: ${formatZodError(result.error)}`);
  return result.data;
}

/**
 * Every record of metrics.jsonl ([] when missing). A last line without its newline that does not parse is a
 * record being written and is skipped; any other bad line throws with file:line.
 */
export function readMetrics(runDir: string): MetricRecord[] {
  const file = path.join(runDir, RUN_FILES.metrics);
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if (err instanceof Error && 'code' in err && err.code === 'ENOENT') return [];
    throw err;
  }
  return parseMetricsText(text, file);
}

/** Parses metrics.jsonl content (see readMetrics); `file` is only used in error messages. */
export function parseMetricsText(text: string, file: string): MetricRecord[] {
  const lines = text.split('\n');
  const complete = text.endsWith('\n');
  const records: MetricRecord[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] ?? '';
    if (line.trim() === '') continue;
    const isTornTail = i === lines.length - 1 && !complete;
    let json: unknown;
    try {
      json = JSON.parse(line);
    } catch (err) {
      if (isTornTail) break;
      throw new Error(`${file}:${i + 1}: invalid JSON: ${err instanceof Error ? err.message : String(err)}`);
    }
    const result = metricRecordSchema.safeParse(json);
    if (!result.success) {
      if (isTornTail) break;
      throw new Error(`${file}:${i + 1}: not a metric record: ${formatZodError(result.error)}`);
    }
    records.push(result.data);
  }
  return records;
}

export interface RunInfo {
  runId: string;
  runDir: string;
  /** null while the run has not written one yet, or when it is unreadable (see summaryError). */
  summary: RunSummary | null;
  summaryError?: string;
  /** Set when summary.json says running but its job process is gone (killed): why (lock.ts interruptedReason). */
  interrupted?: string;
}

/** Runs of a config (folders under `<configDir>/<runsFolder>` named like run ids), newest first. */
export function listRuns(configPath: string, runsFolder?: string, root?: string): RunInfo[] {
  return listRunsIn(runsDirFor(configPath, runsFolder, root));
}

/** Runs in a runs folder, newest first ([] when the folder does not exist). */
export function listRunsIn(runsDir: string): RunInfo[] {
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(runsDir, { withFileTypes: true });
  } catch (err) {
    if (err instanceof Error && 'code' in err && err.code === 'ENOENT') return [];
    throw err;
  }
  const ids = entries.filter((e) => e.isDirectory() && isRunId(e.name)).map((e) => e.name);
  ids.sort((a, b) => compareRunIds(b, a));
  return ids.map((runId) => {
    const runDir = path.join(runsDir, runId);
    try {
      const summary = readSummary(runDir);
      const interrupted = summary?.status === 'running' ? interruptedReason(runDir) : undefined;
      return { runId, runDir, summary, ...(interrupted === undefined ? {} : { interrupted }) };
    } catch (err) {
      return { runId, runDir, summary: null, summaryError: err instanceof Error ? err.message : String(err) };
    }
  });
}

/** Orders by timestamp, then by the -N suffix numerically (…-demo-10 after …-demo-9). */
function compareRunIds(a: string, b: string): number {
  const stamp = (id: string): string => id.slice(0, 15);
  if (stamp(a) !== stamp(b)) return stamp(a) < stamp(b) ? -1 : 1;
  const suffix = (id: string): number => Number(/-(\d+)$/.exec(id)?.[1] ?? '1');
  return suffix(a) - suffix(b) || (a < b ? -1 : a > b ? 1 : 0);
}
