/**
 * Blocked Householder tridiagonalisation S = Q T Q^T of a symmetric matrix (LAPACK dsytrd with dlatrd, lower form;
 * Dongarra, Hammarling & Sorensen 1989): the reflectors are those of the unblocked method (GvL Alg. 8.3.1, as in
 * linalg/eigen.ts), but within a panel of NB columns the trailing matrix is not updated; each column is brought up
 * to date from the panel's (v, w) pairs, its A v is corrected with them, and after the panel the trailing matrix
 * gets one symmetric rank-2 NB update A <- A - V W^T - W V^T on ONNX Runtime. What is left in JavaScript is one
 * contiguous matrix-vector product per column (n^3 / 3 multiply-adds in all) plus O(n^2 NB) panel work, a few times
 * less than the unblocked loop's two passes over the trailing triangle per column.
 */
import type { OrtProducts } from './ortProducts';

/** Panel width NB. */
export const TRIDIAGONAL_PANEL = 32;
/** Trailing matrices up to this size are updated in JavaScript (an ORT run costs more than the update). */
const JS_UPDATE_MAX = 96;

export interface Tridiagonal {
  d: Float64Array;
  e: Float64Array;
  /** Row k holds reflector k's vector v in columns k+1..n-1 (H_k = I - tau_k v v^T). */
  reflectors: Float64Array;
  taus: Float64Array;
}

/** The symmetric part (S + S^T) / 2, full storage. */
function symmetricPart(s: Float64Array, n: number): Float64Array {
  const a = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      const v = 0.5 * ((s[i * n + j] as number) + (s[j * n + i] as number));
      a[i * n + j] = v;
      a[j * n + i] = v;
    }
  }
  return a;
}

/** x[from:to] . y[from:to] of rows starting at xo and yo. */
function dot(x: Float64Array, xo: number, y: Float64Array, yo: number, from: number, to: number): number {
  let s0 = 0;
  let s1 = 0;
  let i = from;
  for (; i + 1 < to; i += 2) {
    s0 += (x[xo + i] as number) * (y[yo + i] as number);
    s1 += (x[xo + i + 1] as number) * (y[yo + i + 1] as number);
  }
  if (i < to) s0 += (x[xo + i] as number) * (y[yo + i] as number);
  return s0 + s1;
}

/** p[i] = sum_{j >= from} a[i, j] v[j] for rows i >= from of a [m, m]; two rows per pass over v. */
function trailingMatVec(a: Float64Array, m: number, v: Float64Array, vo: number, from: number, p: Float64Array): void {
  let i = from;
  for (; i + 1 < m; i += 2) {
    const r0 = i * m;
    const r1 = r0 + m;
    let s0 = 0;
    let s1 = 0;
    let t0 = 0;
    let t1 = 0;
    let j = from;
    for (; j + 1 < m; j += 2) {
      const v0 = v[vo + j] as number;
      const v1 = v[vo + j + 1] as number;
      s0 += (a[r0 + j] as number) * v0;
      t0 += (a[r0 + j + 1] as number) * v1;
      s1 += (a[r1 + j] as number) * v0;
      t1 += (a[r1 + j + 1] as number) * v1;
    }
    if (j < m) {
      const vj = v[vo + j] as number;
      s0 += (a[r0 + j] as number) * vj;
      s1 += (a[r1 + j] as number) * vj;
    }
    p[i] = s0 + t0;
    p[i + 1] = s1 + t1;
  }
  if (i < m) p[i] = dot(a, i * m, v, vo, from, m);
}

/**
 * Reduces panel columns 0..cols-1 of the trailing matrix a [m, m] (panel-start values): fills d, e, taus and the
 * reflectors at global offset k0, and returns the panel's V and W as rows [cols, m] (local indices).
 */
function reducePanel(a: Float64Array, m: number, cols: number, k0: number, n: number, t: Tridiagonal): { v: Float64Array; w: Float64Array } {
  const vr = new Float64Array(cols * m);
  const wr = new Float64Array(cols * m);
  const p = new Float64Array(m);
  for (let c = 0; c < cols; c++) {
    const k = k0 + c;
    const rc = c * m;
    // Column c (= row c) as the unblocked method would have it: minus the earlier panel updates.
    for (let q = 0; q < c; q++) {
      const vq = vr[q * m + c] as number;
      const wq = wr[q * m + c] as number;
      if (vq === 0 && wq === 0) continue;
      const qo = q * m;
      for (let i = c; i < m; i++) a[rc + i] = (a[rc + i] as number) - vq * (wr[qo + i] as number) - wq * (vr[qo + i] as number);
    }
    t.d[k] = a[rc + c] as number;
    let sigma2 = 0;
    for (let i = c + 1; i < m; i++) sigma2 += (a[rc + i] as number) ** 2;
    const sigma = Math.sqrt(sigma2);
    if (sigma === 0) {
      t.e[k] = 0;
      t.taus[k] = 0;
      continue;
    }
    const x0 = a[rc + c + 1] as number;
    const alpha = x0 >= 0 ? -sigma : sigma;
    const tau = 1 / (sigma * (sigma + Math.abs(x0)));
    t.e[k] = alpha;
    t.taus[k] = tau;
    for (let i = c + 1; i < m; i++) vr[rc + i] = a[rc + i] as number;
    vr[rc + c + 1] = x0 - alpha;
    t.reflectors.set(vr.subarray(rc + c + 1, rc + m), k * n + k + 1);
    // p = tau (A - V W^T - W V^T) v over rows c+1.., then w = p - (tau / 2)(p . v) v.
    trailingMatVec(a, m, vr, rc, c + 1, p);
    for (let q = 0; q < c; q++) {
      const qo = q * m;
      const wv = dot(wr, qo, vr, rc, c + 1, m);
      const vv = dot(vr, qo, vr, rc, c + 1, m);
      for (let i = c + 1; i < m; i++) p[i] = (p[i] as number) - wv * (vr[qo + i] as number) - vv * (wr[qo + i] as number);
    }
    let pv = 0;
    for (let i = c + 1; i < m; i++) {
      p[i] = tau * (p[i] as number);
      pv += (p[i] as number) * (vr[rc + i] as number);
    }
    const half = 0.5 * tau * pv;
    for (let i = c + 1; i < m; i++) wr[rc + i] = (p[i] as number) - half * (vr[rc + i] as number);
  }
  return { v: vr, w: wr };
}

/** a[skip:, skip:] - V^T W - W^T V (V, W rows [cols, m], their columns skip..) in JavaScript. */
function trailingUpdateJs(a: Float64Array, m: number, v: Float64Array, w: Float64Array, cols: number, skip: number): Float64Array {
  const r = m - skip;
  const out = new Float64Array(r * r);
  for (let i = 0; i < r; i++) {
    for (let j = 0; j < r; j++) {
      let acc = a[(i + skip) * m + j + skip] as number;
      for (let q = 0; q < cols; q++) {
        const o = q * m + skip;
        acc -= (v[o + i] as number) * (w[o + j] as number) + (w[o + i] as number) * (v[o + j] as number);
      }
      out[i * r + j] = acc;
    }
  }
  return out;
}

/** [V; W] and [W; V] restricted to columns skip.. : the Gemm operands of the rank-2 cols update. */
function stackedOperands(v: Float64Array, w: Float64Array, m: number, cols: number, skip: number): { p: Float64Array; q: Float64Array } {
  const r = m - skip;
  const p = new Float64Array(2 * cols * r);
  const q = new Float64Array(2 * cols * r);
  for (let c = 0; c < cols; c++) {
    const vs = v.subarray(c * m + skip, (c + 1) * m);
    const ws = w.subarray(c * m + skip, (c + 1) * m);
    p.set(vs, c * r);
    p.set(ws, (cols + c) * r);
    q.set(ws, c * r);
    q.set(vs, (cols + c) * r);
  }
  return { p, q };
}

/** Tridiagonalises symmetric S [n, n] (its symmetric part), see the module comment. */
export async function tridiagonaliseBlocked(s: Float64Array, n: number, ort: OrtProducts, nb = TRIDIAGONAL_PANEL): Promise<Tridiagonal> {
  const t: Tridiagonal = { d: new Float64Array(n), e: new Float64Array(n), reflectors: new Float64Array(n * n), taus: new Float64Array(n) };
  let a = symmetricPart(s, n);
  let k0 = 0;
  while (k0 < n - 2) {
    const m = n - k0;
    const cols = Math.min(nb, n - 2 - k0);
    const { v, w } = reducePanel(a, m, cols, k0, n, t);
    if (m - cols <= JS_UPDATE_MAX) a = trailingUpdateJs(a, m, v, w, cols, cols);
    else {
      const { p, q } = stackedOperands(v, w, m, cols, cols);
      a = await ort.symmetricTrailingUpdate(a, m, p, q, 2 * cols, cols);
    }
    k0 += cols;
  }
  // The last 2 x 2 (or 1 x 1) block is T's own.
  const m = n - k0;
  if (m === 2) {
    t.d[n - 2] = a[0] as number;
    t.e[n - 2] = a[2] as number;
  }
  if (n >= 1) t.d[n - 1] = a[m * m - 1] as number;
  return t;
}
