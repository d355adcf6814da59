// Deterministic random frozen weights, generated chunk by chunk so the benchmark never holds a 150 MB array:
// the graph builder streams LazyTensorData into the external data file.
import type { LazyTensorData } from '../src/engine/graph';

/** mulberry32 (Tommy Ettinger's 32-bit PRNG): small, fast, good enough for benchmark weights. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Uniform(-scale, scale) float32 values; `count` elements. */
export function randomFloat32(count: number, seed: number, scale: number): Float32Array {
  const next = mulberry32(seed);
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) out[i] = (next() * 2 - 1) * scale;
  return out;
}

/** The same values as randomFloat32, produced lazily in 1 Mi-element chunks. */
export function lazyRandomFloat32(count: number, seed: number, scale: number): LazyTensorData {
  return {
    byteLength: count * 4,
    *chunks() {
      const next = mulberry32(seed);
      const chunk = 1 << 20;
      for (let start = 0; start < count; start += chunk) {
        const n = Math.min(chunk, count - start);
        const out = new Float32Array(n);
        for (let i = 0; i < n; i++) out[i] = (next() * 2 - 1) * scale;
        yield new Uint8Array(out.buffer);
      }
    },
  };
}

/** Constant-valued lazy data (LayerNorm gains and biases). */
export function lazyConstantFloat32(count: number, value: number): LazyTensorData {
  return {
    byteLength: count * 4,
    *chunks() {
      yield new Uint8Array(new Float32Array(count).fill(value).buffer);
    },
  };
}
