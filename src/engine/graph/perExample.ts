// Per-example gradients and KFAC statistics of a linear map y = x W (W: [in, out]), from the layer input x and
// the output gradient dL/dy (an output-gradient hook, see GradientOptions.hooks), in the same session as the loss.
import type { GraphBuilder } from './builder';
import { GraphBuildError } from './errors';
import { formatShape } from './shape';
import type { Tensor } from './tensor';

/**
 * dL/dW for each example b of the batch, without summing over the batch: G_b = sum_t x[b,t]^T dy[b,t].
 * x: [B, ..., in], dy: [B, ..., out] -> [B, in, out]. Summed over b it equals the batch gradient of W.
 */
export function perExampleLinearGradient(b: GraphBuilder, x: Tensor, dy: Tensor): Tensor {
  const batch = x.shape[0];
  const inF = x.shape[x.rank - 1];
  const outF = dy.shape[dy.rank - 1];
  if (x.rank < 2 || dy.rank !== x.rank || dy.shape[0] !== batch || x.shape.slice(1, -1).some((d, i) => d !== dy.shape[i + 1])) {
    throw new GraphBuildError(`perExampleLinearGradient: x ${formatShape(x.shape)} and dy ${formatShape(dy.shape)} do not match`);
  }
  if (x.rank === 2) return b.matmul(b.unsqueeze(x, [2]), b.unsqueeze(dy, [1]));
  const x3 = b.reshape(x, [batch, -1, inF]);
  const dy3 = b.reshape(dy, [batch, -1, outF]);
  return b.matmul(b.transpose(x3, [0, 2, 1]), dy3);
}

/** Second-moment matrix E[v v^T] over all rows of v ([..., d] -> [d, d]): KFAC's A (inputs) or G (output gradients). */
export function secondMoment(b: GraphBuilder, v: Tensor): Tensor {
  const d = v.shape[v.rank - 1];
  const rows = b.reshape(v, [-1, d]);
  // 1/n as a Mul on the small [d, d] result, not Gemm's alpha: attributes are float32 even in float64 graphs.
  return b.mul(b.gemm(rows, rows, undefined, { transA: true }), 1 / rows.shape[0]);
}
