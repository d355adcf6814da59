import { strict as assert } from 'node:assert';
import { Rng } from '../../../src/engine/util/random';

describe('seeded Rng (xoshiro128** with SplitMix32 seeding)', () => {
  it('is deterministic per seed and differs between seeds', () => {
    const a = Array.from({ length: 8 }, () => 0).map(((r) => () => r.nextUint32())(new Rng(42)));
    const b = Array.from({ length: 8 }, () => 0).map(((r) => () => r.nextUint32())(new Rng(42)));
    const c = Array.from({ length: 8 }, () => 0).map(((r) => () => r.nextUint32())(new Rng(43)));
    assert.deepEqual(a, b);
    assert.notDeepEqual(a, c);
    a.forEach((x) => assert.ok(Number.isInteger(x) && x >= 0 && x < 2 ** 32));
  });

  it('gives uniforms in [0, 1) with mean 1/2 and variance 1/12', () => {
    const rng = new Rng(7);
    const n = 100000;
    let sum = 0;
    let sq = 0;
    for (let i = 0; i < n; i++) {
      const u = rng.uniform();
      assert.ok(u >= 0 && u < 1);
      sum += u;
      sq += u * u;
    }
    const mean = sum / n;
    // sd of the mean = sqrt(1/12 / n) ~ 0.00091; 5 sd.
    assert.ok(Math.abs(mean - 0.5) < 0.0046, `mean ${mean}`);
    assert.ok(Math.abs(sq / n - mean * mean - 1 / 12) < 0.002);
  });

  it('gives standard normals (Box-Muller): mean 0, variance 1, 4th moment 3', () => {
    const z = new Rng(8).normalArray(100000);
    let m1 = 0;
    let m2 = 0;
    let m4 = 0;
    for (const v of z) {
      m1 += v;
      m2 += v * v;
      m4 += v ** 4;
    }
    assert.ok(Math.abs(m1 / z.length) < 0.016);
    assert.ok(Math.abs(m2 / z.length - 1) < 0.025);
    assert.ok(Math.abs(m4 / z.length - 3) < 0.2);
  });

  it('uniformInt is unbiased over a non-power-of-two range (chi-square, 6 cells)', () => {
    const rng = new Rng(9);
    const counts = new Array<number>(6).fill(0);
    const n = 60000;
    for (let i = 0; i < n; i++) {
      const k = rng.uniformInt(6);
      counts[k] = (counts[k] ?? 0) + 1;
    }
    const chi = counts.reduce((acc, c) => acc + (c - n / 6) ** 2 / (n / 6), 0);
    assert.ok(chi < 20.515, `chi-square ${chi} (df 5, p = 0.001 critical value 20.515)`);
  });

  it('split gives an independent, reproducible stream', () => {
    const p1 = new Rng(5);
    const c1 = p1.split();
    const p2 = new Rng(5);
    const c2 = p2.split();
    assert.equal(c1.nextUint32(), c2.nextUint32());
    assert.equal(p1.nextUint32(), p2.nextUint32());
    assert.notEqual(new Rng(5).split().nextUint32(), new Rng(5).nextUint32());
  });

  it('shuffle is a permutation with uniform first position', () => {
    const rng = new Rng(10);
    const first = new Array<number>(4).fill(0);
    for (let i = 0; i < 8000; i++) {
      const s = rng.shuffle([0, 1, 2, 3]);
      assert.deepEqual([...s].sort(), [0, 1, 2, 3]);
      first[s[0] ?? 0] = (first[s[0] ?? 0] ?? 0) + 1;
    }
    const chi = first.reduce((acc, c) => acc + (c - 2000) ** 2 / 2000, 0);
    assert.ok(chi < 16.266, `chi-square ${chi} (df 3, p = 0.001 critical value 16.266)`);
  });

  it('weighted sampling without replacement never repeats and skips zero weights; bad weights are errors', () => {
    const rng = new Rng(12);
    for (let i = 0; i < 200; i++) {
      const s = rng.sampleWeightedWithoutReplacement([1, 0, 2, 3, 0], 3);
      assert.deepEqual([...s].sort(), [0, 2, 3]);
    }
    assert.throws(() => rng.sampleWeightedWithoutReplacement([1, 0], 2), /only 1 positive weights for 2 draws/);
    assert.throws(() => rng.sampleWeightedWithoutReplacement([1, -1], 1), /weight\[1\] = -1/);
  });
});
