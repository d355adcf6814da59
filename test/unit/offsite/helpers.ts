import { strict as assert } from 'node:assert';
import { Rng } from '../../../src/engine/util/random';

/** Random [r, c] matrix with standard normal entries. */
export function randn(rng: Rng, r: number, c: number): Float64Array {
  return rng.normalArray(r * c);
}

/** Random symmetric positive semi-definite [n, n] matrix M M^T / n (like a KFAC factor). */
export function randomSpd(rng: Rng, n: number): Float64Array {
  const m = randn(rng, n, n + 2);
  const out = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let t = 0; t < n + 2; t++) s += (m[i * (n + 2) + t] as number) * (m[j * (n + 2) + t] as number);
      out[i * n + j] = s / n;
    }
  }
  return out;
}

/** Straightforward triple-loop product, independent of the kernels under test. */
export function naiveMatmul(a: ArrayLike<number>, m: number, k: number, b: ArrayLike<number>, n: number): Float64Array {
  const c = new Float64Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let t = 0; t < k; t++) s += (a[i * k + t] as number) * (b[t * n + j] as number);
      c[i * n + j] = s;
    }
  }
  return c;
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length, 'length mismatch');
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs((a[i] as number) - (b[i] as number)));
  return m;
}

export function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] as number));
  return m;
}

export function assertClose(actual: number, expected: number, relTol: number, what: string): void {
  const scale = Math.max(1, Math.abs(expected));
  assert.ok(Math.abs(actual - expected) <= relTol * scale, `${what}: ${actual} vs ${expected}`);
}
