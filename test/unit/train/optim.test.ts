// AdamW / SGD updates against the formulas written out by hand, the schedule's values, clipping, and the seeded
// data order.
import { strict as assert } from 'node:assert';
import { ExampleStream } from '../../../src/engine/data/batches';
import { clipGlobalNorm, globalNorm } from '../../../src/engine/train/gradients';
import { AdamW, Sgd } from '../../../src/engine/train/optimizer';
import { learningRateAt } from '../../../src/engine/train/schedule';

const f32 = (x: number): number => Math.fround(x);

describe('train: optimizers, schedule, clipping', () => {
  it('AdamW: two steps equal torch.optim.AdamW written out (decoupled decay, bias correction)', () => {
    const p = Float32Array.from([0.5, -1]);
    const opt = new AdamW({ weightDecay: 0.1 });
    const grads = [Float32Array.from([0.2, -0.4]), Float32Array.from([0.1, 0.3])];
    const lr = 0.01;
    const ref = [0.5, -1];
    const m = [0, 0];
    const v = [0, 0];
    grads.forEach((g, k) => {
      opt.step([p], [g], lr);
      const t = k + 1;
      for (let i = 0; i < 2; i++) {
        const gi = g[i] ?? 0;
        m[i] = f32(0.9 * (m[i] ?? 0) + 0.1 * gi);
        v[i] = f32(0.999 * (v[i] ?? 0) + 0.001 * gi * gi);
        ref[i] = f32((ref[i] ?? 0) * (1 - lr * 0.1) - lr * ((m[i] ?? 0) / (1 - 0.9 ** t)) / (Math.sqrt((v[i] ?? 0) / (1 - 0.999 ** t)) + 1e-8));
      }
    });
    assert.deepEqual(Array.from(p), ref);
    assert.equal(opt.steps, 2);
    // First AdamW step moves each weight by about lr (sign of the gradient), plus the decay.
    assert.ok(Math.abs((ref[0] ?? 0) - 0.5) > 0.015);
  });

  it('AdamW state restores exactly (checkpoint round trip continues identically)', () => {
    const a = new AdamW();
    const pa = Float32Array.from([1, 2, 3]);
    a.step([pa], [Float32Array.from([0.1, -0.2, 0.3])], 0.1);
    const b = new AdamW();
    const pb = Float32Array.from(pa);
    b.restore(a.steps, new Map(a.stateTensors().map((t) => [t.name, Float32Array.from(t.data)])));
    const g = Float32Array.from([0.5, 0.5, -0.5]);
    a.step([pa], [g], 0.1);
    b.step([pb], [g], 0.1);
    assert.deepEqual(Array.from(pb), Array.from(pa));
  });

  it('SGD: p - lr (g + wd p)', () => {
    const p = Float32Array.from([1, -2]);
    new Sgd(0.5).step([p], [Float32Array.from([0.25, 1])], 0.1);
    assert.deepEqual(Array.from(p), [f32(1 - 0.1 * (0.25 + 0.5)), f32(-2 - 0.1 * (1 - 1))]);
  });

  it('schedule: warm-up from 0, full rate at step 0 without warm-up, cosine and linear decay to 0', () => {
    const base = { peak: 1, totalSteps: 10 };
    assert.equal(learningRateAt(0, { ...base, warmupSteps: 0, decay: 'cosine' }), 1);
    assert.equal(learningRateAt(0, { ...base, warmupSteps: 4, decay: 'cosine' }), 0);
    assert.equal(learningRateAt(2, { ...base, warmupSteps: 4, decay: 'linear' }), 0.5);
    assert.equal(learningRateAt(4, { ...base, warmupSteps: 4, decay: 'linear' }), 1);
    assert.ok(Math.abs(learningRateAt(7, { ...base, warmupSteps: 4, decay: 'cosine' }) - 0.5 * (1 + Math.cos(Math.PI * 0.5))) < 1e-15);
    assert.equal(learningRateAt(7, { ...base, warmupSteps: 4, decay: 'linear' }), 0.5);
    assert.equal(learningRateAt(10, { ...base, warmupSteps: 4, decay: 'linear' }), 0);
    assert.equal(learningRateAt(9, { ...base, warmupSteps: 0, decay: 'constant' }), 1);
  });

  it('global-norm clipping scales every tensor by max / (norm + 1e-6) only above the threshold', () => {
    const g = [Float32Array.from([3, 0]), Float32Array.from([4])];
    assert.equal(globalNorm(g), 5);
    assert.equal(clipGlobalNorm(g, 10), 5);
    assert.deepEqual(Array.from(g[1] ?? []), [4]);
    assert.equal(clipGlobalNorm(g, 1), 5);
    assert.ok(Math.abs(globalNorm(g) - 5 / (5 + 1e-6)) < 1e-6);
  });

  it('data order: each epoch is a seeded permutation; resuming from a count gives the same stream', () => {
    const s = new ExampleStream(5, 7);
    const first = s.next(10);
    assert.deepEqual([...first.slice(0, 5)].sort(), [0, 1, 2, 3, 4]);
    assert.deepEqual([...first.slice(5)].sort(), [0, 1, 2, 3, 4]);
    assert.notDeepEqual(first.slice(0, 5), first.slice(5));
    const resumed = new ExampleStream(5, 7, 3);
    assert.deepEqual(resumed.next(7), first.slice(3));
    assert.notDeepEqual(new ExampleStream(5, 8).next(5), first.slice(0, 5));
  });
});
