// Gradient diagnostics panel data: how well the emulator preserves the adapters' gradients (cosine similarity
// and relative error vs the full model, before and after tuning; GradOT's goal) and the loss gap. Pure.
import type { AdapterDiagnostic, DiagnosticsFile } from '../../src/protocol/diagnostics';

export interface AdapterSeries {
  names: string[];
  cosineBefore: number[];
  cosineAfter: number[];
  relErrorBefore: number[];
  relErrorAfter: number[];
}

export function adapterSeries(adapters: readonly AdapterDiagnostic[]): AdapterSeries {
  return {
    names: adapters.map((a) => a.name),
    cosineBefore: adapters.map((a) => a.cosineBefore),
    cosineAfter: adapters.map((a) => a.cosineAfter),
    relErrorBefore: adapters.map((a) => a.relErrorBefore),
    relErrorAfter: adapters.map((a) => a.relErrorAfter),
  };
}

/** Mean of each column (undefined for no adapters): the headline numbers above the chart. */
export function adapterMeans(series: AdapterSeries): { cosineBefore: number; cosineAfter: number; relErrorBefore: number; relErrorAfter: number } | undefined {
  const n = series.names.length;
  if (n === 0) return undefined;
  const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / n;
  return {
    cosineBefore: mean(series.cosineBefore),
    cosineAfter: mean(series.cosineAfter),
    relErrorBefore: mean(series.relErrorBefore),
    relErrorAfter: mean(series.relErrorAfter),
  };
}

/** Row labels of the keys the offsite task writes (tasks/offsite.ts); other keys are shown as written. */
const LOSS_LABELS: Readonly<Record<string, string>> = {
  full: 'Full model',
  emulator: 'Emulator',
  privacyGap: 'Privacy gap (emulator - full)',
};

/** The numeric entries of diagnostics.json's `loss` block (e.g. full, emulator), in file order, with row labels. */
export function lossEntries(loss: DiagnosticsFile['loss']): { key: string; label: string; value: number }[] {
  if (!loss) return [];
  return Object.entries(loss).flatMap(([key, value]) => (typeof value === 'number' && Number.isFinite(value) ? [{ key, label: LOSS_LABELS[key] ?? key, value }] : []));
}
