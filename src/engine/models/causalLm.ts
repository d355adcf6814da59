// Forward graphs of the supported causal LMs on the project's graph builder, with static [batch, seq] shapes
// (one graph per shape bucket). Inputs: `input_ids`, `attention_mask`, `position_ids`, all int64 [batch, seq];
// frozen weights are initializers named as in the checkpoint, streamed from it when the graph is serialised.
// PEFT modules attach through `linearHook` (see layers.ts LinearSite). Equations: transformers'
// modeling_gpt2.py, modeling_llama.py (Mistral, Qwen2 alike) and modeling_opt.py.
import { gelu, GraphBuilder, rmsNorm, swiglu, type Tensor } from '../graph';
import type { Gpt2Config, LlamaConfig, OptConfig } from './config';
import { GPT2_QKV_PARTS } from './emulatorLayout';
import { attention, attentionBias, linear, ropeCosSin, type KeyValue, type LinearHook } from './layers';
import type { LoadedModel } from './model';
import { ropeInverseFrequencies } from './rope';

export type FloatType = 'float32' | 'float64';

export interface CausalLmOptions {
  readonly batch: number;
  readonly seq: number;
  /** Compute type; weights are converted to it (default float32; float64 for gradient checks). */
  readonly dtype?: FloatType;
  readonly linearHook?: LinearHook;
  /**
   * Decoder layers to run, in order (default: the emulator's layer_map for an emulator checkpoint, else all).
   * Repeats and omissions build layer-drop emulators.
   */
  readonly layers?: readonly number[];
  /** Build into this builder (e.g. one that already holds PEFT inputs); default a new one. */
  readonly builder?: GraphBuilder;
  /**
   * Every checkpoint weight becomes a graph input of its own name instead of an initializer, trainable in train
   * graphs (full-parameter training: train/fullModelRunner.ts), fed on every run.
   */
  readonly weightInputs?: 'trainable' | 'frozen';
  /**
   * KV cache. `pastLength` > 0 adds inputs `past.{i}.key` / `past.{i}.value` [batch, kvHeads, pastLength,
   * headDim] per built layer i, and attention_mask becomes [batch, pastLength + seq] (past then current).
   * The current keys/values are returned as `present` either way (declare them as outputs to fill a cache).
   */
  readonly kvCache?: { readonly pastLength: number };
}

export interface CausalLmGraph {
  readonly builder: GraphBuilder;
  readonly inputIds: Tensor;
  readonly attentionMask: Tensor;
  readonly positionIds: Tensor;
  /** Final hidden states after the last norm, [batch * seq, hidden]. */
  readonly hidden: Tensor;
  /** [batch, seq, vocab]; not yet declared as an output. */
  readonly logits: Tensor;
  /** Per built layer: this pass's keys (after RoPE) and values, [batch, kvHeads, seq, headDim]. */
  readonly present: readonly KeyValue[];
  /** Per built layer: the residual stream after it, [batch * seq, hidden] (CRaSh layer similarity). */
  readonly layerOutputs: readonly Tensor[];
}

/** Names of the graph inputs. */
export const INPUT_NAMES = { inputIds: 'input_ids', attentionMask: 'attention_mask', positionIds: 'position_ids' } as const;

export function buildCausalLm(model: LoadedModel, options: CausalLmOptions): CausalLmGraph {
  const { batch, seq } = options;
  if (!Number.isSafeInteger(batch) || batch < 1 || !Number.isSafeInteger(seq) || seq < 1) {
    throw new RangeError(`buildCausalLm: batch and seq must be positive integers, got ${batch} x ${seq}`);
  }
  const numLayers = model.config.numLayers;
  const layers = options.layers ?? model.config.emulator?.layerMap ?? Array.from({ length: numLayers }, (_, i) => i);
  for (const l of layers) {
    if (!Number.isSafeInteger(l) || l < 0 || l >= numLayers) throw new RangeError(`buildCausalLm: layer ${l} is not in 0..${numLayers - 1}`);
  }
  const pastLength = options.kvCache?.pastLength ?? 0;
  if (!Number.isSafeInteger(pastLength) || pastLength < 0) throw new RangeError(`buildCausalLm: pastLength ${pastLength} is not a non-negative integer`);
  const window = model.config.family === 'llama' ? model.config.slidingWindow : undefined;
  if (window !== undefined && pastLength + seq > window) {
    throw new RangeError(`buildCausalLm: ${pastLength + seq} tokens exceed ${model.config.modelType}'s sliding_window ${window}; ` +
      'sliding-window attention is not implemented, so only sequences within the window are supported');
  }
  const g = options.builder ?? new GraphBuilder(`${model.config.modelType}_causal_lm`);
  const dtype = options.dtype ?? 'float32';
  const c = model.config;
  const kvHeads = c.family === 'llama' ? c.numKvHeads : c.numHeads;
  const ctx: Ctx = {
    g, model, dtype, hook: options.linearHook, weightInputs: options.weightInputs, batch, seq, layers,
    weights: new Map(),
    inputIds: g.input(INPUT_NAMES.inputIds, 'int64', [batch, seq]),
    attentionMask: g.input(INPUT_NAMES.attentionMask, 'int64', [batch, pastLength + seq]),
    positionIds: g.input(INPUT_NAMES.positionIds, 'int64', [batch, seq]),
    past: pastLength === 0 ? undefined : layers.map((_, i) => ({
      key: g.input(pastInputName(i, 'key'), dtype, [batch, kvHeads, pastLength, c.headDim]),
      value: g.input(pastInputName(i, 'value'), dtype, [batch, kvHeads, pastLength, c.headDim]),
    })),
    present: [],
    layerOutputs: [],
  };
  const config = model.config;
  let hidden: Tensor;
  let head: Tensor;
  switch (config.family) {
    case 'gpt2': ({ hidden, head } = gpt2(ctx, config)); break;
    case 'llama': ({ hidden, head } = llama(ctx, config)); break;
    case 'opt': ({ hidden, head } = opt(ctx, config)); break;
  }
  const logits2 = g.gemm(hidden, head, undefined, { transB: true });
  const logits = g.reshape(logits2, [batch, seq, config.vocabSize]);
  return {
    builder: g, inputIds: ctx.inputIds, attentionMask: ctx.attentionMask, positionIds: ctx.positionIds, hidden, logits,
    present: ctx.present, layerOutputs: ctx.layerOutputs,
  };
}

/** Input name of built layer i's cached keys or values. */
export function pastInputName(i: number, kind: 'key' | 'value'): string {
  return `past.${i}.${kind}`;
}

/** Output name (when declared) of built layer i's current keys or values. */
export function presentOutputName(i: number, kind: 'key' | 'value'): string {
  return `present.${i}.${kind}`;
}

interface Ctx {
  readonly g: GraphBuilder;
  readonly model: LoadedModel;
  readonly dtype: FloatType;
  readonly hook: LinearHook | undefined;
  readonly weightInputs: 'trainable' | 'frozen' | undefined;
  readonly batch: number;
  readonly seq: number;
  readonly layers: readonly number[];
  readonly weights: Map<string, Tensor>;
  readonly inputIds: Tensor;
  readonly attentionMask: Tensor;
  readonly positionIds: Tensor;
  readonly past: readonly KeyValue[] | undefined;
  readonly present: KeyValue[];
  readonly layerOutputs: Tensor[];
}

function selfAttention(ctx: Ctx, position: number, q: Tensor, k: Tensor, v: Tensor, bias: Tensor,
  heads: number, kvHeads: number, headDim: number, rope?: { cos: Tensor; sin: Tensor }): Tensor {
  const { output, present } = attention(ctx.g, q, k, v, bias, { batch: ctx.batch, seq: ctx.seq, heads, kvHeads, headDim }, rope, ctx.past?.[position]);
  ctx.present.push(present);
  return output;
}

/** The initializer for a checkpoint weight (one per name, so tied weights are stored once). */
function w(ctx: Ctx, name: string): Tensor {
  let t = ctx.weights.get(name);
  if (t === undefined) {
    const spec = ctx.model.weights.spec(name);
    t = ctx.weightInputs === undefined
      ? ctx.g.initializer(name, ctx.dtype, spec.shape, ctx.model.weights.lazy(name, ctx.dtype))
      : ctx.g.input(name, ctx.dtype, spec.shape, { trainable: ctx.weightInputs === 'trainable' });
    ctx.weights.set(name, t);
  }
  return t;
}

/**
 * A projection of stored layer l: the hookable dense linear, or, when the emulator layout factorizes `path`
 * (relative to the layer), y = (x first^T) second^T + bias from `<prefix><path>.first/.second.weight`. Factorized
 * (compressed middle-layer) maps are not offered to the hook: PEFT on an emulator adapts its uncompressed layers.
 */
function projection(ctx: Ctx, l: number, prefix: string, module: string, path: string, x: Tensor, bias: Tensor | undefined,
  layout: 'out_in' | 'in_out'): Tensor {
  const rank = ctx.model.config.emulator?.layers[l]?.factorized[path];
  if (rank !== undefined) return factorized(ctx, `${prefix}${path}`, x, bias);
  return linear(ctx.g, ctx.hook, { module, layer: l, path: `${prefix}${path}` }, x, w(ctx, `${prefix}${path}.weight`), bias, layout);
}

function factorized(ctx: Ctx, fullPath: string, x: Tensor, bias: Tensor | undefined): Tensor {
  const inner = ctx.g.gemm(x, w(ctx, `${fullPath}.first.weight`), undefined, { transB: true });
  return ctx.g.gemm(inner, w(ctx, `${fullPath}.second.weight`), bias, { transB: true });
}

function embed(ctx: Ctx, table: Tensor, ids: Tensor): Tensor {
  return ctx.g.reshape(ctx.g.gather(table, ids, 0), [ctx.batch * ctx.seq, table.shape[1]]);
}

function gpt2(ctx: Ctx, c: Gpt2Config): { hidden: Tensor; head: Tensor } {
  const { g } = ctx;
  const H = c.hiddenSize;
  const wte = w(ctx, 'transformer.wte.weight');
  let h = g.add(embed(ctx, wte, ctx.inputIds), embed(ctx, w(ctx, 'transformer.wpe.weight'), ctx.positionIds));
  const bias = attentionBias(g, ctx.attentionMask, ctx.seq, ctx.dtype);
  const ln = (x: Tensor, name: string) => g.layerNorm(x, w(ctx, `${name}.weight`), w(ctx, `${name}.bias`), { epsilon: c.layerNormEps });
  ctx.layers.forEach((l, position) => g.scope(`layer${position}`, () => {
    const p = `transformer.h.${l}.`;
    const proj = (x: Tensor, module: string, path: string) => projection(ctx, l, p, module, path, x, w(ctx, `${p}${path}.bias`), 'in_out');
    const a = ln(h, `${p}ln_1`);
    // A compressed c_attn is stored as its q, k, v parts, each factorized (emulatorLayout.ts).
    const qkv = ctx.model.config.emulator?.layers[l]?.factorized[GPT2_QKV_PARTS[0]] !== undefined
      ? g.add(g.concat(GPT2_QKV_PARTS.map((part) => factorized(ctx, `${p}${part}`, a, undefined)), 1), w(ctx, `${p}attn.c_attn.bias`))
      : proj(a, 'c_attn', 'attn.c_attn');
    const [q, k, v] = g.split(qkv, 1, [H, H, H]);
    const att = selfAttention(ctx, position, q, k, v, bias, c.numHeads, c.numHeads, c.headDim);
    h = g.add(h, proj(att, 'c_proj', 'attn.c_proj'));
    const up = gelu(g, proj(ln(h, `${p}ln_2`), 'c_fc', 'mlp.c_fc'));
    h = g.add(h, proj(up, 'c_proj', 'mlp.c_proj'));
    ctx.layerOutputs.push(h);
  }));
  const hidden = ln(h, 'transformer.ln_f');
  return { hidden, head: c.tieWordEmbeddings ? wte : w(ctx, 'lm_head.weight') };
}

function llama(ctx: Ctx, c: LlamaConfig): { hidden: Tensor; head: Tensor } {
  const { g } = ctx;
  const emb = w(ctx, 'model.embed_tokens.weight');
  let h = embed(ctx, emb, ctx.inputIds);
  const bias = attentionBias(g, ctx.attentionMask, ctx.seq, ctx.dtype);
  const rope = ropeCosSin(g, ctx.positionIds, ropeInverseFrequencies(c.headDim, c.ropeTheta, c.ropeScaling), ctx.dtype);
  const norm = (x: Tensor, name: string) => rmsNorm(g, x, w(ctx, name), c.rmsNormEps);
  ctx.layers.forEach((l, position) => g.scope(`layer${position}`, () => {
    const p = `model.layers.${l}.`;
    const proj = (x: Tensor, module: string, path: string, hasBias: boolean) =>
      projection(ctx, l, p, module, path, x, hasBias ? w(ctx, `${p}${path}.bias`) : undefined, 'out_in');
    const a = norm(h, `${p}input_layernorm.weight`);
    const q = proj(a, 'q_proj', 'self_attn.q_proj', c.qkvBias);
    const k = proj(a, 'k_proj', 'self_attn.k_proj', c.qkvBias);
    const v = proj(a, 'v_proj', 'self_attn.v_proj', c.qkvBias);
    const att = selfAttention(ctx, position, q, k, v, bias, c.numHeads, c.numKvHeads, c.headDim, rope);
    h = g.add(h, proj(att, 'o_proj', 'self_attn.o_proj', c.oBias));
    const m = norm(h, `${p}post_attention_layernorm.weight`);
    const gated = swiglu(g, proj(m, 'gate_proj', 'mlp.gate_proj', c.mlpBias), proj(m, 'up_proj', 'mlp.up_proj', c.mlpBias));
    h = g.add(h, proj(gated, 'down_proj', 'mlp.down_proj', c.mlpBias));
    ctx.layerOutputs.push(h);
  }));
  const hidden = norm(h, 'model.norm.weight');
  return { hidden, head: c.tieWordEmbeddings ? emb : w(ctx, 'lm_head.weight') };
}

/** nn.LayerNorm's default epsilon, which OPT uses. */
const OPT_LAYER_NORM_EPS = 1e-5;

function opt(ctx: Ctx, c: OptConfig): { hidden: Tensor; head: Tensor } {
  const { g } = ctx;
  const emb = w(ctx, 'model.decoder.embed_tokens.weight');
  // OPTLearnedPositionalEmbedding looks up row position + 2.
  const positions = g.add(ctx.positionIds, c.positionOffset);
  let h = g.add(embed(ctx, emb, ctx.inputIds), embed(ctx, w(ctx, 'model.decoder.embed_positions.weight'), positions));
  const bias = attentionBias(g, ctx.attentionMask, ctx.seq, ctx.dtype);
  const ln = (x: Tensor, name: string) => (c.layerNormAffine
    ? g.layerNorm(x, w(ctx, `${name}.weight`), w(ctx, `${name}.bias`), { epsilon: OPT_LAYER_NORM_EPS })
    : g.layerNorm(x, g.constant(ctx.dtype, [c.hiddenSize], new Array<number>(c.hiddenSize).fill(1)), undefined, { epsilon: OPT_LAYER_NORM_EPS }));
  const relu = (x: Tensor) => g.where(g.greater(x, 0), x, 0);
  ctx.layers.forEach((l, position) => g.scope(`layer${position}`, () => {
    const p = `model.decoder.layers.${l}.`;
    const proj = (x: Tensor, module: string, path: string) =>
      projection(ctx, l, p, module, path, x, c.enableBias ? w(ctx, `${p}${path}.bias`) : undefined, 'out_in');
    const a = c.doLayerNormBefore ? ln(h, `${p}self_attn_layer_norm`) : h;
    // OPT scales q by head_dim^-0.5 after the projection; attention() scales the scores instead (same product).
    const att = selfAttention(ctx, position, proj(a, 'q_proj', 'self_attn.q_proj'), proj(a, 'k_proj', 'self_attn.k_proj'),
      proj(a, 'v_proj', 'self_attn.v_proj'), bias, c.numHeads, c.numHeads, c.headDim);
    h = g.add(h, proj(att, 'out_proj', 'self_attn.out_proj'));
    if (!c.doLayerNormBefore) h = ln(h, `${p}self_attn_layer_norm`);
    const m = c.doLayerNormBefore ? ln(h, `${p}final_layer_norm`) : h;
    h = g.add(h, proj(relu(proj(m, 'fc1', 'fc1')), 'fc2', 'fc2'));
    if (!c.doLayerNormBefore) h = ln(h, `${p}final_layer_norm`);
    ctx.layerOutputs.push(h);
  }));
  const hidden = c.doLayerNormBefore ? ln(h, 'model.decoder.final_layer_norm') : h;
  return { hidden, head: c.tieWordEmbeddings ? emb : w(ctx, 'lm_head.weight') };
}
