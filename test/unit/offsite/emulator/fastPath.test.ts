// The fast path of GradOT (ORT products, inverse-iteration eigenvectors, WY back-transformation) against the
// reference JavaScript implementations of linalg/ and gcs.ts, including spectra with clusters and zeros.
import { strict as assert } from 'node:assert';
import { channelRemovalGcs, svdComponentRemovalGcs, type LinearStats } from '../../../../src/engine/offsite';
import { matmulABt } from '../../../../src/engine/linalg/dense';
import { symmetricEigen } from '../../../../src/engine/linalg/eigen';
import { reconstruct, svdFull } from '../../../../src/engine/linalg/svd';
import { channelRemovalGcsFast, svdComponentRemovalGcsFast, svdFast } from '../../../../src/engine/offsite/emulator/fastDrd';
import { symmetricEigenFast } from '../../../../src/engine/linalg/fastEigen';
import { OrtProducts } from '../../../../src/engine/linalg/ortProducts';
import { Rng } from '../../../../src/engine/util/random';
import { maxAbs } from './support';
import { randomSpd } from '../helpers';

function stats(rng: Rng, out: number, inF: number): LinearStats {
  return { outFeatures: out, inFeatures: inF, weight: rng.normalArray(out * inF), grad: rng.normalArray(out * inF), inputFactor: randomSpd(rng, inF), outputFactor: randomSpd(rng, out) };
}

describe('offsite emulator: fast path (ORT products) equals the reference implementations', () => {
  const ort = new OrtProducts({ intraOpNumThreads: 1 });
  after(() => ort.dispose());

  it('symmetricEigenFast: eigenvalues as symmetricEigen; orthonormal vectors with small residuals, also for clustered and zero eigenvalues', async () => {
    const rng = new Rng(3);
    const cases: [string, number, Float64Array][] = [];
    for (const n of [1, 2, 5, 70, 130]) {
      const w = rng.normalArray(n * n);
      cases.push([`Gram ${n}`, n, matmulABt(w, n, n, w, n)]);
    }
    // Rank 4 of 90 (86 zero eigenvalues: one big cluster) and a matrix with pairs of equal eigenvalues.
    const low = rng.normalArray(90 * 4);
    cases.push(['rank 4 of 90', 90, matmulABt(low, 90, 4, low, 90)]);
    const n = 40;
    const q = svdFull(rng.normalArray(n * n), n, n).ut;
    const lam = Array.from({ length: n }, (_, i) => Math.floor(i / 2) + 1);
    const pairs = new Float64Array(n * n);
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) for (let k = 0; k < n; k++) pairs[i * n + j] = (pairs[i * n + j] as number) + (lam[k] as number) * (q[k * n + i] as number) * (q[k * n + j] as number);
    cases.push(['double eigenvalues', n, pairs]);
    for (const [name, size, s] of cases) {
      const fast = await symmetricEigenFast(s, size, ort);
      const ref = symmetricEigen(s, size);
      const scale = Math.max(1e-300, Math.abs(ref.values[0] as number));
      assert.ok(maxAbs(fast.values.map((v, i) => v - (ref.values[i] as number))) <= 1e-12 * scale, `${name}: eigenvalues`);
      const vvt = matmulABt(fast.vectors, size, size, fast.vectors, size);
      assert.ok(maxAbs(vvt.map((v, i) => v - (i % (size + 1) === 0 ? 1 : 0))) < 1e-12, `${name}: orthonormality`);
      const sv = matmulABt(fast.vectors, size, size, s, size);
      assert.ok(maxAbs(sv.map((v, i) => v - (fast.values[Math.floor(i / size)] as number) * (fast.vectors[i] as number))) < 1e-12 * scale, `${name}: residual`);
    }
  });

  it('svdFast and its component GCS equal svdFull + svdComponentRemovalGcs (tall, wide, square)', async () => {
    const rng = new Rng(4);
    for (const [m, n] of [[48, 48], [60, 24], [20, 50]] as const) {
      const st = stats(rng, m, n);
      const fast = await svdFast(st.weight, m, n, ort);
      const ref = svdFull(st.weight, m, n);
      assert.equal(fast.rank, ref.rank);
      assert.ok(maxAbs(fast.s.map((v, i) => v - (ref.s[i] as number))) < 1e-10 * (ref.s[0] as number));
      assert.ok(maxAbs(reconstruct(fast).map((v, i) => v - (st.weight[i] as number))) < 1e-10);
      // Signs of singular pairs may differ; the GCS does not depend on them.
      const gFast = await svdComponentRemovalGcsFast(fast, st, 0.7, ort);
      const gRef = svdComponentRemovalGcs(ref, st, 0.7);
      assert.ok(maxAbs(gFast.map((v, i) => v - (gRef[i] as number))) < 1e-8 * maxAbs(gRef), `[${m}, ${n}] GCS`);
    }
  });

  it('channelRemovalGcsFast equals channelRemovalGcs, with and without a gate', async () => {
    const rng = new Rng(5);
    const d = 12;
    const inter = 30;
    const up = stats(rng, inter, d);
    const gate = stats(rng, inter, d);
    const down = stats(rng, d, inter);
    for (const mlp of [{ up, down }, { up, gate, down }]) {
      const fast = await channelRemovalGcsFast(mlp, 1.3, ort);
      const ref = channelRemovalGcs(mlp, 1.3);
      assert.ok(maxAbs(fast.map((v, i) => v - (ref[i] as number))) < 1e-9 * maxAbs(ref));
    }
  });
});
