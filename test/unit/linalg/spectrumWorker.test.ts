// The spectrum worker runs tridiagonalSpectrum.ts's own source: its eigenvalues and inverse-iteration vectors must
// be bit-identical to the in-process ones, and svdFastAll (pipelined with it) must equal svdFast map by map.
import { strict as assert } from 'node:assert';
import type { LinearStats } from '../../../src/engine/offsite';
import { svdFast, svdFastAll } from '../../../src/engine/offsite/emulator/fastDrd';
import { inProcessSpectrum } from '../../../src/engine/linalg/fastEigen';
import { OrtProducts } from '../../../src/engine/linalg/ortProducts';
import { SpectrumWorker } from '../../../src/engine/linalg/spectrumWorker';
import { Rng } from '../../../src/engine/util/random';

describe('offsite emulator: spectrum worker', () => {
  const ort = new OrtProducts({ intraOpNumThreads: 1 });
  const worker = new SpectrumWorker();
  after(async () => {
    await worker.dispose();
    await ort.dispose();
  });

  it('gives bit-identical spectra to the in-process solver, for several sizes in any order', async () => {
    const rng = new Rng(21);
    for (const n of [1, 2, 17, 64, 17]) {
      const d = rng.normalArray(n);
      const e = rng.normalArray(n);
      e[n - 1] = 0;
      const [a, b] = await Promise.all([worker.solve(d, e, n), inProcessSpectrum(d, e, n)]);
      assert.deepEqual(Array.from(a.ascending), Array.from(b.ascending), `n ${n}: values`);
      assert.deepEqual(Array.from(a.zRows), Array.from(b.zRows), `n ${n}: vectors`);
    }
    assert.ok(worker.running, 'the answers came from the worker, not the in-process fallback');
  });

  it('svdFastAll with the worker equals svdFast one by one', async () => {
    const rng = new Rng(22);
    const maps: LinearStats[] = [[30, 30], [40, 25], [20, 35]].map(([m, n]) => ({
      outFeatures: m as number, inFeatures: n as number, weight: rng.normalArray((m as number) * (n as number)),
      grad: new Float64Array(0), inputFactor: new Float64Array(0), outputFactor: new Float64Array(0),
    }));
    const all = await svdFastAll(maps, ort, worker.solve);
    for (const [i, st] of maps.entries()) {
      const one = await svdFast(st.weight, st.outFeatures, st.inFeatures, ort);
      assert.deepEqual(Array.from(all[i]?.s ?? []), Array.from(one.s));
      assert.deepEqual(Array.from(all[i]?.vt ?? []), Array.from(one.vt));
    }
  });
});
