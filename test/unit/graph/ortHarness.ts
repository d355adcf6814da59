// Test helpers: run a builder's graph on onnxruntime-node CPU, seeded random data, and gradient checks by
// central finite differences in float64.
import * as ort from 'onnxruntime-node';
import { GraphBuilder, gradients, sizeOf, toModelBytes, type DType, type Shape, type Tensor } from '../../../src/engine/graph';

/** Deterministic PRNG (mulberry32) so failures reproduce. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function randomValues(n: number, rand: () => number, lo = -1, hi = 1): number[] {
  return Array.from({ length: n }, () => lo + (hi - lo) * rand());
}

export type Feeds = Record<string, ort.Tensor>;

export function feed(dtype: DType, shape: Shape, values: ArrayLike<number>): ort.Tensor {
  const dims = [...shape];
  switch (dtype) {
    case 'float32': return new ort.Tensor('float32', Float32Array.from(values), dims);
    case 'float64': return new ort.Tensor('float64', Float64Array.from(values), dims);
    case 'int32': return new ort.Tensor('int32', Int32Array.from(values), dims);
    case 'int64': return new ort.Tensor('int64', BigInt64Array.from(Array.from(values, (v) => BigInt(v))), dims);
    case 'bool': return new ort.Tensor('bool', Uint8Array.from(values), dims);
  }
}

export async function session(b: GraphBuilder): Promise<ort.InferenceSession> {
  return ort.InferenceSession.create(toModelBytes(b), { intraOpNumThreads: 1, interOpNumThreads: 1 });
}

export function numbers(t: ort.Tensor | undefined, what: string): number[] {
  if (!t) throw new Error(`missing output ${what}`);
  const d = t.data;
  if (d instanceof Float32Array || d instanceof Float64Array) return Array.from(d);
  throw new Error(`output ${what} is not float`);
}

/** One input of a gradient-check case: values are generated from the seed unless given. */
export interface CaseInput {
  name: string;
  dtype?: DType; // default: the case's float dtype
  shape: number[];
  trainable?: boolean;
  values?: number[];
  lo?: number;
  hi?: number;
}

/** A gradient-check case: declares inputs, returns the output whose random projection is the loss. */
export interface GradCase {
  name: string;
  inputs: CaseInput[];
  build(b: GraphBuilder, t: Record<string, Tensor>, dtype: 'float32' | 'float64'): Tensor;
  /** The case builds its own scalar loss (e.g. cross-entropy) instead of sum(out * R). */
  scalarLoss?: boolean;
}

export interface BuiltCase {
  session: ort.InferenceSession;
  feeds: Feeds;
  values: Record<string, number[]>;
  trainable: CaseInput[];
}

/** Builds loss = sum(out * R) (R fixed random) and its gradients w.r.t. the trainable inputs. */
export async function buildCase(c: GradCase, dtype: 'float32' | 'float64', seed: number, valuesIn?: Record<string, number[]>): Promise<BuiltCase> {
  const rand = rng(seed);
  const b = new GraphBuilder(c.name);
  const tensors: Record<string, Tensor> = {};
  const values: Record<string, number[]> = {};
  const feeds: Feeds = {};
  for (const inp of c.inputs) {
    const dt = inp.dtype ?? dtype;
    tensors[inp.name] = b.input(inp.name, dt, inp.shape, { trainable: inp.trainable });
    values[inp.name] = valuesIn?.[inp.name] ?? inp.values ?? randomValues(sizeOf(inp.shape), rand, inp.lo, inp.hi);
    feeds[inp.name] = feed(dt, inp.shape, values[inp.name]);
  }
  const out = c.build(b, tensors, dtype);
  let loss = out;
  if (!c.scalarLoss) {
    const r = b.constant(dtype, out.shape, randomValues(out.size, rng(seed + 7)));
    loss = b.reduceSum(b.mul(out, r), out.shape.map((_, i) => i), false);
  }
  b.output(loss, 'loss');
  gradients(b, loss);
  return { session: await session(b), feeds, values, trainable: c.inputs.filter((i) => i.trainable) };
}

export async function runLoss(built: BuiltCase, feeds: Feeds): Promise<number> {
  const out = await built.session.run(feeds);
  return numbers(out.loss, 'loss')[0];
}

/**
 * Compares the analytic gradient of every trainable input with central differences (float64):
 * the directional derivative along one random direction (covers every coordinate at once) and a few single
 * sampled coordinates. Returns the worst relative error.
 */
export async function checkGradients(c: GradCase, seed = 1, eps = 1e-6, samples = 3): Promise<number> {
  const built = await buildCase(c, 'float64', seed);
  const base = await built.session.run(built.feeds);
  let worst = 0;
  const rand = rng(seed + 99);
  for (const inp of built.trainable) {
    const grad = numbers(base[`grad.${inp.name}`], `grad.${inp.name}`);
    const x0 = built.values[inp.name];
    const directions: number[][] = [randomValues(x0.length, rand)];
    for (let s = 0; s < Math.min(samples, x0.length); s++) {
      const e = new Array<number>(x0.length).fill(0);
      e[Math.floor(rand() * x0.length)] = 1;
      directions.push(e);
    }
    for (const v of directions) {
      const at = async (sign: number): Promise<number> =>
        runLoss(built, { ...built.feeds, [inp.name]: feed('float64', inp.shape, x0.map((x, i) => x + sign * eps * v[i])) });
      const fd = ((await at(1)) - (await at(-1))) / (2 * eps);
      const an = grad.reduce((s, g, i) => s + g * v[i], 0);
      const scale = Math.max(Math.abs(fd), Math.abs(an), 1e-3);
      const err = Math.abs(fd - an) / scale;
      if (!(err < 1e-6)) {
        throw new Error(`${c.name}: gradient of '${inp.name}' disagrees: analytic ${an}, finite difference ${fd} (rel ${err})`);
      }
      worst = Math.max(worst, err);
    }
  }
  return worst;
}

/** float32 gradients agree with float64 ones to `tol` in relative L2 norm, on the same values. */
export async function checkFloat32(c: GradCase, seed = 1, tol = 1e-5): Promise<number> {
  const b64 = await buildCase(c, 'float64', seed);
  const b32 = await buildCase(c, 'float32', seed, b64.values);
  const o64 = await b64.session.run(b64.feeds);
  const o32 = await b32.session.run(b32.feeds);
  let worst = 0;
  for (const inp of b64.trainable) {
    const g64 = numbers(o64[`grad.${inp.name}`], inp.name);
    const g32 = numbers(o32[`grad.${inp.name}`], inp.name);
    let num = 0;
    let den = 0;
    g64.forEach((g, i) => { num += (g - g32[i]) ** 2; den += g * g; });
    const rel = Math.sqrt(num) / Math.max(Math.sqrt(den), 1e-30);
    if (!(rel < tol)) throw new Error(`${c.name}: float32 gradient of '${inp.name}' differs from float64 by ${rel} (relative L2)`);
    worst = Math.max(worst, rel);
  }
  return worst;
}
