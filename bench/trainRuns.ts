// Whole training runs through runTune on the GPT-2-small shape (a random checkpoint; batch 4 x 128 tokens,
// LoRA r = 8 on c_attn), each in its own process (bench/istCompare.ts) so peak RSS is per run:
//  - train: uniform LoRA, tokens/s of whole trainer steps (data pipeline, forward+backward, clipping, AdamW) and
//    peak RSS;
//  - ist: the four layer selections on the same config and seed, with ratios to uniform measured in the same run.
import { runStrategyProcess, STRATEGIES } from './istCompare';
import { fmt, type BenchRow } from './report';

const num = (r: Record<string, unknown>, key: string): number => (typeof r[key] === 'number' ? r[key] : Number.NaN);

function memoryOf(r: Record<string, unknown>): { rss: number; optimizer: number } {
  const m = r.memory;
  if (typeof m !== 'object' || m === null) return { rss: Number.NaN, optimizer: Number.NaN };
  const get = (k: string): number => {
    const v: unknown = Reflect.get(m, k);
    return typeof v === 'number' ? v : Number.NaN;
  };
  return { rss: get('peakRssBytes'), optimizer: get('optimizerStateBytes') };
}

const MiB = 1024 * 1024;

export function trainSection(steps: number, rows: BenchRow[]): Record<string, unknown> {
  const r = runStrategyProcess('gpt2-small', steps, 'uniform');
  const mem = memoryOf(r);
  rows.push(
    { section: 'train', metric: 'config', value: '12L d768 h12', note: `runTune, ${steps} steps, batch 4 x 128 tokens, LoRA r=8 on c_attn, AdamW, random weights` },
    { section: 'train', metric: 'tokens/s (whole trainer step)', value: fmt(num(r, 'tokensPerSecond'), 0), note: 'data pipeline + forward/backward + clipping + optimizer; steps after the first' },
    { section: 'train', metric: 'ms/step (median)', value: `${fmt(num(r, 'msPerStepMedian'))} ms` },
    { section: 'train', metric: 'peak RSS', value: `${fmt(mem.rss / MiB, 0)} MiB`, note: 'the run process, ru_maxrss' },
  );
  return r;
}

export function istSection(steps: number, rows: BenchRow[], uniform?: Record<string, unknown>): void {
  const results = new Map<string, Record<string, unknown>>();
  for (const s of STRATEGIES) results.set(s, s === 'uniform' && uniform !== undefined ? uniform : runStrategyProcess('gpt2-small', steps, s));
  const base = results.get('uniform') ?? {};
  const baseMs = num(base, 'msPerStepMedian');
  const baseOpt = memoryOf(base).optimizer;
  for (const [s, r] of results) {
    const mem = memoryOf(r);
    rows.push({
      section: 'ist', metric: `${s}: ms/step (median)`, value: `${fmt(num(r, 'msPerStepMedian'))} ms`,
      note: `${fmt(num(r, 'msPerStepMedian') / baseMs, 2)}x uniform; final loss ${fmt(num(r, 'finalLoss'), 4)}; eval ppl ${fmt(num(r, 'evalPerplexity'))}; optimizer state ${fmt(mem.optimizer / 1024, 0)} KiB (${fmt(mem.optimizer / baseOpt, 2)}x); peak RSS ${fmt(mem.rss / MiB, 0)} MiB; distinct lowest selected layers ${fmt(num(r, 'trainSessions'), 0)}`,
    });
  }
}
