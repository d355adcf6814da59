/**
 * Symmetric eigendecomposition for the DRD SVDs of large attention projections, with the O(n^3) work moved out of
 * JavaScript loops (linalg/eigen.ts is the reference this is tested against):
 *  1. Householder tridiagonalisation S = Q T Q^T (the same reflectors as linalg/eigen.ts, GvL Alg. 8.3.1), Q not
 *     formed;
 *  2. eigenvalues of T by implicit QL without vectors (tql1 recurrence, O(n^2));
 *  3. eigenvectors of T by inverse iteration (LAPACK dstein's method: tridiagonal LU with partial pivoting of
 *     T - lambda I, dgttrf/dgtts2), three solves from a seeded random start, each followed by modified Gram-Schmidt
 *     against the vectors whose eigenvalues lie within 1e-3 ||T||_1 (dstein's ORTOL; farther vectors are
 *     orthogonal to eps ||T|| / gap already), O(n^2) plus the cluster work;
 *  4. back-transformation V = Q Z with the reflectors in blocks of NB, compact WY form
 *     H_k0 ... H_k1 = I - Y Tw Y^T (Schreiber & Van Loan 1989), all blocks' products in one ONNX Runtime run.
 */
import { Rng } from '../../util/random';
import { checkShape, transpose } from '../linalg/dense';
import type { OrtProducts } from './ortProducts';

const EPS = 2 ** -52;
const NB = 64;

interface Tridiagonal {
  d: Float64Array;
  e: Float64Array;
  /** Row k holds reflector k's vector v in columns k+1..n-1 (H_k = I - tau_k v v^T). */
  reflectors: Float64Array;
  taus: Float64Array;
}

function tridiagonalise(s: Float64Array, n: number): Tridiagonal {
  const a = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j <= i; j++) a[i * n + j] = 0.5 * ((s[i * n + j] as number) + (s[j * n + i] as number));
  const d = new Float64Array(n);
  const e = new Float64Array(n);
  const taus = new Float64Array(n);
  const p = new Float64Array(n);
  for (let k = 0; k < n - 2; k++) {
    const rk = k * n;
    let sigma2 = 0;
    for (let j = k + 1; j < n; j++) {
      const x = a[j * n + k] as number;
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
    a[rk + k + 1] = x0 - alpha;
    const tau = 1 / (sigma * (sigma + Math.abs(x0)));
    taus[k] = tau;
    e[k] = alpha;
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
    for (let i = k + 1; i < n; i++) p[i] = (p[i] as number) - half * (a[rk + i] as number);
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
  // Keep only the reflector vectors (row k, columns k+1..).
  const reflectors = new Float64Array(n * n);
  for (let k = 0; k < n - 2; k++) reflectors.set(a.subarray(k * n + k + 1, k * n + n), k * n + k + 1);
  return { d, e, reflectors, taus };
}

/** Eigenvalues of the tridiagonal (d, e) by implicit QL without vectors (same recurrence as linalg/eigen.ts). */
function tridiagonalEigenvalues(d0: Float64Array, e0: Float64Array, n: number): Float64Array {
  const d = Float64Array.from(d0);
  const e = Float64Array.from(e0);
  for (let l = 0; l < n; l++) {
    let iter = 0;
    let m: number;
    do {
      for (m = l; m < n - 1; m++) {
        const dd = Math.abs(d[m] as number) + Math.abs(d[m + 1] as number);
        if (Math.abs(e[m] as number) <= EPS * dd) break;
      }
      if (m !== l) {
        if (iter++ === 60) throw new Error(`tridiagonal eigenvalues: no convergence for eigenvalue ${l} of ${n}`);
        let g = ((d[l + 1] as number) - (d[l] as number)) / (2 * (e[l] as number));
        let r = Math.hypot(g, 1);
        g = (d[m] as number) - (d[l] as number) + (e[l] as number) / (g + (g >= 0 ? r : -r));
        let s = 1;
        let c = 1;
        let p = 0;
        let underflow = false;
        for (let i = m - 1; i >= l; i--) {
          const f = s * (e[i] as number);
          const b = c * (e[i] as number);
          r = Math.hypot(f, g);
          e[i + 1] = r;
          if (r === 0) {
            d[i + 1] = (d[i + 1] as number) - p;
            e[m] = 0;
            underflow = true;
            break;
          }
          s = f / r;
          c = g / r;
          g = (d[i + 1] as number) - p;
          r = ((d[i] as number) - g) * s + 2 * c * b;
          p = s * r;
          d[i + 1] = g + p;
          g = c * r - b;
        }
        if (underflow) continue;
        d[l] = (d[l] as number) - p;
        e[l] = g;
        e[m] = 0;
      }
    } while (m !== l);
  }
  return d;
}

/** LU with partial pivoting of the tridiagonal T - lambda I (LAPACK dgttrf), as a solver (dgtts2). */
function shiftedSolver(d: Float64Array, e: Float64Array, n: number, lambda: number, tiny: number): (b: Float64Array) => void {
  const dl = new Float64Array(n);
  const dd = new Float64Array(n);
  const du = new Float64Array(n);
  const du2 = new Float64Array(n);
  const piv = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    dd[i] = (d[i] as number) - lambda;
    dl[i] = e[i] as number;
    du[i] = e[i] as number;
  }
  for (let i = 0; i < n - 1; i++) {
    const di = dd[i] as number;
    const li = dl[i] as number;
    if (Math.abs(di) >= Math.abs(li)) {
      const fact = li / (di === 0 ? tiny : di);
      dl[i] = fact;
      dd[i + 1] = (dd[i + 1] as number) - fact * (du[i] as number);
    } else {
      const fact = di / li;
      dd[i] = li;
      dl[i] = fact;
      const temp = du[i] as number;
      du[i] = dd[i + 1] as number;
      dd[i + 1] = temp - fact * (dd[i + 1] as number);
      if (i < n - 2) {
        du2[i] = du[i + 1] as number;
        du[i + 1] = -fact * (du[i + 1] as number);
      }
      piv[i] = 1;
    }
  }
  for (let i = 0; i < n; i++) if (Math.abs(dd[i] as number) < tiny) dd[i] = (dd[i] as number) >= 0 ? tiny : -tiny;
  return (b) => {
    for (let i = 0; i < n - 1; i++) {
      if (piv[i] === 0) b[i + 1] = (b[i + 1] as number) - (dl[i] as number) * (b[i] as number);
      else {
        const temp = b[i] as number;
        b[i] = b[i + 1] as number;
        b[i + 1] = temp - (dl[i] as number) * (b[i] as number);
      }
    }
    b[n - 1] = (b[n - 1] as number) / (dd[n - 1] as number);
    if (n > 1) b[n - 2] = ((b[n - 2] as number) - (du[n - 2] as number) * (b[n - 1] as number)) / (dd[n - 2] as number);
    for (let i = n - 3; i >= 0; i--) {
      b[i] = ((b[i] as number) - (du[i] as number) * (b[i + 1] as number) - (du2[i] as number) * (b[i + 2] as number)) / (dd[i] as number);
    }
  };
}

function normalise(x: Float64Array): void {
  let s = 0;
  for (const v of x) s += v * v;
  const inv = 1 / Math.sqrt(s);
  for (let i = 0; i < x.length; i++) x[i] = (x[i] as number) * inv;
}

/** Eigenvectors of T as rows [n, n], for eigenvalues `values` ascending (inverse iteration, see module comment). */
function tridiagonalEigenvectors(d: Float64Array, e: Float64Array, n: number, values: Float64Array): Float64Array {
  let norm = 0;
  for (let i = 0; i < n; i++) norm = Math.max(norm, Math.abs(d[i] as number) + Math.abs(e[i] as number) + (i > 0 ? Math.abs(e[i - 1] as number) : 0));
  const ortol = 1e-3 * norm;
  const tiny = Math.max(EPS * norm, Number.MIN_VALUE);
  const rng = new Rng(0x7a1e);
  const z = new Float64Array(n * n);
  const x = new Float64Array(n);
  let first = 0;
  const shifts = Float64Array.from(values);
  for (let j = 0; j < n; j++) {
    // Coincident eigenvalues get slightly separated shifts (dstein's PERTOL), so the solves differ.
    if (j > 0 && (shifts[j] as number) - (shifts[j - 1] as number) < 10 * EPS * Math.max(norm, 1)) shifts[j] = (shifts[j - 1] as number) + 10 * EPS * Math.max(norm, 1);
    while ((values[j] as number) - (values[first] as number) > ortol) first += 1;
    const solve = shiftedSolver(d, e, n, shifts[j] as number, tiny);
    for (let i = 0; i < n; i++) x[i] = rng.normal();
    for (let it = 0; it < 3; it++) {
      solve(x);
      normalise(x);
      for (let pass = 0; pass < 2; pass++) {
        for (let k = first; k < j; k++) {
          const o = k * n;
          let dot = 0;
          for (let i = 0; i < n; i++) dot += (z[o + i] as number) * (x[i] as number);
          for (let i = 0; i < n; i++) x[i] = (x[i] as number) - dot * (z[o + i] as number);
        }
      }
      normalise(x);
    }
    z.set(x, j * n);
  }
  return z;
}

/**
 * Eigendecomposition of a symmetric S [n, n]: eigenvalues descending and eigenvectors as rows [n, n] (the
 * contract of linalg/eigen.ts symmetricEigen), with the back-transformation on ORT.
 */
export async function symmetricEigenFast(s: Float64Array, n: number, ort: OrtProducts): Promise<{ values: Float64Array; vectors: Float64Array }> {
  checkShape('symmetricEigenFast: S', s, n, n);
  const { d, e, reflectors, taus } = tridiagonalise(s, n);
  const ascending = tridiagonalEigenvalues(d, e, n).sort();
  const zRows = tridiagonalEigenvectors(d, e, n, ascending); // row j: eigenvector j of T
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
      // Forward compact WY: Tw upper triangular, Tw[c][c] = tau_c, Tw[0:c, c] = -tau_c Tw[0:c, 0:c] (Y[:, 0:c]^T v_c).
      const yty = new Float64Array(NB * NB);
      for (let i = 0; i < n; i++) {
        const r = yo + i * NB;
        for (let a = 0; a < NB; a++) {
          const ya = y[r + a] as number;
          if (ya === 0) continue;
          for (let b = a + 1; b < NB; b++) yty[a * NB + b] = (yty[a * NB + b] as number) + ya * (y[r + b] as number);
        }
      }
      const to = blk * NB * NB;
      for (let c = 0; c < NB; c++) {
        const tau = k0 + c < reflectorCount ? (taus[k0 + c] as number) : 0;
        tw[to + c * NB + c] = tau;
        for (let a = 0; a < c; a++) {
          let acc = 0;
          for (let b = a; b < c; b++) acc += (tw[to + a * NB + b] as number) * (yty[b * NB + c] as number);
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
