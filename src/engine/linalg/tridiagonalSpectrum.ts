/**
 * The spectrum of a symmetric tridiagonal T = (d, e) for fastEigen.ts, in plain numeric JavaScript with no free
 * variables beyond these functions, so that spectrumWorker.ts can run the very same code (their source) in a
 * worker thread: eigenvalues by implicit QL without vectors (tql1), eigenvectors by inverse iteration (LAPACK
 * dstein's method; see fastEigen.ts's module comment).
 */

/**
 * Implicit QL on the tridiagonal (d, e), in place: d becomes the eigenvalues (unsorted). With `zt` [n, n] the
 * rotations are also applied to its rows: started at I, row j ends as the j-th eigenvector of T; started at Q^T,
 * as (Q z_j)^T (linalg/eigen.ts). Without it this is tql1.
 */
export function tridiagonalQl(d: Float64Array, e: Float64Array, n: number, zt?: Float64Array): void {
  const EPS = 2 ** -52;
  for (let l = 0; l < n; l++) {
    let iter = 0;
    let m: number;
    do {
      for (m = l; m < n - 1; m++) {
        const dd = Math.abs(d[m] as number) + Math.abs(d[m + 1] as number);
        if (Math.abs(e[m] as number) <= EPS * dd) break;
      }
      if (m !== l) {
        if (iter++ === 60) throw new Error(`tridiagonal QL: no convergence for eigenvalue ${l} of ${n}`);
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
          if (zt !== undefined) {
            // Rotate rows i and i+1.
            const ri = i * n;
            const rj = ri + n;
            for (let t = 0; t < n; t++) {
              const zi = zt[ri + t] as number;
              const zj = zt[rj + t] as number;
              zt[rj + t] = s * zi + c * zj;
              zt[ri + t] = c * zi - s * zj;
            }
          }
        }
        if (underflow) continue;
        d[l] = (d[l] as number) - p;
        e[l] = g;
        e[m] = 0;
      }
    } while (m !== l);
  }
}

/** Eigenvalues of the tridiagonal (d, e) by implicit QL without vectors; d0 and e0 are left as they are. */
export function tridiagonalEigenvalues(d0: Float64Array, e0: Float64Array, n: number): Float64Array {
  const d = Float64Array.from(d0);
  tridiagonalQl(d, Float64Array.from(e0), n);
  return d;
}

/** LU with partial pivoting of the tridiagonal T - lambda I (LAPACK dgttrf), as a solver (dgtts2). */
export function shiftedSolver(d: Float64Array, e: Float64Array, n: number, lambda: number, tiny: number): (b: Float64Array) => void {
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

export function normalise(x: Float64Array): void {
  let s = 0;
  for (const v of x) s += v * v;
  const inv = 1 / Math.sqrt(s);
  for (let i = 0; i < x.length; i++) x[i] = (x[i] as number) * inv;
}

/** Eigenvectors of T as rows [n, n], for eigenvalues `values` ascending (inverse iteration, see module comment). */
export function tridiagonalEigenvectors(d: Float64Array, e: Float64Array, n: number, values: Float64Array, starts: Float64Array): Float64Array {
  const EPS = 2 ** -52;
  let norm = 0;
  for (let i = 0; i < n; i++) norm = Math.max(norm, Math.abs(d[i] as number) + Math.abs(e[i] as number) + (i > 0 ? Math.abs(e[i - 1] as number) : 0));
  const ortol = 1e-3 * norm;
  const tiny = Math.max(EPS * norm, Number.MIN_VALUE);
  const z = new Float64Array(n * n);
  const x = new Float64Array(n);
  let first = 0;
  const shifts = Float64Array.from(values);
  for (let j = 0; j < n; j++) {
    // Coincident eigenvalues get slightly separated shifts (dstein's PERTOL), so the solves differ.
    if (j > 0 && (shifts[j] as number) - (shifts[j - 1] as number) < 10 * EPS * Math.max(norm, 1)) shifts[j] = (shifts[j - 1] as number) + 10 * EPS * Math.max(norm, 1);
    while ((values[j] as number) - (values[first] as number) > ortol) first += 1;
    const solve = shiftedSolver(d, e, n, shifts[j] as number, tiny);
    x.set(starts.subarray(j * n, (j + 1) * n));
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
 * Eigenvalues ascending and the eigenvectors of T as rows [n, n] (row j for ascending[j]); `starts` holds the
 * inverse-iteration start vectors as rows [n, n].
 */
export function tridiagonalSpectrum(d: Float64Array, e: Float64Array, n: number, starts: Float64Array): { ascending: Float64Array; zRows: Float64Array } {
  const ascending = tridiagonalEigenvalues(d, e, n).sort();
  return { ascending, zRows: tridiagonalEigenvectors(d, e, n, ascending, starts) };
}
