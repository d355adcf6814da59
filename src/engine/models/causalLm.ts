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
  const ctx = newCtx(model, g, options, layers, pastLength);
  // Declared first, in this order, so the monolithic graph's inputs stay as they always were.
  const { inputIds, attentionMask, positionIds } = { inputIds: ctx.inputIds(), attentionMask: ctx.attentionMask(), positionIds: ctx.positionIds() };
  const family = familyOf(model);
  let h = family.embed(ctx);
  family.prepare(ctx);
  layers.forEach((l, position) => {
    h = g.scope(`layer${position}`, () => family.layer(ctx, l, position, h));
    ctx.layerOutputs.push(h);
  });
  const { hidden, head } = family.final(ctx, h);
  const logits = g.reshape(g.gemm(hidden, head, undefined, { transB: true }), [batch, seq, model.config.vocabSize]);
  return {
    builder: g, inputIds, attentionMask, positionIds, hidden, logits,
    present: ctx.present, layerOutputs: ctx.layerOutputs,
  };
}

/** One piece of a causal LM for layer-granular execution (train/blocks.ts); the inputs it needs are declared lazily. */
export type CausalLmPart =
  /** input_ids (and position_ids where the model embeds positions) -> the first residual stream [tokens, hidden]. */
  | { readonly kind: 'embed' }
  /** Decoder layer `layer` (stored index) on the residual stream `hidden` [tokens, hidden] -> the next one. */
  | { readonly kind: 'layer'; readonly layer: number; readonly hidden: Tensor }
  /** The final norm and the vocabulary projection on `hidden`: logits [tokens, vocab]. */
  | { readonly kind: 'head'; readonly hidden: Tensor };

export type CausalLmPartOptions = Pick<CausalLmOptions, 'batch' | 'seq' | 'dtype' | 'linearHook' | 'weightInputs'> & { readonly builder: GraphBuilder };

/**
 * Emits one part into `options.builder`; the same equations as buildCausalLm, which is embed, the layers and the
 * head chained (no KV cache). A layer part's graph inputs are attention_mask (and position_ids for RoPE).
 */
export function buildCausalLmPart(model: LoadedModel, part: CausalLmPart, options: CausalLmPartOptions): Tensor {
  const g = options.builder;
  const ctx = newCtx(model, g, options, part.kind === 'layer' ? [part.layer] : [], 0);
  const family = familyOf(model);
  switch (part.kind) {
    case 'embed': return family.embed(ctx);
    case 'layer': return g.scope('layer0', () => family.layer(ctx, part.layer, 0, part.hidden));
    case 'head': {
      const { hidden, head } = family.final(ctx, part.hidden);
      return g.gemm(hidden, head, undefined, { transB: true });
    }
  }
}

function newCtx(model: LoadedModel, g: GraphBuilder, options: Pick<CausalLmOptions, 'batch' | 'seq' | 'dtype' | 'linearHook' | 'weightInputs'>,
  layers: readonly number[], pastLength: number): Ctx {
  const { batch, seq } = options;
  const dtype = options.dtype ?? 'float32';
  const c = model.config;
  const kvHeads = c.family === 'llama' ? c.numKvHeads : c.numHeads;
  const ctx: Ctx = {
    g, model, dtype, hook: options.linearHook, weightInputs: options.weightInputs, batch, seq, layers,
    weights: new Map(),
    inputIds: lazy(() => g.input(INPUT_NAMES.inputIds, 'int64', [batch, seq])),
    attentionMask: lazy(() => g.input(INPUT_NAMES.attentionMask, 'int64', [batch, pastLength + seq])),
    positionIds: lazy(() => g.input(INPUT_NAMES.positionIds, 'int64', [batch, seq])),
    bias: lazy(() => attentionBias(g, ctx.attentionMask(), seq, dtype)),
    rope: lazy(() => {
      if (c.family !== 'llama') throw new Error(`${c.modelType} has no RoPE`);
      return ropeCosSin(g, ctx.positionIds(), ropeInverseFrequencies(c.headDim, c.ropeTheta, c.ropeScaling), dtype);
    }),
    past: pastLength === 0 ? undefined : layers.map((_, i) => ({
      key: g.input(pastInputName(i, 'key'), dtype, [batch, kvHeads, pastLength, c.headDim]),
      value: g.input(pastInputName(i, 'value'), dtype, [batch, kvHeads, pastLength, c.headDim]),
    })),
    present: [],
    layerOutputs: [],
  };
  return ctx;
}

/** A value made on first use (graph inputs and shared tensors a part may not need). */
function lazy<T>(make: () => T): () => T {
  let t: T | undefined;
  return () => (t ??= make());
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
  readonly inputIds: () => Tensor;
  readonly attentionMask: () => Tensor;
  readonly positionIds: () => Tensor;
  /** The attention bias from attention_mask, shared by the layers of a graph. */
  readonly bias: () => Tensor;
  /** RoPE cos/sin from position_ids (LLaMA family), shared by the layers of a graph. */
  readonly rope: () => { cos: Tensor; sin: Tensor };
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

/** A family's equations split at the residual stream, so graphs can hold the whole model or one part. */
interface Family {
  embed(ctx: Ctx): Tensor;
  /** Emits the tensors the layers share (attention bias, RoPE), in the order the monolithic graph has them. */
  prepare(ctx: Ctx): void;
  layer(ctx: Ctx, l: number, position: number, h: Tensor): Tensor;
  final(ctx: Ctx, h: Tensor): { hidden: Tensor; head: Tensor };
}

function familyOf(model: LoadedModel): Family {
  const c = model.config;
  switch (c.family) {
    case 'gpt2': return gpt2(c);
    case 'llama': return llama(c);
    case 'opt': return opt(c);
  }
}

function gpt2(c: Gpt2Config): Family {
  const H = c.hiddenSize;
  const ln = (ctx: Ctx, x: Tensor, name: string) => ctx.g.layerNorm(x, w(ctx, `${name}.weight`), w(ctx, `${name}.bias`), { epsilon: c.layerNormEps });
  return {
    embed: (ctx) => ctx.g.add(embed(ctx, w(ctx, 'transformer.wte.weight'), ctx.inputIds()), embed(ctx, w(ctx, 'transformer.wpe.weight'), ctx.positionIds())),
    prepare: (ctx) => { ctx.bias(); },
    layer: (ctx, l, position, hIn) => {
      const { g } = ctx;
      let h = hIn;
      const p = `transformer.h.${l}.`;
      const proj = (x: Tensor, module: string, path: string) => projection(ctx, l, p, module, path, x, w(ctx, `${p}${path}.bias`), 'in_out');
      const a = ln(ctx, h, `${p}ln_1`);
      // A compressed c_attn is stored as its q, k, v parts, each factorized (emulatorLayout.ts).
      const qkv = ctx.model.config.emulator?.layers[l]?.factorized[GPT2_QKV_PARTS[0]] !== undefined
        ? g.add(g.concat(GPT2_QKV_PARTS.map((part) => factorized(ctx, `${p}${part}`, a, undefined)), 1), w(ctx, `${p}attn.c_attn.bias`))
        : proj(a, 'c_attn', 'attn.c_attn');
      const [q, k, v] = g.split(qkv, 1, [H, H, H]);
      const att = selfAttention(ctx, position, q, k, v, ctx.bias(), c.numHeads, c.numHeads, c.headDim);
      h = g.add(h, proj(att, 'c_proj', 'attn.c_proj'));
      const up = gelu(g, proj(ln(ctx, h, `${p}ln_2`), 'c_fc', 'mlp.c_fc'));
      return g.add(h, proj(up, 'c_proj', 'mlp.c_proj'));
    },
    final: (ctx, h) => ({ hidden: ln(ctx, h, 'transformer.ln_f'), head: w(ctx, c.tieWordEmbeddings ? 'transformer.wte.weight' : 'lm_head.weight') }),
  };
}

function llama(c: LlamaConfig): Family {
  const norm = (ctx: Ctx, x: Tensor, name: string) => rmsNorm(ctx.g, x, w(ctx, name), c.rmsNormEps);
  return {
    embed: (ctx) => embed(ctx, w(ctx, 'model.embed_tokens.weight'), ctx.inputIds()),
    prepare: (ctx) => { ctx.bias(); ctx.rope(); },
    layer: (ctx, l, position, hIn) => {
      const { g } = ctx;
      let h = hIn;
      const p = `model.layers.${l}.`;
      const proj = (x: Tensor, module: string, path: string, hasBias: boolean) =>
        projection(ctx, l, p, module, path, x, hasBias ? w(ctx, `${p}${path}.bias`) : undefined, 'out_in');
      const a = norm(ctx, h, `${p}input_layernorm.weight`);
      const q = proj(a, 'q_proj', 'self_attn.q_proj', c.qkvBias);
      const k = proj(a, 'k_proj', 'self_attn.k_proj', c.qkvBias);
      const v = proj(a, 'v_proj', 'self_attn.v_proj', c.qkvBias);
      const att = selfAttention(ctx, position, q, k, v, ctx.bias(), c.numHeads, c.numKvHeads, c.headDim, ctx.rope());
      h = g.add(h, proj(att, 'o_proj', 'self_attn.o_proj', c.oBias));
      const m = norm(ctx, h, `${p}post_attention_layernorm.weight`);
      const gated = swiglu(g, proj(m, 'gate_proj', 'mlp.gate_proj', c.mlpBias), proj(m, 'up_proj', 'mlp.up_proj', c.mlpBias));
      return g.add(h, proj(gated, 'down_proj', 'mlp.down_proj', c.mlpBias));
    },
    final: (ctx, h) => ({ hidden: norm(ctx, h, 'model.norm.weight'), head: w(ctx, c.tieWordEmbeddings ? 'model.embed_tokens.weight' : 'lm_head.weight') }),
  };
}

/** nn.LayerNorm's default epsilon, which OPT uses. */
const OPT_LAYER_NORM_EPS = 1e-5;

function opt(c: OptConfig): Family {
  const ln = (ctx: Ctx, x: Tensor, name: string) => (c.layerNormAffine
    ? ctx.g.layerNorm(x, w(ctx, `${name}.weight`), w(ctx, `${name}.bias`), { epsilon: OPT_LAYER_NORM_EPS })
    : ctx.g.layerNorm(x, ctx.g.constant(ctx.dtype, [c.hiddenSize], new Array<number>(c.hiddenSize).fill(1)), undefined, { epsilon: OPT_LAYER_NORM_EPS }));
  return {
    embed: (ctx) => {
      const emb = w(ctx, 'model.decoder.embed_tokens.weight');
      // OPTLearnedPositionalEmbedding looks up row position + 2.
      const positions = ctx.g.add(ctx.positionIds(), c.positionOffset);
      return ctx.g.add(embed(ctx, emb, ctx.inputIds()), embed(ctx, w(ctx, 'model.decoder.embed_positions.weight'), positions));
    },
    prepare: (ctx) => { ctx.bias(); },
    layer: (ctx, l, position, hIn) => {
      const { g } = ctx;
      let h = hIn;
      const relu = (x: Tensor) => g.where(g.greater(x, 0), x, 0);
      const p = `model.decoder.layers.${l}.`;
      const proj = (x: Tensor, module: string, path: string) =>
        projection(ctx, l, p, module, path, x, c.enableBias ? w(ctx, `${p}${path}.bias`) : undefined, 'out_in');
      const a = c.doLayerNormBefore ? ln(ctx, h, `${p}self_attn_layer_norm`) : h;
      // OPT scales q by head_dim^-0.5 after the projection; attention() scales the scores instead (same product).
      const att = selfAttention(ctx, position, proj(a, 'q_proj', 'self_attn.q_proj'), proj(a, 'k_proj', 'self_attn.k_proj'),
        proj(a, 'v_proj', 'self_attn.v_proj'), ctx.bias(), c.numHeads, c.numHeads, c.headDim);
      h = g.add(h, proj(att, 'out_proj', 'self_attn.out_proj'));
      if (!c.doLayerNormBefore) h = ln(ctx, h, `${p}self_attn_layer_norm`);
      const m = c.doLayerNormBefore ? ln(ctx, h, `${p}final_layer_norm`) : h;
      h = g.add(h, proj(relu(proj(m, 'fc1', 'fc1')), 'fc2', 'fc2'));
      if (!c.doLayerNormBefore) h = ln(ctx, h, `${p}final_layer_norm`);
      return h;
    },
    final: (ctx, h) => ({
      hidden: c.doLayerNormBefore ? ln(ctx, h, 'model.decoder.final_layer_norm') : h,
      head: w(ctx, c.tieWordEmbeddings ? 'model.decoder.embed_tokens.weight' : 'lm_head.weight'),
    }),
  };
}
