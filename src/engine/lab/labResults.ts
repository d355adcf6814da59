// Reading the lab's finished runs (summary.json, validated with the protocol's schemas) into table rows, and the
// tables `npm run demo` and `peft-lab lab compare` print and write as Markdown. Accuracies are multiple-choice
// accuracies by log-likelihood on the task's test split (people never seen in tuning).
import { offsiteSummarySchema, runMemorySchema, tuneMetricsSchema, type OffsiteSummary, type RunSummary } from '../../protocol/runFiles';

export interface TuneRow {
  readonly name: string;
  readonly selection: string;
  readonly zeroShot: number;
  readonly tuned: number;
  readonly finalLoss: number;
  readonly msPerStep: number;
  readonly optimizerStateBytes: number;
  readonly peakRssBytes: number;
}

export interface OffsiteRow {
  readonly name: string;
  readonly offsite: OffsiteSummary;
}

function completed(summary: RunSummary | null, runDir: string): RunSummary {
  if (summary === null) throw new Error(`${runDir}: no readable summary.json`);
  if (summary.status !== 'completed') throw new Error(`${runDir}: run ${summary.status}${summary.error === undefined ? '' : `: ${summary.error.message}`}`);
  return summary;
}

export function tuneRow(summary: RunSummary | null, runDir: string, selection: string): TuneRow {
  const s = completed(summary, runDir);
  const m = tuneMetricsSchema.safeParse(s.metrics);
  if (!m.success) throw new Error(`${runDir}/summary.json: metrics are not a tune run's: ${m.error.message}`);
  const memory = runMemorySchema.safeParse(s.memory);
  return {
    name: s.name, selection,
    zeroShot: m.data.zeroShotEvalAccuracy ?? Number.NaN, tuned: m.data.evalAccuracy ?? Number.NaN,
    finalLoss: m.data.finalLoss ?? Number.NaN, msPerStep: m.data.msPerStep, optimizerStateBytes: m.data.optimizerStateBytes,
    peakRssBytes: memory.success ? memory.data.peakRssBytes : Number.NaN,
  };
}

export function offsiteRow(summary: RunSummary | null, runDir: string): OffsiteRow {
  const s = completed(summary, runDir);
  const o = offsiteSummarySchema.safeParse(s.offsite);
  if (!o.success) throw new Error(`${runDir}/summary.json: no valid offsite summary: ${o.error.message}`);
  return { name: s.name, offsite: o.data };
}

const pct = (x: number): string => (Number.isFinite(x) ? `${(100 * x).toFixed(1)}%` : 'n/a');
const pts = (x: number): string => (Number.isFinite(x) ? `${x >= 0 ? '+' : ''}${(100 * x).toFixed(1)}` : 'n/a');
const mib = (bytes: number): string => (Number.isFinite(bytes) ? `${(bytes / 2 ** 20).toFixed(0)} MiB` : 'n/a');

function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  return [`| ${header.join(' | ')} |`, `|${header.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');
}

export function tuneTable(rows: readonly TuneRow[]): string {
  return table(['run', 'layer selection', 'zero-shot acc', 'tuned acc', 'final train loss', 'ms/step', 'optimizer state', 'peak RSS'],
    rows.map((r) => [r.name, r.selection, pct(r.zeroShot), pct(r.tuned), r.finalLoss.toFixed(4), r.msPerStep.toFixed(0),
      `${(r.optimizerStateBytes / 1024).toFixed(0)} KiB`, mib(r.peakRssBytes)]));
}

export function offsiteTable(rows: readonly OffsiteRow[]): string {
  return table(['run', 'emulator', 'full ZS', 'emulator ZS', 'emulator FT', 'plug-in', 'gap (plug-in - emu FT)', 'grad cosine before / after', 'emulator size'],
    rows.map(({ name, offsite: o }) => [name, o.method, pct(o.fullZeroShot), pct(o.emulatorZeroShot), pct(o.emulatorFinetuned), pct(o.plugIn),
      pts(o.gap), `${o.meanCosineBefore.toFixed(3)} / ${o.meanCosineAfter.toFixed(3)}`,
      `${(100 * o.emulatorParameters / o.fullParameters).toFixed(0)}% of ${(o.fullParameters / 1e6).toFixed(2)} M`]));
}

/** Mean and sample standard deviation (n - 1; 0 for one value). */
export function meanStd(xs: readonly number[]): { mean: number; std: number } {
  const n = xs.length;
  if (n === 0) return { mean: Number.NaN, std: Number.NaN };
  const mean = xs.reduce((a, b) => a + b, 0) / n;
  const std = n > 1 ? Math.sqrt(xs.reduce((a, x) => a + (x - mean) ** 2, 0) / (n - 1)) : 0;
  return { mean, std };
}

const pctSpread = (xs: readonly number[]): string => {
  const { mean, std } = meanStd(xs);
  return Number.isFinite(mean) ? `${(100 * mean).toFixed(1)} ± ${(100 * std).toFixed(1)}` : 'n/a';
};

function groups<T>(rows: readonly T[], key: (r: T) => string): Map<string, T[]> {
  const out = new Map<string, T[]>();
  for (const r of rows) out.set(key(r), [...(out.get(key(r)) ?? []), r]);
  return out;
}

/** Per layer selection over seeds: accuracies in % as mean ± standard deviation. */
export function compareTuneTable(rows: readonly TuneRow[]): string {
  return table(['layer selection', 'seeds', 'zero-shot acc %', 'tuned acc %', 'final train loss', 'ms/step', 'optimizer state'],
    [...groups(rows, (r) => r.selection)].map(([selection, rs]) => [selection, String(rs.length), pctSpread(rs.map((r) => r.zeroShot)),
      pctSpread(rs.map((r) => r.tuned)), meanStd(rs.map((r) => r.finalLoss)).mean.toFixed(4), meanStd(rs.map((r) => r.msPerStep)).mean.toFixed(0),
      `${(meanStd(rs.map((r) => r.optimizerStateBytes)).mean / 1024).toFixed(0)} KiB`]));
}

/** Per emulator method over seeds: accuracies in % as mean ± standard deviation; gap in points. */
export function compareOffsiteTable(rows: readonly OffsiteRow[]): string {
  return table(['emulator', 'seeds', 'full ZS %', 'emulator ZS %', 'emulator FT %', 'plug-in %', 'full FT %', 'gap (points)', 'grad cosine before / after', 'compression s'],
    [...groups(rows, (r) => r.offsite.method)].map(([method, rs]) => {
      const o = rs.map((r) => r.offsite);
      const mean = (f: (x: OffsiteSummary) => number): number => meanStd(o.map(f)).mean;
      return [method, String(rs.length), pctSpread(o.map((x) => x.fullZeroShot)), pctSpread(o.map((x) => x.emulatorZeroShot)),
        pctSpread(o.map((x) => x.emulatorFinetuned)), pctSpread(o.map((x) => x.plugIn)), pctSpread(o.map((x) => x.fullFinetuned ?? Number.NaN)),
        pctSpread(o.map((x) => x.gap)), `${mean((x) => x.meanCosineBefore).toFixed(3)} / ${mean((x) => x.meanCosineAfter).toFixed(3)}`,
        mean((x) => x.compressionSeconds).toFixed(1)];
    }));
}
