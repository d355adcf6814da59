// Building blocks shared by the architecture graphs: the hookable linear layer, the attention mask from the
// padding mask, RoPE from position ids, multi-head / grouped-query attention. Hidden states are kept as 2-D
// [tokens = batch * seq, features] so every projection is one Gemm on the stored weight (transB for [out, in]
// Linear weights, none for GPT-2's [in, out] Conv1D), and frozen weights are never transposed by copy.
import { applyRope, type GraphBuilder, type Tensor } from '../graph';

/** One linear projection of a decoder layer, as seen by a PEFT module that wants to wrap it. */
export interface LinearSite {
  /** Module name as PEFT target_modules use it: c_attn, c_proj, c_fc, q_proj, ..., down_proj, out_proj, fc1, fc2. */
  readonly module: string;
  /** Decoder layer index in the checkpoint (not the position in a reordered layer list). */
  readonly layer: number;
  /** Full Hugging Face module path, e.g. `model.layers.3.self_attn.q_proj` (PEFT adapter weight names). */
  readonly path: string;
  /** Input [tokens, inFeatures]. */
  readonly x: Tensor;
  /** The frozen weight as stored: [out, in] (layout 'out_in', torch Linear) or [in, out] ('in_out', GPT-2 Conv1D). */
  readonly weight: Tensor;
  readonly bias: Tensor | undefined;
  readonly layout: 'out_in' | 'in_out';
  readonly inFeatures: number;
  readonly outFeatures: number;
  /** Emits the frozen projection x W (+ b): [tokens, outFeatures]. Call at most once per site. */
  base(): Tensor;
}

/**
 * Wraps a linear layer: return a tensor [tokens, outFeatures], typically `add(site.base(), lora(site.x))`.
 * Called for every projection of every built layer, in graph order.
 */
export type LinearHook = (g: GraphBuilder, site: LinearSite) => Tensor;

export function linear(
  g: GraphBuilder, hook: LinearHook | undefined,
  where: { module: string; layer: number; path: string },
  x: Tensor, weight: Tensor, bias: Tensor | undefined, layout: 'out_in' | 'in_out',
): Tensor {
  const [outFeatures, inFeatures] = layout === 'out_in' ? weight.shape : [weight.shape[1], weight.shape[0]];
  const base = (): Tensor => g.gemm(x, weight, bias, { transB: layout === 'out_in' });
  if (hook === undefined) return base();
  const y = hook(g, { ...where, x, weight, bias, layout, inFeatures, outFeatures, base });
  if (y.rank !== 2 || y.shape[0] !== x.shape[0] || y.shape[1] !== outFeatures) {
    throw new Error(`linear hook for ${where.path}: returned [${y.shape.join(', ')}], expected [${x.shape[0]}, ${outFeatures}]`);
  }
  return y;
}

/** Large negative added to masked attention scores: exp underflows to 0, and a fully masked row stays finite. */
export const MASKED_SCORE = -1e9;

/**
 * Additive attention bias [batch, 1, seq, keys] from the int64 attention_mask [batch, keys] over past + current
 * tokens (keys = past + seq, the transformers convention): 0 where query i (absolute slot past + i) may attend
 * key j (j <= past + i and mask[j] = 1), MASKED_SCORE elsewhere.
 */
export function attentionBias(g: GraphBuilder, attentionMask: Tensor, seq: number, dtype: 'float32' | 'float64'): Tensor {
  const [B, T] = attentionMask.shape;
  const past = T - seq;
  const causal = new Array<number>(seq * T);
  for (let i = 0; i < seq; i++) for (let j = 0; j < T; j++) causal[i * T + j] = j <= past + i ? 1 : 0;
  const keys = g.reshape(g.cast(attentionMask, dtype), [B, 1, 1, T]);
  const allowed = g.mul(g.constant(dtype, [1, 1, seq, T], causal), keys);
  return g.mul(g.sub(allowed, 1), -MASKED_SCORE);
}

/**
 * RoPE cos/sin [batch, 1, seq, headDim] for arbitrary position ids (padding shifts positions), rotate-half
 * layout of modeling_llama.py: emb = cat(freqs, freqs), freqs = position x inv_freq (see rope.ts). Computed like
 * transformers does (positions x inv_freq in the graph's float type, then Cos/Sin), so float32 results round alike.
 */
export function ropeCosSin(g: GraphBuilder, positionIds: Tensor, invFreq: readonly number[], dtype: 'float32' | 'float64'): { cos: Tensor; sin: Tensor } {
  const [B, S] = positionIds.shape;
  const half = invFreq.length;
  const pos = g.reshape(g.cast(positionIds, dtype), [B, S, 1]);
  const freqs = g.mul(pos, g.constant(dtype, [1, 1, half], invFreq));
  const emb = g.reshape(g.concat([freqs, freqs], -1), [B, 1, S, 2 * half]);
  // Cos/Sin of constant inputs: no gradient flows here, so no rule is recorded.
  const cos = g.emit('Cos', [emb], [{ dtype, shape: emb.shape }])[0];
  const sin = g.emit('Sin', [emb], [{ dtype, shape: emb.shape }])[0];
  return { cos, sin };
}

export interface AttentionShape {
  readonly batch: number;
  readonly seq: number;
  readonly heads: number;
  readonly kvHeads: number;
  readonly headDim: number;
}

/** Keys and values of one layer, [batch, kvHeads, length, headDim] (keys after RoPE), as a KV cache holds them. */
export interface KeyValue {
  readonly key: Tensor;
  readonly value: Tensor;
}

/**
 * softmax(q k^T / sqrt(d) + bias) v per head, for q [tokens, heads*d] and k, v [tokens, kvHeads*d]; query head h
 * reads kv head floor(h / (heads / kvHeads)) (grouped-query attention). With `past`, its keys/values come before
 * the current ones. Returns the context [tokens, heads*d] and the current keys/values (for a KV cache).
 */
export function attention(
  g: GraphBuilder, q2: Tensor, k2: Tensor, v2: Tensor, bias: Tensor, s: AttentionShape,
  rope?: { cos: Tensor; sin: Tensor }, past?: KeyValue,
): { output: Tensor; present: KeyValue } {
  const { batch: B, seq: S, heads: H, kvHeads: KV, headDim: D } = s;
  const split = (t: Tensor, heads: number) => g.transpose(g.reshape(t, [B, S, heads, D]), [0, 2, 1, 3]);
  let q = split(q2, H);
  let k = split(k2, KV);
  const v = split(v2, KV);
  if (rope !== undefined) {
    q = applyRope(g, q, rope.cos, rope.sin);
    k = applyRope(g, k, rope.cos, rope.sin);
  }
  let keys = past === undefined ? k : g.concat([past.key, k], 2);
  let values = past === undefined ? v : g.concat([past.value, v], 2);
  if (KV !== H) {
    const T = keys.shape[2];
    const repeat = (t: Tensor) => g.reshape(g.expand(g.unsqueeze(t, [2]), [B, KV, H / KV, T, D]), [B, H, T, D]);
    keys = repeat(keys);
    values = repeat(values);
  }
  const scores = g.add(g.mul(g.matmul(q, g.transposeLast2(keys)), 1 / Math.sqrt(D)), bias);
  const context = g.matmul(g.softmax(scores, -1), values);
  return { output: g.reshape(g.transpose(context, [0, 2, 1, 3]), [B * S, H * D]), present: { key: k, value: v } };
}
