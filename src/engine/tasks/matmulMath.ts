// Small pure helpers of the device check: test matrices, reference entries, error bound, throughput.

/** Deterministic values in [-1, 1) from mulberry32 (Tommy Ettinger's 32-bit generator), seeded. */
export function testMatrix(n: number, seed: number): Float32Array {
  const out = new Float32Array(n * n);
  let state = seed >>> 0;
  for (let i = 0; i < out.length; i++) {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    const u = ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    out[i] = 2 * u - 1;
  }
  return out;
}

/** C[i][j] = sum_k A[i][k] B[k][j] in float64, with sum_k |A[i][k] B[k][j]| for the error bound. Row-major n x n. */
export function referenceEntry(a: Float32Array, b: Float32Array, n: number, i: number, j: number): { value: number; absSum: number } {
  let value = 0;
  let absSum = 0;
  for (let k = 0; k < n; k++) {
    const p = (a[i * n + k] ?? 0) * (b[k * n + j] ?? 0);
    value += p;
    absSum += Math.abs(p);
  }
  return { value, absSum };
}

/**
 * Worst-case error of a float32 dot product of length n: |fl(x.y) - x.y| <= gamma_n * sum|x_k y_k|, with
 * gamma_n = n u / (1 - n u) and u = 2^-24 (Higham, Accuracy and Stability of Numerical Algorithms, 2nd ed., eq. 3.5).
 * Any summation order (blocked, FMA, multi-threaded) stays inside it.
 */
export function dotProductErrorBound(n: number, absSum: number): number {
  const u = 2 ** -24;
  const gamma = (n * u) / (1 - n * u);
  return gamma * absSum;
}

/** Positions to verify: the four corners, the centre and a few spread over the matrix. */
export function checkPositions(n: number): Array<[number, number]> {
  const picks: Array<[number, number]> = [
    [0, 0], [0, n - 1], [n - 1, 0], [n - 1, n - 1], [Math.floor(n / 2), Math.floor(n / 2)],
  ];
  for (let t = 1; t <= 11; t++) picks.push([(t * 7919) % n, (t * 104729 + 13) % n]);
  const seen = new Set<string>();
  return picks.filter(([i, j]) => {
    const key = `${i},${j}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/** GFLOP/s of an n x n x n MatMul (2 n^3 floating-point operations: one multiply and one add per term). */
export function matmulGflops(n: number, msPerMatMul: number): number {
  return msPerMatMul > 0 ? (2 * n ** 3) / (msPerMatMul * 1e6) : 0;
}
