/**
 * Symmetric eigendecomposition for the DRD SVDs of large attention projections, with the O(n^3) work moved out of
 * JavaScript loops (linalg/eigen.ts is the reference this is tested against):
 *  1. Householder tridiagonalisation S = Q T Q^T (the same reflectors as linalg/eigen.ts, GvL Alg. 8.3.1), blocked
 *     with the trailing updates on ORT (blockedTridiagonal.ts), Q not formed;
 *  2. eigenvalues of T by implicit QL without vectors (tql1 recurrence, O(n^2));
 *  3. eigenvectors of T by inverse iteration (LAPACK dstein's method: tridiagonal LU with partial pivoting of
 *     T - lambda I, dgttrf/dgtts2), three solves from a seeded random start, each followed by modified Gram-Schmidt
 *     against the vectors whose eigenvalues lie within 1e-3 ||T||_1 (dstein's ORTOL; farther vectors are
 *     orthogonal to eps ||T|| / gap already), O(n^2) plus the cluster work;
 *  4. back-transformation V = Q Z with the reflectors in blocks of NB, compact WY form
 *     H_k0 ... H_k1 = I - Y Tw Y^T (Schreiber & Van Loan 1989): the blocks' Y^T Y in one ONNX Runtime run, Tw's
 *     recurrence in JavaScript, all blocks' products in a second run.
 */
import { Rng } from '../util/random';
import { checkShape, transpose } from './dense';
import { tridiagonaliseBlocked } from './blockedTridiagonal';
import type { OrtProducts } from './ortProducts';
import { tridiagonalSpectrum } from './tridiagonalSpectrum';

const NB = 64;

/**
 * The seeded random start vectors of inverse iteration, rows [n, n]: the same stream for every matrix of size n
 * (seed 0x7a1e, n normals per eigenvector in order), so it is drawn once per size and kept.
 */
export type SpectrumSolver = (d: Float64Array, e: Float64Array, n: number) => Promise<{ ascending: Float64Array; zRows: Float64Array }>;

const startCache = new Map<number, Float64Array>();
const START_CACHE_SIZES = 4;
/** Larger sizes are drawn each time (n^2 draws are cheap beside the O(n^3) work, and the cache stays small). */
const START_CACHE_MAX_N = 2048;

export function startVectors(n: number): Float64Array {
  const cached = startCache.get(n);
  if (cached !== undefined) return cached;
  const starts = new Rng(0x7a1e).normalArray(n * n);
  if (n <= START_CACHE_MAX_N) {
    if (startCache.size >= START_CACHE_SIZES) startCache.clear();
    startCache.set(n, starts);
  }
  return starts;
}

/** The spectrum of T in this thread. */
export const inProcessSpectrum: SpectrumSolver = async (d, e, n) => tridiagonalSpectrum(d, e, n, startVectors(n));

/**
 * Eigendecomposition of a symmetric S [n, n]: eigenvalues descending and eigenvectors as rows [n, n] (the
 * contract of linalg/eigen.ts symmetricEigen), with the back-transformation on ORT; `spectrum` solves the
 * tridiagonal problem (in this thread by default, or in a worker: spectrumWorker.ts).
 */
export async function symmetricEigenFast(s: Float64Array, n: number, ort: OrtProducts, spectrum: SpectrumSolver = inProcessSpectrum): Promise<{ values: Float64Array; vectors: Float64Array }> {
  checkShape('symmetricEigenFast: S', s, n, n);
  const { d, e, reflectors, taus } = await tridiagonaliseBlocked(s, n, ort);
  const { ascending, zRows } = await spectrum(d, e, n); // row j of zRows: eigenvector j of T
  // V = Q Z with Z's columns the eigenvectors: Z [n (coordinate), n (eigenvector)], Q = H_0 ... H_{n-3} applied
  // as blocks of NB reflectors (the last block padded with tau = 0 identities), all in one ORT run.
  const reflectorCount = Math.max(0, n - 2);
  const blocks = Math.ceil(reflectorCount / NB);
  let z = transpose(zRows, n, n);
  if (blocks > 0) {
    const y = new Float64Array(blocks * n * NB);
    const tw = new Float64Array(blocks * NB * NB);
    for (let blk = 0; blk < blocks; blk++) {
      const k0 = blk * NB;
      const yo = blk * n * NB;
      for (let c = 0; c < NB && k0 + c < reflectorCount; c++) {
        const k = k0 + c;
        for (let i = k + 1; i < n; i++) y[yo + i * NB + c] = reflectors[k * n + i] as number;
      }
    }
    const ytys = await ort.blockGrams(y, blocks, n, NB); // Y_b^T Y_b [blocks, NB, NB]
    for (let blk = 0; blk < blocks; blk++) {
      const k0 = blk * NB;
      // Forward compact WY: Tw upper triangular, Tw[c][c] = tau_c, Tw[0:c, c] = -tau_c Tw[0:c, 0:c] (Y[:, 0:c]^T v_c).
      const to = blk * NB * NB;
      for (let c = 0; c < NB; c++) {
        const tau = k0 + c < reflectorCount ? (taus[k0 + c] as number) : 0;
        tw[to + c * NB + c] = tau;
        for (let a = 0; a < c; a++) {
          let acc = 0;
          for (let b = a; b < c; b++) acc += (tw[to + a * NB + b] as number) * (ytys[to + b * NB + c] as number);
          tw[to + a * NB + c] = -tau * acc;
        }
      }
    }
    z = await ort.applyWyBlocks(y, tw, z, blocks, n, NB, n);
  }
  const vectorsAscending = transpose(z, n, n);
  const values = new Float64Array(n);
  const vectors = new Float64Array(n * n);
  for (let j = 0; j < n; j++) {
    values[j] = ascending[n - 1 - j] as number;
    vectors.set(vectorsAscending.subarray((n - 1 - j) * n, (n - j) * n), j * n);
  }
  return { values, vectors };
}
