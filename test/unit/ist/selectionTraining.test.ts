// IST wired into training (issue 6): the per-step selection, the truncated backward pass, untouched parameters
// and AdamW moments for unselected layers, lazily created optimizer state, and the selector's determinism.
import { strict as assert } from 'node:assert';
import * as path from 'node:path';
import { makeBatch, type TrainBatch } from '../../../src/engine/data/batches';
import { backwardStartLayer, IST_DEFAULTS, LayerSelector, layerBudget } from '../../../src/engine/ist';
import { loadModel, type LoadedModel } from '../../../src/engine/models/model';
import { LoraAdapter } from '../../../src/engine/peft/lora';
import { LoraRunner } from '../../../src/engine/train/loraGraph';
import { AdamW } from '../../../src/engine/train/optimizer';
import { Trainer, type StepRecord, type TrainerSettings } from '../../../src/engine/train/trainer';
import { readExamples } from '../../../src/engine/data/examples';
import { Rng } from '../../../src/engine/util/random';
import { tempDir } from '../tune/helpers';
import { fourLayerModel, LAYERS, writeIstConfig } from './helpers';

describe('ist: layer selection per step', () => {
  it('ist with all scores 0 picks floor(0.25 L) distinct layers per step, each layer equally often (chi-square)', () => {
    const L = 12;
    const selector = new LayerSelector('ist', L, { ...IST_DEFAULTS }, 11);
    const counts = new Array<number>(L).fill(0);
    const steps = 2400;
    for (let step = 0; step < steps; step++) {
      const layers = selector.select(step);
      assert.equal(layers.length, Math.floor(0.25 * L));
      assert.equal(new Set(layers).size, layers.length);
      assert.deepEqual(layers, [...layers].sort((a, b) => a - b));
      layers.forEach((l) => (counts[l] = (counts[l] ?? 0) + 1));
    }
    const expected = (steps * 3) / L;
    const chi2 = counts.reduce((a, c) => a + (c - expected) ** 2 / expected, 0);
    // 11 degrees of freedom, p = 0.001 critical value 31.26. Draws without replacement within a step make the
    // counts less variable than multinomial ones, so the bound is conservative.
    assert.ok(chi2 < 31.26, `chi-square ${chi2.toFixed(2)}, counts ${counts.join(',')}`);
  });

  it('is a function of (seed, step): repeated calls agree; lisa keeps its layers for interval steps; uniform is all', () => {
    const opts = { ...IST_DEFAULTS, interval: 5, updateRatio: 0.5 };
    const ist = new LayerSelector('ist', 8, opts, 2);
    const again = new LayerSelector('ist', 8, opts, 2);
    for (let s = 0; s < 20; s++) assert.deepEqual(ist.select(s), again.select(s));
    const lisa = new LayerSelector('lisa', 8, opts, 2);
    const windows = new Set<string>();
    for (let s = 0; s < 40; s++) {
      assert.deepEqual(lisa.select(s), lisa.select(s - (s % 5)));
      assert.equal(lisa.select(s).length, 4);
      windows.add(lisa.select(s).join(','));
    }
    assert.ok(windows.size > 1, 'lisa never switched');
    assert.deepEqual(new LayerSelector('uniform', 8, opts, 2).select(3), [0, 1, 2, 3, 4, 5, 6, 7]);
    assert.equal(new LayerSelector('random', 8, opts, 2).select(3).length, layerBudget(0.5, 8));
    assert.equal(ist.importanceDue(0), false);
    assert.equal(ist.importanceDue(5), true);
    assert.equal(lisa.importanceDue(5), false);
  });
});

describe('ist: where the truncated backward pass starts', () => {
  it('exactly at the lowest selected layer, whatever the deprecated backwardSessions says', () => {
    for (let L = 1; L <= 13; L++) {
      for (let lowest = 0; lowest < L; lowest++) {
        for (const k of [undefined, 1, 2, L]) assert.equal(backwardStartLayer(lowest, L, k), lowest);
      }
    }
    assert.throws(() => backwardStartLayer(4, 4), /outside \[0, 4\)/);
    assert.equal(new LayerSelector('ist', 12, IST_DEFAULTS, 0).backwardFrom([3, 7, 9]), 3);
  });
});

describe('ist: sparse training steps', function () {
  this.timeout(60_000);
  let model: LoadedModel;
  let batch: TrainBatch;
  const examples = (): ReturnType<typeof readExamples> => {
    const dir = tempDir('ist-data');
    writeIstConfig(dir, {});
    return readExamples(path.join(dir, 'train.jsonl'), 'tokens', { maxLength: 12, limit: 0 });
  };
  let data: ReturnType<typeof readExamples>;

  before(() => {
    model = loadModel(fourLayerModel());
    data = examples();
    batch = makeBatch(data.slice(0, 4), 12, 0);
  });
  after(() => model.close());

  /** A runner whose B matrices are random (not 0), so every gradient is non-trivial. */
  async function runnerWithWeights(dropout: number): Promise<LoraRunner> {
    const lora = new LoraAdapter({ r: 2, alpha: 4, dropout, targets: ['c_attn', 'c_proj', 'c_fc'] }, new Rng(1));
    const runner = new LoraRunner(model, lora, { device: 'cpu', threads: 1 });
    await runner.session('train', 4, 12);
    const rng = new Rng(2);
    for (const m of lora.ordered()) for (let i = 0; i < m.b.length; i++) m.b[i] = rng.normal() * 0.2;
    return runner;
  }

  it('a train session from layer l gives the full graph\'s gradients for layers >= l and none below', async () => {
    const runner = await runnerWithWeights(0);
    try {
      const full = await runner.trainStep(batch, new Rng(0), 0);
      const from = 2;
      const part = await runner.trainStep(batch, new Rng(0), from);
      assert.equal(part.loss, full.loss);
      const layers = runner.parameterLayers();
      layers.forEach((layer, i) => {
        const g = part.grads[i] ?? new Float32Array(0);
        const ref = full.grads[i] ?? new Float32Array(0);
        if (layer < from) {
          assert.equal(g.length, 0, `parameter ${i} (layer ${layer}) got a gradient`);
          return;
        }
        assert.equal(g.length, ref.length);
        let worst = 0;
        let scale = 0;
        ref.forEach((r, k) => {
          worst = Math.max(worst, Math.abs((g[k] ?? 0) - r));
          scale = Math.max(scale, Math.abs(r));
        });
        assert.ok(scale > 0, `parameter ${i}: zero reference gradient`);
        assert.ok(worst <= 1e-5 * scale, `parameter ${i} (layer ${layer}): max difference ${worst} at scale ${scale}`);
      });
    } finally {
      await runner.dispose();
    }
  });

  it('unselected layers keep parameters and AdamW moments bit-identical; state exists only for selected layers', async () => {
    const runner = await runnerWithWeights(0.05);
    try {
      const optimizer = new AdamW({ weightDecay: 0.01 });
      const selector = new LayerSelector('random', LAYERS, { ...IST_DEFAULTS, updateRatio: 0.5 }, 4);
      const settings: TrainerSettings = {
        steps: 3, batchSize: 4, gradAccum: 2, lr: 0.01, warmupSteps: 0, decay: 'constant', maxGradNorm: 1, seed: 5, evalEvery: 0, checkpointEvery: 0,
      };
      const records: StepRecord[] = [];
      const cb = { onStep: (r: StepRecord) => void records.push(r), checkpoint: () => undefined, throwIfCancelled: () => undefined };
      const first = new Trainer(runner, optimizer, data, 12, 0, settings, undefined, selector);
      await first.run(cb);
      const params = runner.parameters();
      const layerOf = runner.parameterLayers();
      const before = params.map((p) => Float32Array.from(p));
      const momentsBefore = params.map((_, i) => {
        const m = optimizer.moments(i);
        return m === undefined ? undefined : { m: Float32Array.from(m.m), v: Float32Array.from(m.v) };
      });
      const second = new Trainer(runner, optimizer, data, 12, 0, { ...settings, steps: 4 }, first.progress(), selector);
      await second.run(cb);
      assert.equal(records.length, 4);
      const last = records[3];
      assert.ok(last !== undefined);
      assert.deepEqual(last.layers, selector.select(3));
      assert.equal(last.layers.length, 2);
      let changed = 0;
      params.forEach((p, i) => {
        const selected = last.layers.includes(layerOf[i] ?? -1);
        const same = Buffer.compare(Buffer.from(p.buffer, p.byteOffset, p.byteLength), Buffer.from((before[i] ?? p).buffer)) === 0;
        const m = optimizer.moments(i);
        const mb = momentsBefore[i];
        if (selected) {
          if (!same) changed++;
          assert.ok(m !== undefined);
          return;
        }
        assert.ok(same, `parameter ${i} of unselected layer ${layerOf[i]} changed`);
        if (mb === undefined) {
          assert.equal(m, undefined, `parameter ${i}: state created without an update`);
        } else {
          assert.ok(m !== undefined);
          assert.deepEqual(Array.from(m.m), Array.from(mb.m));
          assert.deepEqual(Array.from(m.v), Array.from(mb.v));
        }
      });
      assert.ok(changed > 0, 'no selected parameter moved');
      // Optimizer state exactly for the layers ever selected: m and v, 4 bytes per value each.
      const ever = new Set(records.flatMap((r) => r.layers));
      const expectedBytes = params.reduce((a, p, i) => a + (ever.has(layerOf[i] ?? -1) ? 8 * p.length : 0), 0);
      assert.equal(optimizer.stateBytes(), expectedBytes);
      params.forEach((_, i) => assert.equal(optimizer.moments(i) !== undefined, ever.has(layerOf[i] ?? -1)));
    } finally {
      await runner.dispose();
    }
  });
});
