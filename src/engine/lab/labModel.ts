// The built-in lab's model: a small LLaMA-architecture causal LM (RMSNorm, RoPE, SwiGLU; transformers'
// LlamaForCausalLM config keys), its random initialisation before pretraining, and where the pretrained
// checkpoint `builtin:demo` lives in the package.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { pretrainRecordSchema, type PretrainRecord } from '../../protocol/labFiles';
import { formatZodError } from '../../protocol/runFiles';
import { parseModelConfig } from '../models/config';
import { writeSafetensors } from '../models/safetensorsWriter';
import { expectedWeights } from '../models/weights';
import { Rng } from '../util/random';
import type { World } from './world';

/** The record beside the weights (protocol/labFiles.ts). */
export const PRETRAINING_RECORD = 'pretraining.json';

/** Architecture of the lab model; vocab_size comes from the lab tokenizer. Eight layers leave a real middle for 2 + 2 offsite adapters. */
export function labModelConfig(vocabSize: number): Record<string, unknown> {
  return {
    architectures: ['LlamaForCausalLM'], model_type: 'llama',
    vocab_size: vocabSize, hidden_size: 128, intermediate_size: 384, num_hidden_layers: 8,
    num_attention_heads: 4, num_key_value_heads: 4, max_position_embeddings: 256,
    rms_norm_eps: 1e-6, rope_theta: 10000, hidden_act: 'silu', tie_word_embeddings: false,
    bos_token_id: 1, eos_token_id: 2, pad_token_id: 0, initializer_range: 0.02, torch_dtype: 'float32',
  };
}

/**
 * Writes config.json and a randomly initialised model.safetensors into `dir`, as transformers'
 * LlamaPreTrainedModel._init_weights does: every matrix ~ N(0, initializer_range^2), RMSNorm weights 1.
 */
export function writeInitialModel(dir: string, config: Record<string, unknown>, seed: number): void {
  fs.mkdirSync(dir, { recursive: true });
  const parsed = parseModelConfig(config);
  const std = typeof config.initializer_range === 'number' ? config.initializer_range : 0.02;
  const rng = new Rng(seed);
  const tensors = expectedWeights(parsed).map((spec) => {
    const n = spec.shape.reduce((a, d) => a * d, 1);
    const isNorm = spec.shape.length === 1;
    const data = Float32Array.from({ length: n }, () => (isNorm ? 1 : rng.normal() * std));
    return { name: spec.name, dtype: 'F32' as const, shape: spec.shape, data };
  });
  writeSafetensors(path.join(dir, 'model.safetensors'), tensors, { format: 'pt' });
  fs.writeFileSync(path.join(dir, 'config.json'), `${JSON.stringify(config, null, 2)}\n`);
}

/** A stable fingerprint of the world (the committed checkpoint was trained on exactly this one). */
export function worldSha256(world: World): string {
  return createHash('sha256').update(JSON.stringify(world)).digest('hex');
}

/** Reads and validates `pretraining.json` of a lab model folder. */
export function readBuiltinRecord(modelDir: string): PretrainRecord {
  const file = path.join(modelDir, PRETRAINING_RECORD);
  let json: unknown;
  try {
    json = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new Error(`${file}: cannot read the lab model's record: ${e instanceof Error ? e.message : String(e)}`);
  }
  const parsed = pretrainRecordSchema.safeParse(json);
  if (!parsed.success) throw new Error(`${file}: ${formatZodError(parsed.error)}`);
  return parsed.data;
}
