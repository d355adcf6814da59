/**
 * Singular value decompositions for DRD (GradOT) and the magnitude-SVD baseline.
 *
 * Shapes: W [m, n] row-major (a Linear weight [out, in]). A decomposition W ~ sum_k s_k u_k v_k^T is returned with
 * the singular vectors as rows, `ut` [r, m] (row k = u_k) and `vt` [r, n] (row k = v_k), so each vector is
 * contiguous, and s sorted descending.
 *
 * Full SVD (`svdFull`): eigendecomposition of the smaller Gram matrix (W^T W [n, n] when m >= n, else W W^T),
 * then the other side's vectors as W v_k / ||W v_k|| (or W^T u_k / ||W^T u_k||) with s_k = ||W v_k||. Why this
 * method: DRD needs *every* singular triplet (each component is a removal candidate), and for the d <= ~1024
 * attention projections of the target models the Gram product (fast kernel, n^2 m flops) plus one symmetric
 * eigensolve (eigen.ts: Householder tridiagonalisation + implicit QL, contiguous row-major loops) is several
 * times faster in JavaScript than one-sided Jacobi (many n^3 sweeps) or ml-matrix's Golub-Kahan SVD (see
 * bench/svd.ts for the measured numbers). The price is accuracy for tiny singular values: the relative error of s_k is about
 * eps * (s_max / s_k)^2 (squared condition number), i.e. 1e-10 at s_max / s_k = 1e3, well below what a
 * component ranking needs (the derived vectors' error is of the same order). The Gram eigenproblem cannot resolve
 * s_k below about sqrt(eps) s_max (its eigenvalue noise is ~eps s_max^2), so components with
 * s_k <= ZERO_SINGULAR_VALUE_RATIO * s_max (1e-7) are returned with s_k = 0;
 * their derived-side vectors are an orthonormal completion (Gaussian rows from a fixed internal seed,
 * orthogonalised against the others), so U and V always have orthonormal rows.
 *
 * Randomized SVD (`svdRandomized`): Halko, Martinsson & Tropp, "Finding structure with randomness", SIAM Review
 * 2011: Algorithm 4.4 (randomized subspace iteration: Gaussian test matrix with oversampling p, q power
 * iterations, re-orthonormalising after every product) followed by Algorithm 5.1 (SVD of B = Q^T W [l, n] by the
 * full path above, U = Q U_B).
 *
 * Cost (bench/svd.ts, CPU seconds on one core of the project's 2-core machine, measured under load): full SVD
 * 768 x 768 about 4 s; randomized 4096 x 4096 rank 256 (p = 10, q = 2) about 35 s. A 4096 x 4096 rank-2048
 * decomposition is about 9e11 flops (six 4096 x 4096 x 2058 products, five orthonormalisations of 2058 rows,
 * an eigensolve of 2058) - roughly ten minutes in single-threaded JavaScript; that size needs the products
 * on ONNX Runtime or a GPU.
 */
import { Rng } from '../util/random';
import { checkShape, l2, matmulABt, transpose } from './dense';
import { symmetricEigen } from './eigen';

/** Singular values at or below this fraction of the largest are reported as 0 by svdFull (see above). */
export const ZERO_SINGULAR_VALUE_RATIO = 1e-7;

export interface Svd {
  /** m: rows of W. */
  rows: number;
  /** n: columns of W. */
  cols: number;
  /** Number of components returned. */
  rank: number;
  /** Singular values, descending [rank]. */
  s: Float64Array;
  /** Left singular vectors as rows [rank, m]. */
  ut: Float64Array;
  /** Right singular vectors as rows [rank, n]. */
  vt: Float64Array;
}

/** Normalises each row of `x` [r, len] by `norms`, zeroing rows whose norm is <= tol; returns the norms used. */
function normaliseRows(x: Float64Array, r: number, len: number, tol: number): Float64Array {
  const norms = new Float64Array(r);
  for (let k = 0; k < r; k++) {
    const nk = l2(x, k, len);
    const o = k * len;
    if (nk <= tol) {
      norms[k] = 0;
      x.fill(0, o, o + len);
    } else {
      norms[k] = nk;
      for (let t = 0; t < len; t++) x[o + t] = (x[o + t] as number) / nk;
    }
  }
  return norms;
}

/** Reorders components by descending singular value (the Gram eigenvalues' order can differ slightly). */
function sortComponents(svd: Svd): Svd {
  const { rank, rows: m, cols: n } = svd;
  const order = Array.from({ length: rank }, (_, i) => i).sort((a, b) => (svd.s[b] ?? 0) - (svd.s[a] ?? 0));
  if (order.every((v, i) => v === i)) return svd;
  const s = new Float64Array(rank);
  const ut = new Float64Array(rank * m);
  const vt = new Float64Array(rank * n);
  order.forEach((src, dst) => {
    s[dst] = svd.s[src] ?? 0;
    ut.set(svd.ut.subarray(src * m, src * m + m), dst * m);
    vt.set(svd.vt.subarray(src * n, src * n + n), dst * n);
  });
  return { ...svd, s, ut, vt };
}

/** Full (thin) SVD of W [m, n]: rank = min(m, n) components. See the module comment for the method. */
export function svdFull(w: Float64Array, m: number, n: number): Svd {
  checkShape('svdFull: W', w, m, n);
  const r = Math.min(m, n);
  const wt = transpose(w, m, n); // [n, m]
  let ut: Float64Array;
  let vt: Float64Array;
  let s: Float64Array;
  if (m >= n) {
    const gram = matmulABt(wt, n, m, wt, n); // W^T W [n, n]
    const { values, vectors } = symmetricEigen(gram, n);
    vt = vectors; // [n, n]
    ut = matmulABt(vt, n, n, w, m); // row k = (W v_k)^T [n, m]
    const tol = Math.sqrt(Math.max(values[0] ?? 0, 0)) * ZERO_SINGULAR_VALUE_RATIO;
    s = normaliseRows(ut, r, m, tol);
  } else {
    const gram = matmulABt(w, m, n, w, m); // W W^T [m, m]
    const { values, vectors } = symmetricEigen(gram, m);
    ut = vectors; // [m, m]
    vt = matmulABt(ut, m, m, wt, n); // row k = (W^T u_k)^T [m, n]
    const tol = Math.sqrt(Math.max(values[0] ?? 0, 0)) * ZERO_SINGULAR_VALUE_RATIO;
    s = normaliseRows(vt, r, n, tol);
  }
  const sorted = sortComponents({ rows: m, cols: n, rank: r, s, ut, vt });
  const firstZero = sorted.s.findIndex((v) => v === 0);
  if (firstZero >= 0) {
    // Zero components sort last; complete the derived side (the eigen side is orthonormal already).
    const [x, len] = m >= n ? [sorted.ut, m] : [sorted.vt, n];
    const rng = new Rng(0x5eed);
    for (let t = firstZero * len; t < r * len; t++) x[t] = rng.normal();
    orthonormalizeRows(x, r, len, rng, firstZero);
  }
  return sorted;
}

/** The first `k` components of a decomposition. */
export function truncateSvd(svd: Svd, k: number): Svd {
  if (!Number.isInteger(k) || k < 0 || k > svd.rank) throw new Error(`truncateSvd: k = ${k} not in [0, ${svd.rank}]`);
  return {
    rows: svd.rows,
    cols: svd.cols,
    rank: k,
    s: svd.s.slice(0, k),
    ut: svd.ut.slice(0, k * svd.rows),
    vt: svd.vt.slice(0, k * svd.cols),
  };
}

/**
 * Orthonormalises the rows of X [r, len] in place by classical Gram-Schmidt applied twice ("twice is enough":
 * Giraud, Langou & Rozloznik 2005), which keeps orthogonality at machine precision. A row that vanishes (its
 * norm after projection is below 1e-10 of its norm before: X was rank-deficient) is replaced by a Gaussian row
 * from `rng` and orthogonalised again, so the result always has r orthonormal rows (r <= len). Rows before
 * `start` are taken as orthonormal already and left untouched.
 */
export function orthonormalizeRows(x: Float64Array, r: number, len: number, rng: Rng, start = 0): Float64Array {
  checkShape('orthonormalizeRows: X', x, r, len);
  if (r > len) throw new Error(`orthonormalizeRows: ${r} rows cannot be orthonormal in dimension ${len}`);
  const project = (i: number): void => {
    const oi = i * len;
    for (let pass = 0; pass < 2; pass++) {
      for (let j = 0; j < i; j++) {
        const oj = j * len;
        let d = 0;
        for (let t = 0; t < len; t++) d += (x[oj + t] as number) * (x[oi + t] as number);
        for (let t = 0; t < len; t++) x[oi + t] = (x[oi + t] as number) - d * (x[oj + t] as number);
      }
    }
  };
  for (let i = start; i < r; i++) {
    const oi = i * len;
    const before = l2(x, i, len);
    project(i);
    let after = l2(x, i, len);
    for (let attempt = 0; !(after > 1e-10 * before) && attempt < 5; attempt++) {
      for (let t = 0; t < len; t++) x[oi + t] = rng.normal();
      project(i);
      after = l2(x, i, len);
    }
    if (!(after > 0)) throw new Error(`orthonormalizeRows: could not complete row ${i} of ${r}`);
    for (let t = 0; t < len; t++) x[oi + t] = (x[oi + t] as number) / after;
  }
  return x;
}

export interface RandomizedSvdOptions {
  /** Oversampling p (HMT 2011 suggest 5-10). Default 10. */
  oversampling?: number;
  /** Power (subspace) iterations q. Default 2. */
  powerIterations?: number;
}

/**
 * Rank-k approximate SVD of W [m, n] (HMT 2011, Alg. 4.4 + 5.1). With l = k + p >= min(m, n) it falls back to
 * svdFull, which is then exact and no slower. Exact (to rounding) when rank(W) <= l.
 */
export function svdRandomized(
  w: Float64Array,
  m: number,
  n: number,
  k: number,
  rng: Rng,
  options: RandomizedSvdOptions = {},
): Svd {
  checkShape('svdRandomized: W', w, m, n);
  const full = Math.min(m, n);
  if (!Number.isInteger(k) || k < 1 || k > full) throw new Error(`svdRandomized: k = ${k} not in [1, ${full}]`);
  const p = options.oversampling ?? 10;
  const q = options.powerIterations ?? 2;
  const l = Math.min(full, k + p);
  if (l >= full) return truncateSvd(svdFull(w, m, n), k);
  const wt = transpose(w, m, n); // [n, m]
  const omegaT = rng.normalArray(l * n); // Omega^T [l, n]
  let qT = orthonormalizeRows(matmulABt(omegaT, l, n, w, m), l, m, rng); // (W Omega)^T -> Q^T [l, m]
  for (let it = 0; it < q; it++) {
    const zT = orthonormalizeRows(matmulABt(qT, l, m, wt, n), l, n, rng); // (W^T Q)^T [l, n]
    qT = orthonormalizeRows(matmulABt(zT, l, n, w, m), l, m, rng); // (W Z)^T [l, m]
  }
  const b = matmulABt(qT, l, m, wt, n); // B = Q^T W [l, n]
  const small = svdFull(b, l, n); // ut [l, l], vt [l, n]
  const ut = matmulABt(small.ut, l, l, transpose(qT, l, m), m); // rows (Q u_B,k)^T [l, m]
  return truncateSvd({ rows: m, cols: n, rank: l, s: small.s, ut, vt: small.vt }, k);
}

/** W_k = sum_{k in kept} s_k u_k v_k^T as a dense [m, n] matrix (for tests and diagnostics). */
export function reconstruct(svd: Svd, kept?: readonly number[]): Float64Array {
  const { rows: m, cols: n } = svd;
  const idx = kept ?? Array.from({ length: svd.rank }, (_, i) => i);
  const out = new Float64Array(m * n);
  for (const k of idx) {
    const sk = svd.s[k] ?? 0;
    for (let i = 0; i < m; i++) {
      const a = sk * (svd.ut[k * m + i] as number);
      if (a === 0) continue;
      const o = i * n;
      for (let j = 0; j < n; j++) out[o + j] = (out[o + j] as number) + a * (svd.vt[k * n + j] as number);
    }
  }
  return out;
}
