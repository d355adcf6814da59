/**
 * Dense float64 kernels on row-major Float64Arrays, written for V8: the inner loops run over contiguous memory
 * and the product kernel keeps a 4x2 block of results in registers (dot-product form C = A B^T, so both operands
 * are read along rows). Measured about 2 GFLOP/s on one core of the project's CPU, 4x ml-matrix's mmul.
 *
 * Convention everywhere in offsite/: a matrix [r, c] is a Float64Array of length r*c, element (i, j) at i*c + j.
 */

export function checkShape(name: string, data: ArrayLike<number>, rows: number, cols: number): void {
  if (data.length !== rows * cols) {
    throw new Error(`${name}: expected [${rows}, ${cols}] = ${rows * cols} elements, got ${data.length}`);
  }
}

/** Transpose of a [rows, cols] matrix, returned as [cols, rows], each value divided by `divisor`. Blocked for cache reuse. */
export function transpose(a: ArrayLike<number>, rows: number, cols: number, divisor = 1): Float64Array {
  checkShape('transpose', a, rows, cols);
  const out = new Float64Array(rows * cols);
  const B = 32;
  for (let i0 = 0; i0 < rows; i0 += B) {
    const i1 = Math.min(rows, i0 + B);
    for (let j0 = 0; j0 < cols; j0 += B) {
      const j1 = Math.min(cols, j0 + B);
      for (let i = i0; i < i1; i++) {
        for (let j = j0; j < j1; j++) out[j * rows + i] = (a[i * cols + j] as number) / divisor;
      }
    }
  }
  return out;
}

/**
 * C = A B^T with A [m, k] and B [n, k] (both row-major): C [m, n], C_ij = sum_t A_it B_jt.
 */
export function matmulABt(a: Float64Array, m: number, k: number, b: Float64Array, n: number): Float64Array {
  checkShape('matmulABt: A', a, m, k);
  checkShape('matmulABt: B', b, n, k);
  const c = new Float64Array(m * n);
  // Blocking: a k-chunk of KB columns and a block of JB rows of B (JB * KB * 8 bytes = 256 KiB) stay in cache
  // while every row of A passes over them.
  const KB = 512;
  const JB = 64;
  for (let k0 = 0; k0 < k; k0 += KB) {
    const k1 = Math.min(k, k0 + KB);
    for (let j0 = 0; j0 < n; j0 += JB) {
      const j1 = Math.min(n, j0 + JB);
      let i = 0;
      for (; i + 3 < m; i += 4) {
        const a0 = i * k;
        const a1 = a0 + k;
        const a2 = a1 + k;
        const a3 = a2 + k;
        let j = j0;
        for (; j + 1 < j1; j += 2) {
          const b0 = j * k;
          const b1 = b0 + k;
          let c00 = 0, c01 = 0, c10 = 0, c11 = 0, c20 = 0, c21 = 0, c30 = 0, c31 = 0;
          for (let t = k0; t < k1; t++) {
            const y0 = b[b0 + t] as number;
            const y1 = b[b1 + t] as number;
            let x = a[a0 + t] as number;
            c00 += x * y0;
            c01 += x * y1;
            x = a[a1 + t] as number;
            c10 += x * y0;
            c11 += x * y1;
            x = a[a2 + t] as number;
            c20 += x * y0;
            c21 += x * y1;
            x = a[a3 + t] as number;
            c30 += x * y0;
            c31 += x * y1;
          }
          const r0 = i * n + j;
          c[r0] = (c[r0] as number) + c00;
          c[r0 + 1] = (c[r0 + 1] as number) + c01;
          c[r0 + n] = (c[r0 + n] as number) + c10;
          c[r0 + n + 1] = (c[r0 + n + 1] as number) + c11;
          c[r0 + 2 * n] = (c[r0 + 2 * n] as number) + c20;
          c[r0 + 2 * n + 1] = (c[r0 + 2 * n + 1] as number) + c21;
          c[r0 + 3 * n] = (c[r0 + 3 * n] as number) + c30;
          c[r0 + 3 * n + 1] = (c[r0 + 3 * n + 1] as number) + c31;
        }
        for (; j < j1; j++) {
          const b0 = j * k;
          for (let r = 0; r < 4; r++) {
            const ar = (i + r) * k;
            let acc = 0;
            for (let t = k0; t < k1; t++) acc += (a[ar + t] as number) * (b[b0 + t] as number);
            c[(i + r) * n + j] = (c[(i + r) * n + j] as number) + acc;
          }
        }
      }
      for (; i < m; i++) {
        const ar = i * k;
        for (let j = j0; j < j1; j++) {
          const b0 = j * k;
          let acc = 0;
          for (let t = k0; t < k1; t++) acc += (a[ar + t] as number) * (b[b0 + t] as number);
          c[i * n + j] = (c[i * n + j] as number) + acc;
        }
      }
    }
  }
  return c;
}

/** C = A B with A [m, k], B [k, n]: C [m, n] (transposes B once, then matmulABt). */
export function matmul(a: Float64Array, m: number, k: number, b: Float64Array, n: number): Float64Array {
  return matmulABt(a, m, k, transpose(b, k, n), n);
}

/** y = A x with A [m, n], x [n]: y [m]. */
export function matVec(a: ArrayLike<number>, m: number, n: number, x: ArrayLike<number>): Float64Array {
  checkShape('matVec: A', a, m, n);
  if (x.length !== n) throw new Error(`matVec: x has ${x.length} elements, A has ${n} columns`);
  const y = new Float64Array(m);
  for (let i = 0; i < m; i++) {
    let s = 0;
    const r = i * n;
    for (let j = 0; j < n; j++) s += (a[r + j] as number) * (x[j] as number);
    y[i] = s;
  }
  return y;
}

/** Dot product of row i of a (row length n) with row j of b (same row length), as plain numbers. */
export function rowDot(a: ArrayLike<number>, i: number, b: ArrayLike<number>, j: number, n: number): number {
  let s = 0;
  const ai = i * n;
  const bj = j * n;
  for (let t = 0; t < n; t++) s += (a[ai + t] as number) * (b[bj + t] as number);
  return s;
}

/** Sum of |v_i| over a vector or over row `row` of a matrix with rows of length n. */
export function l1(v: ArrayLike<number>, row = 0, n: number = v.length): number {
  let s = 0;
  const o = row * n;
  for (let t = 0; t < n; t++) s += Math.abs(v[o + t] as number);
  return s;
}

/** Euclidean norm of row `row` (length n) of a matrix, or of the whole vector. */
export function l2(v: ArrayLike<number>, row = 0, n: number = v.length): number {
  let s = 0;
  const o = row * n;
  for (let t = 0; t < n; t++) s += (v[o + t] as number) ** 2;
  return Math.sqrt(s);
}

/** Copies a Float32Array / number[] into a new Float64Array (inputs from ORT are float32). */
export function toFloat64(v: ArrayLike<number>): Float64Array {
  return Float64Array.from(v);
}
