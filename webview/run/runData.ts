// What the Run panel shows, derived from a run's records and summary. Pure (unit-tested).
import type { MetricRecord } from '../../src/protocol';
import { selectRecords, stepRecordSchema } from '../shared/metricRecords';

/** [step, loss] pairs in step order, from step records that carry a finite loss. */
export function lossPoints(records: readonly MetricRecord[]): { points: [number, number][]; problems: string[] } {
  const { records: steps, problems } = selectRecords(records, 'step', stepRecordSchema);
  const points: [number, number][] = [];
  for (const record of steps) {
    if (record.loss !== undefined && Number.isFinite(record.loss)) points.push([record.step, record.loss]);
  }
  points.sort((a, b) => a[0] - b[0]);
  return { points, problems };
}

export interface MetricRow {
  key: string;
  value: string;
}

/**
 * summary.metrics as table rows: nested objects flattened to dotted keys (`device.used`), numbers with at most
 * 4 significant decimals, arrays summarized by length when long.
 */
export function metricRows(metrics: Record<string, unknown>): MetricRow[] {
  const rows: MetricRow[] = [];
  const visit = (prefix: string, value: unknown, depth: number): void => {
    if (value !== null && typeof value === 'object' && !Array.isArray(value) && depth < 4) {
      for (const [key, inner] of Object.entries(value)) visit(prefix === '' ? key : `${prefix}.${key}`, inner, depth + 1);
      return;
    }
    rows.push({ key: prefix, value: formatValue(value) });
  };
  visit('', metrics, 0);
  return rows.filter((row) => row.key !== '');
}

export function formatValue(value: unknown): string {
  if (typeof value === 'number') return formatNumber(value);
  if (typeof value === 'string') return value;
  if (typeof value === 'boolean' || value === null || value === undefined) return String(value);
  if (Array.isArray(value)) {
    if (value.length <= 8 && value.every((v) => typeof v === 'number' || typeof v === 'string')) {
      return `[${value.map((v) => (typeof v === 'number' ? formatNumber(v) : v)).join(', ')}]`;
    }
    return `[${value.length} items]`;
  }
  return JSON.stringify(value);
}

export function formatNumber(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  if (Number.isInteger(value)) return String(value);
  const magnitude = Math.abs(value);
  if (magnitude !== 0 && (magnitude < 1e-3 || magnitude >= 1e6)) return value.toExponential(3);
  return String(Number(value.toFixed(4)));
}

/** "12.3 s", "4 min 05 s": how long a run took, from ISO start and end times (undefined when unknown). */
export function formatDuration(startedAt: string, endedAt: string | undefined): string | undefined {
  if (endedAt === undefined) return undefined;
  const ms = Date.parse(endedAt) - Date.parse(startedAt);
  if (!Number.isFinite(ms) || ms < 0) return undefined;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const minutes = Math.floor(ms / 60_000);
  const seconds = Math.round((ms % 60_000) / 1000);
  return `${minutes} min ${String(seconds).padStart(2, '0')} s`;
}
