/**
 * Symmetric eigendecomposition S = E^T diag(lambda) E for the Gram matrices of the SVD (svd.ts), written for
 * row-major Float64Arrays so that every inner loop runs over contiguous memory (ml-matrix's EVD, a JAMA port on
 * arrays of arrays, walks columns). The method is the classical one (Golub & Van Loan, "Matrix Computations",
 * 4th ed., sections 8.3.1 and 8.3.3; EISPACK tred2/tql2):
 *  1. Householder tridiagonalisation S = Q T Q^T; reflector k is applied to the trailing block as the symmetric
 *     rank-2 update A22 -= v w^T + w v^T with p = tau A22 v, w = p - (tau/2)(p.v) v (GvL Alg. 8.3.1), on the
 *     lower triangle only;
 *  2. implicit symmetric QL iterations with Wilkinson-type shifts on T (the tql2/tqli recurrence), the plane
 *     rotations applied to the rows of Q^T, so the rows end as the eigenvectors (Q Z)^T and stay contiguous.
 */
import { checkShape, transpose } from './dense';
import { tridiagonalQl } from './tridiagonalSpectrum';


/** Householder tridiagonalisation. Returns the diagonal d [n], off-diagonal e [n] (e[i] couples i, i+1; e[n-1] = 0), and Q [n, n]. */
export function tridiagonalise(s: Float64Array, n: number): { d: Float64Array; e: Float64Array; q: Float64Array } {
  const a = Float64Array.from(s);
  const d = new Float64Array(n);
  const e = new Float64Array(n);
  const taus = new Float64Array(n);
  const p = new Float64Array(n);
  // Only the lower triangle (j <= i) of the trailing block is kept up to date, halving the rank-2 update; row k's
  // upper part, no longer needed, stores reflector k's vector v for the accumulation of Q.
  for (let k = 0; k < n - 2; k++) {
    const rk = k * n;
    let sigma2 = 0;
    for (let j = k + 1; j < n; j++) {
      const x = a[j * n + k] as number; // column k below the diagonal (lower triangle)
      a[rk + j] = x;
      sigma2 += x * x;
    }
    d[k] = a[rk + k] as number;
    const x0 = a[rk + k + 1] as number;
    const sigma = Math.sqrt(sigma2);
    if (sigma === 0) {
      e[k] = 0;
      taus[k] = 0;
      continue;
    }
    const alpha = x0 >= 0 ? -sigma : sigma;
    // v = x - alpha e1 in row k, columns k+1..n-1; tau = 2 / (v.v), v.v = 2 sigma (sigma + |x0|).
    a[rk + k + 1] = x0 - alpha;
    const tau = 1 / (sigma * (sigma + Math.abs(x0)));
    taus[k] = tau;
    e[k] = alpha;
    // p = A22 v from the lower triangle: row i contributes a_ij v_j to p_i (j <= i) and a_ij v_i to p_j (j < i).
    p.fill(0, k + 1, n);
    for (let i = k + 1; i < n; i++) {
      const ri = i * n;
      const vi = a[rk + i] as number;
      let acc = 0;
      for (let j = k + 1; j < i; j++) {
        const aij = a[ri + j] as number;
        acc += aij * (a[rk + j] as number);
        p[j] = (p[j] as number) + aij * vi;
      }
      p[i] = (p[i] as number) + acc + (a[ri + i] as number) * vi;
    }
    let pv = 0;
    for (let i = k + 1; i < n; i++) {
      p[i] = tau * (p[i] as number);
      pv += (p[i] as number) * (a[rk + i] as number);
    }
    const half = 0.5 * tau * pv;
    for (let i = k + 1; i < n; i++) p[i] = (p[i] as number) - half * (a[rk + i] as number); // p now holds w
    for (let i = k + 1; i < n; i++) {
      const ri = i * n;
      const vi = a[rk + i] as number;
      const wi = p[i] as number;
      for (let j = k + 1; j <= i; j++) a[ri + j] = (a[ri + j] as number) - vi * (p[j] as number) - wi * (a[rk + j] as number);
    }
  }
  if (n >= 2) {
    d[n - 2] = a[(n - 2) * n + n - 2] as number;
    e[n - 2] = a[(n - 1) * n + n - 2] as number;
  }
  d[n - 1] = a[(n - 1) * n + n - 1] as number;
  e[n - 1] = 0;
  // Q = H_0 H_1 ... H_{n-3}, accumulated from the last reflector (which touches the fewest rows).
  const q = new Float64Array(n * n);
  for (let i = 0; i < n; i++) q[i * n + i] = 1;
  const row = new Float64Array(n);
  for (let k = n - 3; k >= 0; k--) {
    const tau = taus[k] as number;
    if (tau === 0) continue;
    const rk = k * n;
    // Q[k+1:, k+1:] -= tau v (v^T Q[k+1:, k+1:]); columns <= k of those rows are still zero.
    row.fill(0, k + 1, n);
    for (let i = k + 1; i < n; i++) {
      const vi = a[rk + i] as number;
      const ri = i * n;
      for (let j = k + 1; j < n; j++) row[j] = (row[j] as number) + vi * (q[ri + j] as number);
    }
    for (let i = k + 1; i < n; i++) {
      const f = tau * (a[rk + i] as number);
      const ri = i * n;
      for (let j = k + 1; j < n; j++) q[ri + j] = (q[ri + j] as number) - f * (row[j] as number);
    }
  }
  return { d, e, q };
}

/**
 * Eigendecomposition of a symmetric matrix S [n, n] (only its symmetric part is used: (S + S^T) / 2).
 * Returns the eigenvalues descending and the eigenvectors as rows [n, n] (row j belongs to values[j]).
 */
export function symmetricEigen(s: Float64Array, n: number): { values: Float64Array; vectors: Float64Array } {
  checkShape('symmetricEigen: S', s, n, n);
  const sym = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) sym[i * n + j] = 0.5 * ((s[i * n + j] as number) + (s[j * n + i] as number));
  const { d, e, q } = tridiagonalise(sym, n);
  // Rotating the rows of Q^T instead of I gives row j = sum_t Z_tj (row t of Q^T) = (Q z_j)^T directly.
  const vectorsUnsorted = transpose(q, n, n);
  tridiagonalQl(d, e, n, vectorsUnsorted);
  const order = Array.from({ length: n }, (_, i) => i).sort((x, y) => (d[y] as number) - (d[x] as number));
  const values = new Float64Array(n);
  const vectors = new Float64Array(n * n);
  order.forEach((src, dst) => {
    values[dst] = d[src] as number;
    vectors.set(vectorsUnsorted.subarray(src * n, src * n + n), dst * n);
  });
  return { values, vectors };
}
