// Plain-text table output for the benchmark.

export interface BenchRow {
  section: string;
  metric: string;
  value: string;
  note?: string;
}

export function formatTable(rows: readonly BenchRow[]): string {
  const header: BenchRow = { section: 'section', metric: 'metric', value: 'value', note: 'note' };
  const all = [header, ...rows];
  const w = (get: (r: BenchRow) => string) => Math.max(...all.map((r) => get(r).length));
  const ws = [w((r) => r.section), w((r) => r.metric), w((r) => r.value)];
  const line = (r: BenchRow) =>
    `${r.section.padEnd(ws[0] ?? 0)}  ${r.metric.padEnd(ws[1] ?? 0)}  ${r.value.padStart(ws[2] ?? 0)}  ${r.note ?? ''}`.trimEnd();
  const rule = '-'.repeat(Math.max(...all.map((r) => line(r).length)));
  return [line(header), rule, ...rows.map(line)].join('\n');
}

export function fmt(x: number, digits = 1): string {
  return Number.isFinite(x) ? x.toFixed(digits) : 'n/a';
}

/** Best (minimum) wall time in ms of `repeats` calls after `warmup` calls. */
export async function bestOf(repeats: number, warmup: number, fn: () => Promise<unknown>): Promise<{ best: number; all: number[] }> {
  for (let i = 0; i < warmup; i++) await fn();
  const all: number[] = [];
  for (let i = 0; i < repeats; i++) {
    const t0 = performance.now();
    await fn();
    all.push(performance.now() - t0);
  }
  return { best: Math.min(...all), all };
}

/**
 * Times several functions round-robin (a, b, c, a, b, c, ...) after one warm-up call each, so that load from
 * other processes on a shared machine hits all of them alike; returns each one's best and all times (ms).
 */
export async function bestOfInterleaved(repeats: number, fns: readonly (() => Promise<unknown>)[]): Promise<{ best: number; all: number[] }[]> {
  for (const fn of fns) await fn();
  const all: number[][] = fns.map(() => []);
  for (let i = 0; i < repeats; i++) {
    for (const [k, fn] of fns.entries()) {
      const t0 = performance.now();
      await fn();
      all[k]?.push(performance.now() - t0);
    }
  }
  return all.map((times) => ({ best: Math.min(...times), all: times }));
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[mid] ?? NaN) : ((s[mid - 1] ?? NaN) + (s[mid] ?? NaN)) / 2;
}
