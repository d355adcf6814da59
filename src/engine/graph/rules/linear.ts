// Gradient rules of MatMul and Gemm. For Y = A B: dA = dY B^T, dB = A^T dY (summed over broadcast batch dims).
// Whenever B is a 2-D weight the products run as Gemm with transA/transB, so a (possibly huge, frozen) weight
// is never transposed by copy and the batch is folded into the row dimension by a free reshape.
import type { GradEmitter, GradRule } from '../tape';
import type { Tensor } from '../tensor';

/** alpha * op(x) op(y) with op = transpose where flagged (Gemm, no copies). */
function gemmT(b: GradEmitter, x: Tensor, y: Tensor, tx: boolean, ty: boolean, alpha: number): Tensor {
  return b.gemm(x, y, undefined, { transA: tx, transB: ty, alpha });
}

export const matmulGrad: GradRule = (b, { inputs: [a, w], dOutputs: [gOut], needs }) => {
  const g = gOut!;
  const k = a.shape[a.rank - 1];
  const n = w.shape[w.rank - 1];
  let dA: Tensor | null = null;
  let dW: Tensor | null = null;
  if (needs[0]) {
    if (w.rank === 2) {
      const rows = gemmT(b, b.reshape(g, [-1, n]), w, false, true, 1);
      dA = b.reshape(rows, [...g.shape.slice(0, -1), k]);
      dA = b.sumToShape(dA, a.shape);
    } else {
      dA = b.sumToShape(b.matmul(g, b.transposeLast2(w)), a.shape);
    }
  }
  if (needs[1]) {
    if (w.rank === 2) {
      // w 2-D: the output's batch dims are a's, so a folds to [P, K] and g to [P, N].
      dW = gemmT(b, b.reshape(a, [-1, k]), b.reshape(g, [-1, n]), true, false, 1);
    } else {
      dW = b.sumToShape(b.matmul(b.transposeLast2(a), g), w.shape);
    }
  }
  return [dA, dW];
};

/**
 * Y = alpha op(A) op(B) + beta C. With G = dY:
 *   transA=0: dA = alpha G op(B)^T        transA=1: dA = alpha op(B) G^T
 *   transB=0: dB = alpha op(A)^T G        transB=1: dB = alpha G^T op(A)
 *   dC = beta * G summed to C's shape.
 */
export function gemmGrad(o: { transA: boolean; transB: boolean; alpha: number; beta: number }): GradRule {
  return (b, { inputs: [a, w, c], dOutputs: [gOut], needs }) => {
    const g = gOut!;
    const dA = !needs[0] ? null : o.transA ? gemmT(b, w, g, o.transB, true, o.alpha) : gemmT(b, g, w, false, !o.transB, o.alpha);
    const dB = !needs[1] ? null : o.transB ? gemmT(b, g, a, true, o.transA, o.alpha) : gemmT(b, a, g, !o.transA, false, o.alpha);
    const grads: (Tensor | null)[] = [dA, dB];
    if (c) grads.push(needs[2] ? b.mul(b.sumToShape(g, c.shape), o.beta) : null);
    return grads;
  };
}
