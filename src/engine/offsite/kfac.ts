/**
 * Kronecker-factored curvature statistics for a linear map y = W x (DESIGN.md "Offsite-tuning and GradOT": H delta
 * ~ G delta A with A = E[x x^T], G = E[dy dy^T]; KFAC, Martens & Grosse 2015, section 3).
 *
 * Normalisation: expectations are per token. After any number of `accumulateKfac` calls with batches of
 * N_b rows each, `kfacFactor` returns (1 / sum_b N_b) * sum over all rows of (c_b r)(c_b r)^T, where c_b is the
 * batch's `scale` (default 1).
 *
 * Loss-mean scaling: when the loss is the mean over T tokens, the output gradients a backward pass returns are
 * dy_t = (1/T) dl_t/dy_t. Passing scale = T for those batches undoes the 1/T, so G is the per-token empirical
 * Fisher factor E[dl dl^T] and A (x) G approximates the Hessian of the *mean* loss, the same objective as the
 * gradient g used beside it in the GCS. With the default scale = 1 the 1/T^2 stays in G (only fine when every
 * batch has the same T and a global constant factor is acceptable). The caller decides; it is never guessed here.
 */
import { checkShape, matmulABt } from '../linalg/dense';

export interface KfacAccumulator {
  /** Feature size d of the rows (in for A, out for G). */
  dim: number;
  /** Running sum of outer products [dim, dim]. */
  sum: Float64Array;
  /** Rows accumulated so far (tokens). */
  count: number;
}

export function createKfacAccumulator(dim: number): KfacAccumulator {
  if (!Number.isInteger(dim) || dim < 1) throw new Error(`KFAC: dimension must be a positive integer, got ${dim}`);
  return { dim, sum: new Float64Array(dim * dim), count: 0 };
}

/**
 * Adds the rows of a batch: sum += scale^2 * R^T R, count += N.
 * @param rows R [N, dim] row-major (inputs x for A, output gradients dy for G); float32 or float64
 * @param scale multiplies every row before the outer product (see the module comment for the loss-mean case)
 */
export function accumulateKfac(
  acc: KfacAccumulator,
  rows: ArrayLike<number>,
  count: number,
  scale = 1,
  name = 'KFAC batch',
): void {
  const d = acc.dim;
  checkShape(name, rows, count, d);
  if (!Number.isFinite(scale)) throw new Error(`${name}: scale ${scale} is not finite`);
  // R^T R through the register-blocked product kernel (dot-product form over tokens): (R^T)(R^T)^T.
  const rt = new Float64Array(d * count);
  for (let t = 0; t < count; t++) {
    const o = t * d;
    for (let j = 0; j < d; j++) rt[j * count + t] = scale * (rows[o + j] as number);
  }
  const outer = matmulABt(rt, d, count, rt, d);
  const sum = acc.sum;
  for (let i = 0; i < sum.length; i++) sum[i] = (sum[i] as number) + (outer[i] as number);
  acc.count += count;
}

/** The factor E[r r^T] = sum / count [dim, dim], symmetric. Throws when nothing was accumulated. */
export function kfacFactor(acc: KfacAccumulator): Float64Array {
  if (acc.count === 0) throw new Error('KFAC: no rows were accumulated');
  const d = acc.dim;
  return symmetricMean(acc.sum, d, acc.count);
}

/**
 * (S + S^T) / (2 count) of a [d, d] sum of outer products (float32 or float64): averaged with its transpose so the
 * factor is exactly symmetric whatever the summation order was; in square tiles, so the transposed reads and
 * writes of a large factor stay in cache.
 */
export function symmetricMean(sum: ArrayLike<number>, d: number, count: number): Float64Array {
  checkShape('KFAC sum', sum, d, d);
  const out = new Float64Array(d * d);
  for (let i0 = 0; i0 < d; i0 += SYMMETRISE_TILE) {
    const i1 = Math.min(d, i0 + SYMMETRISE_TILE);
    for (let j0 = i0; j0 < d; j0 += SYMMETRISE_TILE) {
      const j1 = Math.min(d, j0 + SYMMETRISE_TILE);
      for (let i = i0; i < i1; i++) {
        for (let j = Math.max(i, j0); j < j1; j++) {
          const v = 0.5 * ((sum[i * d + j] as number) + (sum[j * d + i] as number)) / count;
          out[i * d + j] = v;
          out[j * d + i] = v;
        }
      }
    }
  }
  return out;
}

const SYMMETRISE_TILE = 64;
