// One-off comparison of the four layer selections (uniform, ist, random, lisa) on the same tune config and seed:
// final train loss, eval perplexity, ms/step, optimizer-state bytes, train sessions built, peak RSS.
// Each run is a separate process (peak RSS per run).
//   npx tsx bench/istCompare.ts demo [steps]            the demo model and data (2 layers)
//   npx tsx bench/istCompare.ts gpt2-small [steps]      GPT-2-small-shaped random model, batch 4 x 128 tokens
//   npx tsx bench/istCompare.ts fixture [steps]         ../shared/fixtures tiny-random-gpt2 (5 layers), a learnable
//                                                       token pattern (ids < 1000), LoRA on c_attn + c_fc
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadExperimentConfig } from '../src/engine/config';
import { parseModelConfig, readModelConfig } from '../src/engine/models/config';
import { writeSafetensors } from '../src/engine/models/safetensorsWriter';
import { expectedWeights } from '../src/engine/models/weights';
import { runTune } from '../src/engine/tasks';
import { peftLabCacheDir, writeCycleTokensExperiment, writeTinyRandomGpt2 } from '../src/engine/models/tinyRandomGpt2';
import type { MetricRecord } from '../src/protocol/runFiles';
import { WORKER_NODE_FLAGS } from '../src/engine/runtime/garbage';
import { Rng } from '../src/engine/util/random';

const STRATEGIES = ['uniform', 'ist', 'random', 'lisa'] as const;
/** Uniform LoRA through the monolithic train graph (runtime.execution 'graph'): the path before layer-granular execution. */
export const GRAPH_BASELINE = 'uniform-graph';
/** IST with runtime.recompute 'pass-through': the layers a step passes through keep only their input. */
export const IST_RECOMPUTE = 'ist-recompute';

const GPT2_SMALL = {
  architectures: ['GPT2LMHeadModel'], model_type: 'gpt2', vocab_size: 50257, n_positions: 1024, n_embd: 768, n_layer: 12, n_head: 12,
  activation_function: 'gelu_new', layer_norm_epsilon: 1e-5, bos_token_id: 50256, eos_token_id: 50256, tie_word_embeddings: true, torch_dtype: 'float32',
};

/** The GPT-2-small-shaped random checkpoint (written once into the temp folder). */
export function gpt2SmallDir(): string {
  return writeGpt2Small(path.join(os.tmpdir(), 'peft-ist-gpt2-small'));
}

function writeGpt2Small(dir: string): string {
  if (fs.existsSync(path.join(dir, 'config.json'))) return dir;
  fs.mkdirSync(dir, { recursive: true });
  const rng = new Rng(0);
  const tensors = expectedWeights(parseModelConfig(GPT2_SMALL)).map((spec) => {
    const n = spec.shape.reduce((a, d) => a * d, 1);
    const isLnWeight = /ln_\d|ln_f/.test(spec.name) && spec.name.endsWith('.weight');
    const data = Float32Array.from({ length: n }, () => (isLnWeight ? 1 : spec.name.endsWith('.bias') ? 0 : rng.normal() * 0.02));
    return { name: spec.name, dtype: 'F32' as const, shape: spec.shape, data };
  });
  writeSafetensors(path.join(dir, 'model.safetensors'), tensors, { format: 'pt' });
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(GPT2_SMALL));
  return dir;
}

function writeConfig(kind: string, dir: string, strategy: string, steps: number): string {
  let config: Record<string, unknown>;
  if (kind === 'demo') {
    config = { ...writeCycleTokensExperiment(dir, writeTinyRandomGpt2(path.join(peftLabCacheDir(), 'demo-model-v1'))), train: {
      steps, batchSize: 8, optimizer: 'adamw', lr: 0.01, warmupSteps: 5, decay: 'cosine', seed: 0, evalEvery: 0, checkpointEvery: 0,
    } };
  } else if (kind === 'fixture') {
    // Each row counts up from a random start with stride 7 (mod 997): learnable, unlike random tokens.
    const rng = new Rng(1);
    const rows = Array.from({ length: 96 }, () => {
      const s0 = rng.uniformInt(997);
      return JSON.stringify({ input_ids: Array.from({ length: 32 }, (_, j) => (s0 + 7 * j) % 997) });
    });
    fs.writeFileSync(path.join(dir, 'train.jsonl'), `${rows.slice(0, 80).join('\n')}\n`);
    fs.writeFileSync(path.join(dir, 'eval.jsonl'), `${rows.slice(80).join('\n')}\n`);
    config = {
      name: 'fixture', task: 'tune', model: path.resolve(__dirname, '..', '..', 'shared', 'fixtures', 'models', 'tiny-random-gpt2'),
      data: { train: 'train.jsonl', eval: 'eval.jsonl', format: 'tokens', maxLength: 32 },
      peft: { r: 8, alpha: 16, dropout: 0, targets: ['c_attn', 'c_fc'] },
      train: { steps, batchSize: 8, lr: 0.01, warmupSteps: 0, seed: 0, evalEvery: 0, checkpointEvery: 0, evalBatchSize: 8 },
      runtime: { device: 'cpu', threads: 1 },
    };
  } else {
    const rng = new Rng(1);
    const rows = Array.from({ length: 64 }, () => JSON.stringify({ input_ids: Array.from({ length: 128 }, () => rng.uniformInt(50257)) }));
    fs.writeFileSync(path.join(dir, 'train.jsonl'), `${rows.join('\n')}\n`);
    fs.writeFileSync(path.join(dir, 'eval.jsonl'), `${rows.slice(0, 4).join('\n')}\n`);
    config = {
      name: 'gpt2-small', task: 'tune', model: writeGpt2Small(path.join(os.tmpdir(), 'peft-ist-gpt2-small')),
      data: { train: 'train.jsonl', eval: 'eval.jsonl', format: 'tokens', maxLength: 128 },
      peft: { r: 8, alpha: 16, dropout: 0, targets: ['c_attn'] },
      train: { steps, batchSize: 4, lr: 2e-4, warmupSteps: 0, seed: 0, evalEvery: 0, checkpointEvery: 0, evalBatchSize: 4 },
      runtime: { device: 'cpu', threads: 0 },
    };
  }
  const file = path.join(dir, `${strategy}.peft.json`);
  const graph = strategy === GRAPH_BASELINE;
  const recompute = strategy === IST_RECOMPUTE;
  const runtime = { ...(config.runtime as Record<string, unknown> | undefined), ...(graph ? { execution: 'graph' } : {}), ...(recompute ? { recompute: 'pass-through' } : {}) };
  fs.writeFileSync(file, JSON.stringify({
    ...config, runtime, name: strategy, layerSelection: graph ? 'uniform' : recompute ? 'ist' : strategy, ist: kind === 'gpt2-small' ? { interval: 5, scoreBatch: 4 } : {},
  }, null, 2));
  return file;
}

async function one(kind: string, strategy: string, steps: number): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `peft-ist-${strategy}-`));
  try {
    const config = loadExperimentConfig(writeConfig(kind, dir, strategy, steps));
    if (config.task !== 'tune') throw new Error('not a tune config');
    const metrics: MetricRecord[] = [];
    const summary = await runTune(config, {
      runDir: path.join(dir, 'run'), progress: () => undefined, log: () => undefined, throwIfCancelled: () => undefined,
      emitMetric: (r) => void metrics.push(r), artifact: () => undefined, onCancel: () => () => undefined,
    });
    const stepRecords = metrics.filter((m) => m.type === 'step');
    const stepMs = stepRecords.map((m) => Number(m.ms)).sort((a, b) => a - b);
    // Tokens per second of whole trainer steps (batching, forward+backward, clipping, optimizer), after the
    // first step (which includes session creation).
    const timed = stepRecords.slice(1);
    const tokensPerSecond = timed.reduce((a, m) => a + Number(m.tokens), 0) / (timed.reduce((a, m) => a + Number(m.ms), 0) / 1000);
    const lowest = stepRecords.map((m) => Math.min(...(Array.isArray(m.layers) ? m.layers.map(Number) : [0])));
    const fromLayers = new Set(lowest);
    const layerCount = readModelConfig(config.model).numLayers;
    // The backward runs from the top layer down to the lowest selected one.
    const meanBackwardDepth = lowest.reduce((a, l) => a + layerCount - l, 0) / Math.max(lowest.length, 1);
    process.stdout.write(`${JSON.stringify({
      strategy, finalLoss: summary.metrics?.finalLoss, evalPerplexity: summary.metrics?.evalPerplexity,
      msPerStepMean: summary.metrics?.msPerStep, msPerStepMedian: stepMs[Math.floor(stepMs.length / 2)], tokensPerSecond,
      trainSessions: fromLayers.size, meanBackwardDepth, layerCount, memory: summary.memory, importanceRounds: metrics.filter((m) => m.type === 'importance').length,
    })}\n`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Runs one strategy in a child process (so its peak RSS is its own) and returns its JSON line. */
export function runStrategyProcess(kind: string, steps: number, strategy: string): Record<string, unknown> {
  if (kind === 'gpt2-small') writeGpt2Small(path.join(os.tmpdir(), 'peft-ist-gpt2-small'));
  const line = execFileSync(process.execPath, [...WORKER_NODE_FLAGS, '--import', 'tsx', __filename, kind, String(steps), strategy], { encoding: 'utf8', env: { ...process.env, ORT_DISABLE_TELEMETRY: '1' } });
  const parsed: unknown = JSON.parse(line.trim().split('\n').pop() ?? '{}');
  if (typeof parsed !== 'object' || parsed === null) throw new Error(`${strategy}: no result line`);
  return Object.fromEntries(Object.entries(parsed));
}

export { STRATEGIES };

if (require.main === module) {
  const [kind = 'demo', stepsArg, only] = process.argv.slice(2);
  const steps = Number(stepsArg ?? (kind === 'gpt2-small' ? 10 : 60));
  if (only !== undefined) {
    void one(kind, only, steps);
  } else {
    for (const s of STRATEGIES) process.stdout.write(`${JSON.stringify(runStrategyProcess(kind, steps, s))}\n`);
  }
}
