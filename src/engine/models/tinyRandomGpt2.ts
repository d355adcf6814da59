// A tiny random GPT-2-style model written with the project's safetensors writer (deterministic from a seed), a
// synthetic learnable token data set (a fixed cycle of ids) and a short LoRA tune config over them: fast fixtures
// for the tests and benches (the user-facing demo is the lab's pretrained builtin:demo, src/engine/lab).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseModelConfig } from './config';
import { writeSafetensors } from './safetensorsWriter';
import { expectedWeights } from './weights';
import { Rng } from '../util/random';

export const TINY_GPT2_NAME = 'demo-model-v1';

/** GPT-2 layout, small enough to train in seconds on a CPU. */
export const TINY_GPT2_CONFIG = {
  architectures: ['GPT2LMHeadModel'], model_type: 'gpt2', vocab_size: 64, n_positions: 64, n_embd: 32, n_layer: 2, n_head: 4,
  activation_function: 'gelu_new', layer_norm_epsilon: 1e-5, bos_token_id: 0, eos_token_id: 0, tie_word_embeddings: true,
  torch_dtype: 'float32',
} as const;

/** $PEFT_LAB_CACHE, else $XDG_CACHE_HOME/peft-lab, else ~/.cache/peft-lab. */
export function peftLabCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.PEFT_LAB_CACHE !== undefined && env.PEFT_LAB_CACHE.length > 0) return env.PEFT_LAB_CACHE;
  const base = env.XDG_CACHE_HOME !== undefined && env.XDG_CACHE_HOME.length > 0 ? env.XDG_CACHE_HOME : path.join(os.homedir(), '.cache');
  return path.join(base, 'peft-lab');
}

/**
 * Writes (once) the demo model into `dir`: token embeddings ~ N(0, 0.3^2) so that the tied LM head can express
 * sharp next-token distributions after the final LayerNorm, other matrices ~ N(0, 0.02^2) as GPT-2's
 * initializer_range, LayerNorm weights 1 and biases 0. Deterministic for a seed.
 */
export function writeTinyRandomGpt2(dir: string, seed = 0): string {
  const weightsFile = path.join(dir, 'model.safetensors');
  if (fs.existsSync(weightsFile) && fs.existsSync(path.join(dir, 'config.json'))) return dir;
  fs.mkdirSync(dir, { recursive: true });
  const config = parseModelConfig({ ...TINY_GPT2_CONFIG });
  const rng = new Rng(seed);
  const tensors = expectedWeights(config).map((spec) => {
    const n = spec.shape.reduce((a, d) => a * d, 1);
    const isLnWeight = /ln_\d|ln_f/.test(spec.name) && spec.name.endsWith('.weight');
    const isBias = spec.name.endsWith('.bias');
    const std = spec.name === 'transformer.wte.weight' ? 0.3 : spec.name === 'transformer.wpe.weight' ? 0.1 : 0.02;
    const data = Float32Array.from({ length: n }, () => (isLnWeight ? 1 : isBias ? 0 : rng.normal() * std));
    return { name: spec.name, dtype: 'F32' as const, shape: spec.shape, data };
  });
  // The config is written last: a folder with config.json is complete (checked above).
  writeSafetensors(weightsFile, tensors, { format: 'pt' });
  fs.writeFileSync(path.join(dir, 'config.json'), `${JSON.stringify(TINY_GPT2_CONFIG, null, 2)}\n`);
  return dir;
}

/**
 * A learnable synthetic set: each row walks a fixed cycle of `cycleLength` token ids (a seeded permutation of
 * 1..vocab-1) from a seeded start, so the next token is a function of the current one.
 */
export function writeCycleTokens(file: string, options: { count: number; length: number; seed: number; cycleLength?: number; vocab?: number }): void {
  const vocab = options.vocab ?? TINY_GPT2_CONFIG.vocab_size;
  const cycleRng = new Rng(1000 + (options.cycleLength ?? 16));
  const cycle = cycleRng.shuffle(Array.from({ length: vocab - 1 }, (_, i) => i + 1)).slice(0, options.cycleLength ?? 16);
  const rng = new Rng(options.seed);
  const lines: string[] = [];
  for (let i = 0; i < options.count; i++) {
    const start = rng.uniformInt(cycle.length);
    lines.push(JSON.stringify({ input_ids: Array.from({ length: options.length }, (_, t) => cycle[(start + t) % cycle.length]) }));
  }
  fs.writeFileSync(file, `${lines.join('\n')}\n`);
}

/** The demo's tune config (written to `dir/demo.peft.json` by the CLI), data beside it. */
export function writeCycleTokensExperiment(dir: string, modelDir: string): Record<string, unknown> {
  writeCycleTokens(path.join(dir, 'demo-train.jsonl'), { count: 64, length: 16, seed: 1 });
  writeCycleTokens(path.join(dir, 'demo-eval.jsonl'), { count: 16, length: 16, seed: 2 });
  return {
    name: 'demo', task: 'tune', model: modelDir,
    data: { train: 'demo-train.jsonl', eval: 'demo-eval.jsonl', format: 'tokens', maxLength: 16 },
    peft: { method: 'lora', r: 8, alpha: 16, dropout: 0.05, targets: ['c_attn', 'c_proj', 'c_fc'] },
    train: { steps: 60, batchSize: 8, optimizer: 'adamw', lr: 0.01, warmupSteps: 5, decay: 'cosine', seed: 0, evalEvery: 20, checkpointEvery: 20 },
    runtime: { device: 'auto', threads: 0 },
  };
}
