import { strict as assert } from 'node:assert';
import { Rng } from '../../../src/engine/util/random';
import {
  accumulateKfac,
  channelRemovalGcs,
  createKfacAccumulator,
  gcs,
  kfacFactor,
  svdComponentRemovalGcs,
  type LinearStats,
} from '../../../src/engine/offsite';
import { svdFull } from '../../../src/engine/linalg';
import { symmetricMean } from '../../../src/engine/offsite/kfac';
import { assertClose, maxAbsDiff, naiveMatmul, randn, randomSpd } from './helpers';

/** vec() stacking columns of a row-major [r, c] matrix: element (i, j) goes to j * r + i. */
function vecColumnMajor(m: Float64Array, r: number, c: number): Float64Array {
  const v = new Float64Array(r * c);
  for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) v[j * r + i] = m[i * c + j] as number;
  return v;
}

/** Kronecker product A (x) B for A [p, p], B [q, q]: [pq, pq], block (i, j) = a_ij B. */
function kron(a: Float64Array, p: number, b: Float64Array, q: number): Float64Array {
  const n = p * q;
  const out = new Float64Array(n * n);
  for (let i = 0; i < p; i++) {
    for (let j = 0; j < p; j++) {
      const aij = a[i * p + j] as number;
      for (let k = 0; k < q; k++) for (let l = 0; l < q; l++) out[(i * q + k) * n + (j * q + l)] = aij * (b[k * q + l] as number);
    }
  }
  return out;
}

function l1(v: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += Math.abs(v[i] as number);
  return s;
}

function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i] as number) * (b[i] as number);
  return s;
}

/** GCS with an explicit Hessian H [(out in), (out in)] acting on vec(delta) (column-major). */
function gcsExplicit(h: Float64Array, delta: Float64Array, g: Float64Array, out: number, inn: number, lambda: number): number {
  const hv = naiveMatmul(h, out * inn, out * inn, vecColumnMajor(delta, out, inn), 1);
  return l1(hv) - lambda * dot(g, delta);
}

describe('KFAC factors', () => {
  it('streaming accumulation over uneven batches equals the mean of outer products', () => {
    const rng = new Rng(1);
    const d = 7;
    const batches = [5, 1, 12, 3];
    const all: Float64Array[] = [];
    const acc = createKfacAccumulator(d);
    for (const n of batches) {
      const x = Float32Array.from(randn(rng, n, d)); // ORT hands float32 activations over
      for (let t = 0; t < n; t++) all.push(Float64Array.from(x.subarray(t * d, t * d + d)));
      accumulateKfac(acc, x, n);
    }
    const expected = new Float64Array(d * d);
    for (const x of all) for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) expected[i * d + j] = (expected[i * d + j] as number) + (x[i] as number) * (x[j] as number) / all.length;
    assert.equal(acc.count, 21);
    assert.ok(maxAbsDiff(kfacFactor(acc), expected) < 1e-13);
  });

  it('scale multiplies each row (undoing a loss mean over T tokens gives T^2 times the raw factor)', () => {
    const rng = new Rng(2);
    const dy = randn(rng, 4, 3);
    const raw = createKfacAccumulator(3);
    accumulateKfac(raw, dy, 4);
    const scaled = createKfacAccumulator(3);
    accumulateKfac(scaled, dy, 4, 16);
    const r = kfacFactor(raw);
    assert.ok(maxAbsDiff(kfacFactor(scaled), r.map((v) => v * 256)) < 1e-12);
    assert.throws(() => kfacFactor(createKfacAccumulator(3)), /no rows were accumulated/);
    assert.throws(() => accumulateKfac(raw, dy, 3), /expected \[3, 3\] = 9 elements, got 12/);
  });

  it('symmetricMean (the tiled symmetrisation behind kfacFactor) is (S + S^T) / (2 count) exactly, across tile edges', () => {
    const rng = new Rng(3);
    for (const d of [1, 63, 64, 130]) {
      const sum = Float32Array.from(randn(rng, d, d)); // the statistics graph's float32 sums
      const out = symmetricMean(sum, d, 7);
      for (let i = 0; i < d; i++) {
        for (let j = 0; j < d; j++) assert.equal(out[i * d + j], 0.5 * ((sum[i * d + j] as number) + (sum[j * d + i] as number)) / 7, `d ${d} [${i}, ${j}]`);
      }
    }
  });
});

describe('GCS', () => {
  const out = 4;
  const inn = 3;
  const lambda = 0.7;

  it('general form equals the explicit Kronecker Hessian A (x) G acting on vec(delta)', () => {
    const rng = new Rng(3);
    const a = randomSpd(rng, inn);
    const g = randomSpd(rng, out);
    const delta = randn(rng, out, inn);
    const grad = randn(rng, out, inn);
    const h = kron(a, inn, g, out);
    // The identity behind it: (A (x) G) vec(delta) = vec(G delta A) for symmetric A.
    const gda = naiveMatmul(naiveMatmul(g, out, out, delta, inn), out, inn, a, inn);
    assert.ok(maxAbsDiff(naiveMatmul(h, out * inn, out * inn, vecColumnMajor(delta, out, inn), 1), vecColumnMajor(gda, out, inn)) < 1e-12);
    assertClose(gcs(delta, grad, a, g, out, inn, lambda), gcsExplicit(h, delta, grad, out, inn, lambda), 1e-12, 'GCS');
  });

  it('equals the direct computation with the explicit Fisher of a tiny linear model (one token)', () => {
    // y = W x, loss l(W) = sum_i c_i softplus(y_i): nonlinear, so dy depends on W.
    const rng = new Rng(4);
    const w = randn(rng, out, inn);
    const x = randn(rng, 1, inn);
    const c = randn(rng, 1, out);
    const softplus = (z: number): number => Math.log1p(Math.exp(z));
    const loss = (wm: Float64Array): number => {
      const y = naiveMatmul(wm, out, inn, x, 1);
      return Array.from(y).reduce((s, yi, i) => s + (c[i] as number) * softplus(yi), 0);
    };
    const y = naiveMatmul(w, out, inn, x, 1);
    const dy = Float64Array.from(y, (yi, i) => (c[i] as number) / (1 + Math.exp(-yi))); // dl/dy_i = c_i sigmoid(y_i)
    // The weight gradient g = dy x^T, checked against central finite differences in float64.
    const grad = naiveMatmul(dy, out, 1, x, inn);
    const eps = 1e-6;
    for (let t = 0; t < out * inn; t++) {
      const wp = Float64Array.from(w);
      const wm = Float64Array.from(w);
      wp[t] = (wp[t] as number) + eps;
      wm[t] = (wm[t] as number) - eps;
      assertClose((loss(wp) - loss(wm)) / (2 * eps), grad[t] as number, 1e-8, `dl/dW[${t}]`);
    }
    // Explicit empirical Fisher F = vec(g) vec(g)^T, the curvature KFAC factorises; for one token it is exactly
    // A (x) G with A = x x^T, G = dy dy^T.
    const vg = vecColumnMajor(grad, out, inn);
    const fisher = naiveMatmul(vg, out * inn, 1, vg, out * inn);
    const accA = createKfacAccumulator(inn);
    accumulateKfac(accA, x, 1);
    const accG = createKfacAccumulator(out);
    accumulateKfac(accG, dy, 1);
    const delta = randn(rng, out, inn);
    assertClose(
      gcs(delta, grad, kfacFactor(accA), kfacFactor(accG), out, inn, lambda),
      gcsExplicit(fisher, delta, grad, out, inn, lambda),
      1e-12,
      'GCS vs explicit Fisher',
    );
  });

  it('rank-1 form for removing each singular component equals the general form', () => {
    const rng = new Rng(5);
    const m = 6;
    const n = 5;
    const stats: LinearStats = {
      outFeatures: m,
      inFeatures: n,
      weight: randn(rng, m, n),
      grad: randn(rng, m, n),
      inputFactor: randomSpd(rng, n),
      outputFactor: randomSpd(rng, m),
    };
    const svd = svdFull(stats.weight, m, n);
    const fast = svdComponentRemovalGcs(svd, stats, lambda);
    for (let k = 0; k < svd.rank; k++) {
      const delta = new Float64Array(m * n);
      for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) delta[i * n + j] = -(svd.s[k] as number) * (svd.ut[k * m + i] as number) * (svd.vt[k * n + j] as number);
      assertClose(fast[k] as number, gcs(delta, stats.grad, stats.inputFactor, stats.outputFactor, m, n, lambda), 1e-11, `component ${k}`);
    }
  });

  it('channel-pair GCS equals the sum of the three general-form GCS (up row, gate row, down column)', () => {
    const rng = new Rng(6);
    const d = 4;
    const inter = 6;
    const linear = (o: number, i: number): LinearStats => ({
      outFeatures: o,
      inFeatures: i,
      weight: randn(rng, o, i),
      grad: randn(rng, o, i),
      inputFactor: randomSpd(rng, i),
      outputFactor: randomSpd(rng, o),
    });
    const up = linear(inter, d);
    const gate = linear(inter, d);
    const down = linear(d, inter);
    const swiglu = channelRemovalGcs({ up, gate, down }, lambda);
    const twoMatrix = channelRemovalGcs({ up, down }, lambda);
    const general = (st: LinearStats, delta: Float64Array): number =>
      gcs(delta, st.grad, st.inputFactor, st.outputFactor, st.outFeatures, st.inFeatures, lambda);
    for (let j = 0; j < inter; j++) {
      const rowDelta = (st: LinearStats): Float64Array => {
        const dl = new Float64Array(inter * d);
        for (let t = 0; t < d; t++) dl[j * d + t] = -(st.weight[j * d + t] as number);
        return dl;
      };
      const colDelta = new Float64Array(d * inter);
      for (let i = 0; i < d; i++) colDelta[i * inter + j] = -(down.weight[i * inter + j] as number);
      const upG = general(up, rowDelta(up));
      const gateG = general(gate, rowDelta(gate));
      const downG = general(down, colDelta);
      assertClose(swiglu[j] as number, upG + gateG + downG, 1e-11, `SwiGLU channel ${j}`);
      assertClose(twoMatrix[j] as number, upG + downG, 1e-11, `two-matrix channel ${j}`);
    }
    assert.throws(() => channelRemovalGcs({ up, down: linear(d, inter + 1) }, lambda), /down has 7 input features, up has 6 outputs/);
  });

  it('names the mismatching tensor', () => {
    const z = new Float64Array(6);
    assert.throws(() => gcs(z, z, new Float64Array(5), new Float64Array(9), 3, 2, 1), /gcs: A: expected \[2, 2\] = 4 elements, got 5/);
    assert.throws(() => gcs(z, z, new Float64Array(4), new Float64Array(8), 3, 2, 1), /gcs: G: expected \[3, 3\] = 9 elements, got 8/);
  });
});
