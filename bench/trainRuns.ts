// Whole training runs through runTune on the GPT-2-small shape (a random checkpoint; batch 4 x 128 tokens,
// LoRA r = 8 on c_attn), each in its own process (bench/istCompare.ts) so peak RSS is per run:
//  - train: uniform LoRA, tokens/s of whole trainer steps (data pipeline, forward+backward, clipping, AdamW) and
//    peak RSS;
//  - ist: the four layer selections on the same config and seed, and IST with runtime.recompute 'pass-through',
//    with ratios to uniform measured in the same run.
import { loadModel } from '../src/engine/models/model';
import { expectedWeights } from '../src/engine/models/weights';
import { LoraAdapter } from '../src/engine/peft/lora';
import { buildTrainBlock, executionLayers, headChunkRows } from '../src/engine/train/blocks';
import { buildPeftGraph } from '../src/engine/train/peftGraph';
import { Rng } from '../src/engine/util/random';
import { GRAPH_BASELINE, gpt2SmallDir, IST_RECOMPUTE, runStrategyProcess, STRATEGIES } from './istCompare';
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

/**
 * The physical floor of a uniform LoRA step on the bench shape: the frozen weights (once) plus the activations
 * the backward keeps (every layer's saved tensors, from the block graphs themselves) plus the logits and their
 * gradient of one head chunk [rows, vocab] (the head runs in row chunks: headChunkRows).
 */
function physicalFloor(): { weights: number; activations: number } {
  const model = loadModel(gpt2SmallDir());
  try {
    const lora = new LoraAdapter({ r: 8, alpha: 16, dropout: 0, targets: ['c_attn'] }, new Rng(0));
    buildPeftGraph(model, lora, { kind: 'score', batch: 1, seq: 1 });
    const s = { batch: 4, seq: 128, dtype: 'float32' as const };
    const parts = buildTrainBlock(model, lora, 0, s);
    const perLayer = parts.forward.outputs.filter((t) => t.name !== 'hidden_out').reduce((a, t) => a + t.size * 4, 0) + s.batch * s.seq * model.config.hiddenSize * 4;
    const weights = expectedWeights(model.config).reduce((a, w) => a + w.shape.reduce((p, d) => p * d, 1) * 4, 0);
    return { weights, activations: perLayer * executionLayers(model).length + 2 * headChunkRows(model, s.batch * s.seq) * model.config.vocabSize * 4 };
  } finally {
    model.close();
  }
}

export function trainSection(steps: number, rows: BenchRow[]): Record<string, unknown> {
  const graph = runStrategyProcess('gpt2-small', steps, GRAPH_BASELINE);
  const r = runStrategyProcess('gpt2-small', steps, 'uniform');
  const mem = memoryOf(r);
  const floor = physicalFloor();
  const floorBytes = floor.weights + floor.activations;
  rows.push(
    { section: 'train', metric: 'config', value: '12L d768 h12', note: `runTune, ${steps} steps, batch 4 x 128 tokens, LoRA r=8 on c_attn, AdamW, random weights` },
    { section: 'train', metric: 'tokens/s (whole trainer step)', value: fmt(num(r, 'tokensPerSecond'), 0), note: 'data pipeline + forward/backward + clipping + optimizer; steps after the first' },
    { section: 'train', metric: 'ms/step (median)', value: `${fmt(num(r, 'msPerStepMedian'))} ms` },
    { section: 'train', metric: 'peak RSS', value: `${fmt(mem.rss / MiB, 0)} MiB`, note: 'the run process, ru_maxrss' },
    { section: 'train', metric: 'physical floor', value: `${fmt(floorBytes / MiB, 0)} MiB`, note: `weights ${fmt(floor.weights / MiB, 0)} MiB + kept activations and logits ${fmt(floor.activations / MiB, 0)} MiB; peak RSS / floor ${fmt(mem.rss / floorBytes, 2)}` },
    { section: 'train', metric: 'uniform, monolithic graph (before)', value: `${fmt(num(graph, 'msPerStepMedian'))} ms`, note: `runtime.execution graph; layer-granular / graph ${fmt(num(r, 'msPerStepMedian') / num(graph, 'msPerStepMedian'), 2)}x; peak RSS ${fmt(memoryOf(graph).rss / MiB, 0)} MiB` },
  );
  return r;
}

export function istSection(steps: number, rows: BenchRow[], uniform?: Record<string, unknown>): void {
  const results = new Map<string, Record<string, unknown>>();
  for (const s of [...STRATEGIES, IST_RECOMPUTE]) results.set(s, s === 'uniform' && uniform !== undefined ? uniform : runStrategyProcess('gpt2-small', steps, s));
  const base = results.get('uniform') ?? {};
  const baseMs = num(base, 'msPerStepMedian');
  const baseOpt = memoryOf(base).optimizer;
  for (const [s, r] of results) {
    const mem = memoryOf(r);
    rows.push({
      section: 'ist', metric: `${s}: ms/step (median)`, value: `${fmt(num(r, 'msPerStepMedian'))} ms`,
      note: `${fmt(num(r, 'msPerStepMedian') / baseMs, 2)}x uniform; final loss ${fmt(num(r, 'finalLoss'), 4)}; eval ppl ${fmt(num(r, 'evalPerplexity'))}; optimizer state ${fmt(mem.optimizer / 1024, 0)} KiB (${fmt(mem.optimizer / baseOpt, 2)}x); peak RSS ${fmt(mem.rss / MiB, 0)} MiB; mean backward depth ${fmt(num(r, 'meanBackwardDepth'), 1)} of ${fmt(num(r, 'layerCount'), 0)} layers`,
    });
  }
}
