// Tiny random checkpoints written by the project's safetensors writer, for architectures without a fixture.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { StoredDtype } from '../../../src/engine/models/dtype';
import { parseModelConfig } from '../../../src/engine/models/config';
import type { LoadedModel } from '../../../src/engine/models/model';
import { writeSafetensors } from '../../../src/engine/models/safetensorsWriter';
import type { batchRows } from './compare';
import { referenceLogits } from './reference64';
import { expectedWeights } from '../../../src/engine/models/weights';

/** mulberry32: a small deterministic PRNG so generated weights are the same on every run. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Writes config.json and model.safetensors with random weights (norm weights near 1, others ~U(-scale, scale))
 * for every weight the config requires. Returns the folder.
 */
export function writeTinyModel(config: Record<string, unknown>, options: { dtype?: StoredDtype; seed?: number; scale?: number; dir?: string } = {}): string {
  const dir = options.dir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'peft-tiny-'));
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(config, null, 2));
  const parsed = parseModelConfig(config);
  const random = rng(options.seed ?? 1);
  const scale = options.scale ?? 0.3;
  writeSafetensors(path.join(dir, 'model.safetensors'), expectedWeights(parsed).map((spec) => {
    const n = spec.shape.reduce((a, d) => a * d, 1);
    const isNorm = /norm|ln_/.test(spec.name) && spec.name.endsWith('.weight');
    const data = Array.from({ length: n }, () => (isNorm ? 1 : 0) + (random() * 2 - 1) * scale);
    return { name: spec.name, dtype: options.dtype ?? 'F32', shape: spec.shape, data };
  }), { format: 'pt' });
  return dir;
}

export const TINY_CONFIGS = {
  opt: {
    model_type: 'opt', vocab_size: 50, hidden_size: 16, num_hidden_layers: 2, num_attention_heads: 4, ffn_dim: 40,
    max_position_embeddings: 32, word_embed_proj_dim: 16, do_layer_norm_before: true, pad_token_id: 1, bos_token_id: 2, eos_token_id: 2,
  },
  optPostLn: {
    model_type: 'opt', vocab_size: 50, hidden_size: 16, num_hidden_layers: 2, num_attention_heads: 2, ffn_dim: 24,
    max_position_embeddings: 32, do_layer_norm_before: false, pad_token_id: 1,
  },
  qwen2: {
    model_type: 'qwen2', vocab_size: 60, hidden_size: 32, intermediate_size: 48, num_hidden_layers: 2, num_attention_heads: 4,
    num_key_value_heads: 2, rope_theta: 1000000, rms_norm_eps: 1e-6, tie_word_embeddings: true, max_position_embeddings: 64,
  },
  llamaBias: {
    model_type: 'llama', vocab_size: 40, hidden_size: 24, intermediate_size: 32, num_hidden_layers: 2, num_attention_heads: 3,
    num_key_value_heads: 1, rope_theta: 500000, rms_norm_eps: 1e-5, attention_bias: true, mlp_bias: true, tie_word_embeddings: false,
  },
  llama3Rope: {
    model_type: 'llama', vocab_size: 40, hidden_size: 32, intermediate_size: 32, num_hidden_layers: 1, num_attention_heads: 2,
    num_key_value_heads: 2, rope_theta: 500000, tie_word_embeddings: true,
    rope_scaling: { rope_type: 'llama3', factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 64 },
  },
  gpt2Untied: {
    model_type: 'gpt2', vocab_size: 30, n_embd: 16, n_layer: 2, n_head: 2, n_positions: 32, tie_word_embeddings: false,
  },
} as const;

/** The float64 reference on a loaded model's checkpoint; `replace` overrides weights by name. */
export function reference(model: LoadedModel, rows: ReturnType<typeof batchRows>, replace?: Map<string, Float64Array>): Float64Array[][] {
  const cache = new Map<string, Float64Array>(replace);
  const get = (n: string) => {
    let w = cache.get(n);
    if (w === undefined) cache.set(n, (w = model.checkpoint.readFloat64(n)));
    return w;
  };
  return referenceLogits(model.config, get, (n) => model.checkpoint.has(n), rows);
}
