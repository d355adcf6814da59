// Typed architecture configs parsed from a Hugging Face `config.json`. Defaults follow the transformers
// configuration classes (GPT2Config, LlamaConfig, MistralConfig, Qwen2Config, OPTConfig).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { EMULATOR_CONFIG_KEY, parseEmulatorLayout, type EmulatorLayout } from './emulatorLayout';
import type { Llama3RopeScaling } from './rope';
import { isRecord } from './safetensors';

export const SUPPORTED_MODEL_TYPES = ['gpt2', 'llama', 'mistral', 'qwen2', 'opt'] as const;
export type SupportedModelType = (typeof SUPPORTED_MODEL_TYPES)[number];

interface CommonConfig {
  /** config.json "architectures" (e.g. LlamaForCausalLM), empty when absent. */
  readonly architectures: readonly string[];
  readonly vocabSize: number;
  readonly hiddenSize: number;
  readonly numLayers: number;
  readonly numHeads: number;
  readonly headDim: number;
  readonly maxPositions: number;
  readonly tieWordEmbeddings: boolean;
  readonly bosTokenId?: number;
  readonly eosTokenIds: readonly number[];
  readonly padTokenId?: number;
  readonly torchDtype?: string;
  /** Present in offsite-tuning emulators (config.json `peft_lab_emulator`): stored layers, order, compressed modules. */
  readonly emulator?: EmulatorLayout;
}

export interface Gpt2Config extends CommonConfig {
  readonly family: 'gpt2';
  readonly modelType: 'gpt2';
  readonly innerSize: number;
  readonly layerNormEps: number;
}

export interface LlamaConfig extends CommonConfig {
  readonly family: 'llama';
  readonly modelType: 'llama' | 'mistral' | 'qwen2';
  readonly intermediateSize: number;
  readonly numKvHeads: number;
  readonly rmsNormEps: number;
  readonly ropeTheta: number;
  /** rope_scaling of Llama 3.1+ checkpoints (other scaling types are refused). */
  readonly ropeScaling?: Llama3RopeScaling;
  /** q/k/v projections have biases (Qwen2 always; LLaMA with attention_bias). */
  readonly qkvBias: boolean;
  /** o_proj has a bias (LLaMA attention_bias; never Qwen2). */
  readonly oBias: boolean;
  /** gate/up/down have biases (LLaMA mlp_bias). */
  readonly mlpBias: boolean;
  /** Mistral / Qwen2 sliding-window attention span, when enabled; longer sequences are refused (not implemented). */
  readonly slidingWindow?: number;
}

export interface OptConfig extends CommonConfig {
  readonly family: 'opt';
  readonly modelType: 'opt';
  readonly ffnDim: number;
  /** Pre-LN (true for every OPT size except 350m). */
  readonly doLayerNormBefore: boolean;
  readonly enableBias: boolean;
  readonly layerNormAffine: boolean;
  /** OPTLearnedPositionalEmbedding stores max_position_embeddings + 2 rows; position p uses row p + 2. */
  readonly positionOffset: 2;
}

export type ModelConfig = Gpt2Config | LlamaConfig | OptConfig;

export class ConfigError extends Error {
  constructor(readonly file: string, readonly key: string | undefined, detail: string) {
    super(`${file}${key === undefined ? '' : ` (key "${key}")`}: ${detail}`);
    this.name = 'ConfigError';
  }
}

export function readModelConfig(modelDir: string): ModelConfig {
  const file = path.join(modelDir, 'config.json');
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError(file, undefined, `cannot read: ${e instanceof Error ? e.message : String(e)}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new ConfigError(file, undefined, `not valid JSON: ${e instanceof Error ? e.message : String(e)}`);
  }
  return parseModelConfig(json, file);
}

export function parseModelConfig(json: unknown, file = 'config.json'): ModelConfig {
  if (!isRecord(json)) throw new ConfigError(file, undefined, 'not a JSON object');
  const r = new Reader(json, file);
  const modelType = r.str('model_type');
  switch (modelType) {
    case 'gpt2': return parseGpt2(r);
    case 'llama': case 'mistral': case 'qwen2': return parseLlama(r, modelType);
    case 'opt': return parseOpt(r);
    default:
      throw new ConfigError(file, 'model_type',
        `model_type "${modelType}" is not supported; supported: ${SUPPORTED_MODEL_TYPES.join(', ')}`);
  }
}

function parseGpt2(r: Reader): Gpt2Config {
  const hiddenSize = r.int('n_embd', 768);
  const numHeads = r.int('n_head', 12);
  const numLayers = r.int('n_layer', 12);
  const act = r.str('activation_function', 'gelu_new');
  if (act !== 'gelu_new') r.fail('activation_function', `"${act}" is not supported for gpt2 (supported: gelu_new)`);
  if (r.has('scale_attn_by_inverse_layer_idx') && r.bool('scale_attn_by_inverse_layer_idx', false)) {
    r.fail('scale_attn_by_inverse_layer_idx', 'true is not supported');
  }
  return {
    family: 'gpt2', modelType: 'gpt2',
    vocabSize: r.int('vocab_size', 50257), hiddenSize, numLayers, numHeads,
    headDim: r.divide(hiddenSize, numHeads, 'n_embd', 'n_head'),
    maxPositions: r.int('n_positions', 1024),
    innerSize: r.intOrNull('n_inner') ?? 4 * hiddenSize,
    layerNormEps: r.num('layer_norm_epsilon', 1e-5),
    tieWordEmbeddings: r.bool('tie_word_embeddings', true),
    ...r.specialTokens(50256, 50256),
    ...r.emulator(numLayers),
  };
}

function parseLlama(r: Reader, modelType: 'llama' | 'mistral' | 'qwen2'): LlamaConfig {
  const hiddenSize = r.int('hidden_size', 4096);
  const numHeads = r.int('num_attention_heads', 32);
  const numKvHeads = r.intOrNull('num_key_value_heads') ?? numHeads;
  if (numHeads % numKvHeads !== 0) {
    r.fail('num_key_value_heads', `${numKvHeads} does not divide num_attention_heads ${numHeads}`);
  }
  const act = r.str('hidden_act', 'silu');
  if (act !== 'silu') r.fail('hidden_act', `"${act}" is not supported (supported: silu)`);
  const ropeScaling = parseRopeScaling(r);
  const attentionBias = r.bool('attention_bias', false);
  // Qwen2 stores sliding_window but applies it only with use_sliding_window; Mistral applies it when set.
  const slidingWindow = modelType === 'mistral' || (modelType === 'qwen2' && r.bool('use_sliding_window', false))
    ? r.intOrNull('sliding_window') : undefined;
  const explicitHeadDim = r.intOrNull('head_dim');
  const numLayers = r.int('num_hidden_layers', 32);
  return {
    family: 'llama', modelType,
    vocabSize: r.int('vocab_size', 32000), hiddenSize,
    numLayers, numHeads, numKvHeads,
    headDim: explicitHeadDim ?? r.divide(hiddenSize, numHeads, 'hidden_size', 'num_attention_heads'),
    intermediateSize: r.int('intermediate_size', 11008),
    maxPositions: r.int('max_position_embeddings', 2048),
    rmsNormEps: r.num('rms_norm_eps', 1e-6),
    ropeTheta: r.num('rope_theta', 10000),
    qkvBias: modelType === 'qwen2' ? true : attentionBias,
    oBias: modelType === 'qwen2' ? false : attentionBias,
    mlpBias: r.bool('mlp_bias', false),
    ...(ropeScaling === undefined ? {} : { ropeScaling }),
    ...(slidingWindow === undefined ? {} : { slidingWindow }),
    tieWordEmbeddings: r.bool('tie_word_embeddings', false),
    ...r.specialTokens(undefined, undefined),
    ...r.emulator(numLayers),
  };
}

function parseRopeScaling(r: Reader): Llama3RopeScaling | undefined {
  const raw = r.raw('rope_scaling');
  if (raw === undefined || raw === null) return undefined;
  if (!isRecord(raw)) r.fail('rope_scaling', `expected an object or null, got ${JSON.stringify(raw)}`);
  const type = raw.rope_type ?? raw.type;
  if (type === 'default') return undefined;
  if (type !== 'llama3') {
    r.fail('rope_scaling', `rope type ${JSON.stringify(type)} is not supported (supported: default, llama3)`);
  }
  const num = (key: string): number => {
    const v = raw[key];
    if (typeof v !== 'number' || !(v > 0)) r.fail(`rope_scaling.${key}`, `expected a positive number, got ${JSON.stringify(v)}`);
    return v;
  };
  const scaling: Llama3RopeScaling = {
    type: 'llama3', factor: num('factor'), lowFreqFactor: num('low_freq_factor'), highFreqFactor: num('high_freq_factor'),
    originalMaxPositions: num('original_max_position_embeddings'),
  };
  if (scaling.highFreqFactor <= scaling.lowFreqFactor) r.fail('rope_scaling.high_freq_factor', 'must be greater than low_freq_factor');
  return scaling;
}

function parseOpt(r: Reader): OptConfig {
  const hiddenSize = r.int('hidden_size', 768);
  const numHeads = r.int('num_attention_heads', 12);
  const projDim = r.intOrNull('word_embed_proj_dim') ?? hiddenSize;
  if (projDim !== hiddenSize) {
    r.fail('word_embed_proj_dim', `${projDim} differs from hidden_size ${hiddenSize} (OPT-350m style project_in/out) ` +
      'and is not supported; only word_embed_proj_dim == hidden_size');
  }
  const act = r.str('activation_function', 'relu');
  if (act !== 'relu') r.fail('activation_function', `"${act}" is not supported for opt (supported: relu)`);
  if (r.bool('_remove_final_layer_norm', false)) r.fail('_remove_final_layer_norm', 'true is not supported');
  const numLayers = r.int('num_hidden_layers', 12);
  return {
    family: 'opt', modelType: 'opt',
    vocabSize: r.int('vocab_size', 50272), hiddenSize, numLayers, numHeads,
    headDim: r.divide(hiddenSize, numHeads, 'hidden_size', 'num_attention_heads'),
    ffnDim: r.int('ffn_dim', 3072),
    maxPositions: r.int('max_position_embeddings', 2048),
    doLayerNormBefore: r.bool('do_layer_norm_before', true),
    enableBias: r.bool('enable_bias', true),
    layerNormAffine: r.bool('layer_norm_elementwise_affine', true),
    positionOffset: 2,
    tieWordEmbeddings: r.bool('tie_word_embeddings', true),
    ...r.specialTokens(2, 2),
    ...r.emulator(numLayers),
  };
}

/** Typed access to config keys; every error names the file and the key. */
class Reader {
  constructor(private readonly json: Record<string, unknown>, private readonly file: string) {}

  has(key: string): boolean {
    return this.json[key] !== undefined;
  }

  raw(key: string): unknown {
    return this.json[key];
  }

  fail(key: string, detail: string): never {
    throw new ConfigError(this.file, key, detail);
  }

  str(key: string, fallback?: string): string {
    const v = this.json[key] ?? fallback;
    if (typeof v !== 'string') this.fail(key, v === undefined ? 'missing' : `expected a string, got ${JSON.stringify(v)}`);
    return v;
  }

  int(key: string, fallback: number): number {
    return this.intOrNull(key) ?? fallback;
  }

  intOrNull(key: string): number | undefined {
    const v = this.json[key];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v <= 0) this.fail(key, `expected a positive integer, got ${JSON.stringify(v)}`);
    return v;
  }

  num(key: string, fallback: number): number {
    const v = this.json[key] ?? fallback;
    if (typeof v !== 'number' || !Number.isFinite(v)) this.fail(key, `expected a number, got ${JSON.stringify(v)}`);
    return v;
  }

  bool(key: string, fallback: boolean): boolean {
    const v = this.json[key] ?? fallback;
    if (typeof v !== 'boolean') this.fail(key, `expected true or false, got ${JSON.stringify(v)}`);
    return v;
  }

  divide(a: number, b: number, keyA: string, keyB: string): number {
    if (a % b !== 0) this.fail(keyB, `${keyA} ${a} is not divisible by ${keyB} ${b}`);
    return a / b;
  }

  emulator(numLayers: number): Pick<CommonConfig, 'emulator'> {
    const raw = this.json[EMULATOR_CONFIG_KEY];
    if (raw === undefined) return {};
    return { emulator: parseEmulatorLayout(raw, numLayers, (key, detail) => this.fail(key, detail)) };
  }

  specialTokens(bos: number | undefined, eos: number | undefined): Pick<CommonConfig, 'architectures' | 'bosTokenId' | 'eosTokenIds' | 'padTokenId' | 'torchDtype'> {
    const optionalId = (key: string, fallback: number | undefined): number | undefined => {
      const v = this.json[key];
      if (v === undefined) return fallback;
      if (v === null) return undefined;
      if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) this.fail(key, `expected a token id, got ${JSON.stringify(v)}`);
      return v;
    };
    const eosRaw = this.json.eos_token_id;
    let eosTokenIds: number[];
    if (Array.isArray(eosRaw)) {
      eosTokenIds = eosRaw.map((v, i) => {
        if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) this.fail(`eos_token_id[${i}]`, `expected a token id, got ${JSON.stringify(v)}`);
        return v;
      });
    } else {
      const id = optionalId('eos_token_id', eos);
      eosTokenIds = id === undefined ? [] : [id];
    }
    const dtype = this.json.torch_dtype;
    const architectures = this.json.architectures;
    return {
      architectures: Array.isArray(architectures) ? architectures.filter((a): a is string => typeof a === 'string') : [],
      bosTokenId: optionalId('bos_token_id', bos),
      eosTokenIds,
      padTokenId: optionalId('pad_token_id', undefined),
      torchDtype: typeof dtype === 'string' ? dtype : undefined,
    };
  }
}
