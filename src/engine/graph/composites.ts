// Composite layers built from primitive ops (their gradients follow from the primitives' rules), plus GELU
// with one fused gradient rule to keep the backward graph small.
import type { GraphBuilder } from './builder';
import { GraphBuildError } from './errors';
import type { Tensor } from './tensor';

/** RMSNorm (Zhang & Sennrich 2019, as in LLaMA): x / sqrt(mean(x^2, last axis) + eps) * scale. */
export function rmsNorm(b: GraphBuilder, x: Tensor, scale: Tensor, epsilon = 1e-6): Tensor {
  const meanSquare = b.reduceMean(b.mul(x, x), [-1], true);
  return b.mul(b.mul(x, b.reciprocal(b.sqrt(b.add(meanSquare, epsilon)))), scale);
}

const GELU_C = Math.sqrt(2 / Math.PI);
const GELU_K = 0.044715;

/**
 * tanh-approximated GELU (Hendrycks & Gimpel 2016; GPT-2's "gelu_new"):
 *   y = 0.5 x (1 + tanh(c (x + k x^3))),  c = sqrt(2/pi), k = 0.044715
 *   dy/dx = 0.5 (1 + t) + 0.5 x (1 - t^2) c (1 + 3 k x^2),  t = tanh(c (x + k x^3))
 * (tanh form rather than erf: ORT CPU has no float64 Erf, and the float64 gradient checks need it).
 */
export function gelu(b: GraphBuilder, x: Tensor): Tensor {
  const { y, t, x2 } = b.untaped(() => {
    const x2 = b.mul(x, x);
    const inner = b.mul(b.mul(x, b.add(b.mul(x2, GELU_K), 1)), GELU_C);
    const t = b.tanh(inner);
    return { y: b.mul(b.mul(x, 0.5), b.add(t, 1)), t, x2 };
  });
  b.recordComposite('Gelu', [x], [y], (bb, { dOutputs: [g] }) => {
    const left = bb.mul(bb.add(t, 1), 0.5);
    const sech2 = bb.sub(1, bb.mul(t, t));
    const right = bb.mul(bb.mul(x, sech2), bb.add(bb.mul(x2, 1.5 * GELU_K * GELU_C), GELU_C * 0.5));
    return [bb.mul(g!, bb.add(left, right))];
  });
  return y;
}

/** SiLU / swish: x sigmoid(x). */
export function silu(b: GraphBuilder, x: Tensor): Tensor {
  return b.mul(x, b.sigmoid(x));
}

/** SwiGLU MLP gate (LLaMA): silu(gate) * up. */
export function swiglu(b: GraphBuilder, gate: Tensor, up: Tensor): Tensor {
  return b.mul(silu(b, gate), up);
}

/**
 * Inverted dropout with an explicit mask input (0/1 values, same dtype as x, broadcastable): x * mask / (1 - p).
 * The mask is fed per step so the graph stays deterministic and the same mask serves forward and backward.
 */
export function dropout(b: GraphBuilder, x: Tensor, mask: Tensor, p: number): Tensor {
  if (!(p >= 0 && p < 1)) throw new GraphBuildError(`dropout: p must be in [0, 1), got ${p}`);
  return b.mul(b.mul(x, mask), 1 / (1 - p));
}

/** rotate_half (GPT-NeoX / LLaMA RoPE): [x1, x2] -> [-x2, x1] on the last axis. */
export function rotateHalf(b: GraphBuilder, x: Tensor): Tensor {
  const d = x.shape[x.rank - 1];
  if (d % 2 !== 0) throw new GraphBuildError(`rotateHalf: last dimension of ${x} must be even`);
  const [x1, x2] = b.split(x, -1, [d / 2, d / 2]);
  return b.concat([b.neg(x2), x1], -1);
}

/**
 * Rotary position embedding, rotate-half form (Su et al. 2021; Hugging Face `apply_rotary_pos_emb`):
 * x * cos + rotate_half(x) * sin, with cos/sin broadcastable to x (e.g. [T, head_dim] for x [B, H, T, head_dim]).
 */
export function applyRope(b: GraphBuilder, x: Tensor, cos: Tensor, sin: Tensor): Tensor {
  return b.add(b.mul(x, cos), b.mul(rotateHalf(b, x), sin));
}

/**
 * cos/sin tables for RoPE as constants: angle(t, i) = t * base^(-2i/d) for i < d/2, duplicated to d columns
 * (the Hugging Face layout). Returns tensors of shape [seqLen, headDim].
 */
export function ropeTables(b: GraphBuilder, seqLen: number, headDim: number, dtype: 'float32' | 'float64', base = 10000): { cos: Tensor; sin: Tensor } {
  if (headDim % 2 !== 0) throw new GraphBuildError(`ropeTables: head dimension ${headDim} must be even`);
  const cos = new Array<number>(seqLen * headDim);
  const sin = new Array<number>(seqLen * headDim);
  for (let t = 0; t < seqLen; t++) {
    for (let i = 0; i < headDim; i++) {
      const angle = t * base ** (-(2 * (i % (headDim / 2))) / headDim);
      cos[t * headDim + i] = Math.cos(angle);
      sin[t * headDim + i] = Math.sin(angle);
    }
  }
  return { cos: b.constant(dtype, [seqLen, headDim], cos), sin: b.constant(dtype, [seqLen, headDim], sin) };
}

/** Additive causal mask [T, T]: 0 on and below the diagonal, `negative` above (large negative, not -inf). */
export function causalMask(b: GraphBuilder, seqLen: number, dtype: 'float32' | 'float64', negative = -1e9): Tensor {
  const values = new Array<number>(seqLen * seqLen);
  for (let i = 0; i < seqLen; i++) for (let j = 0; j < seqLen; j++) values[i * seqLen + j] = j > i ? negative : 0;
  return b.constant(dtype, [seqLen, seqLen], values);
}

