// IST and its baselines with the bottleneck adapters (issue 6: "works with LoRA and with the bottleneck
// adapters"): the truncated backward pass gives the full graph's gradients above the start layer, unselected
// layers' parameters and AdamW moments stay bit-identical, suppression scales the adapter output per layer, and
// tune runs with each layer selection complete, IST's write importance records and resume with their scores.
import { strict as assert } from 'node:assert';
import * as path from 'node:path';
import { makeBatch, type TrainBatch } from '../../../src/engine/data/batches';
import { readExamples } from '../../../src/engine/data/examples';
import { IST_DEFAULTS, LayerSelector } from '../../../src/engine/ist';
import { loadModel, type LoadedModel } from '../../../src/engine/models/model';
import { BottleneckAdapter } from '../../../src/engine/peft/bottleneck';
import { runTune } from '../../../src/engine/tasks';
import { AdamW } from '../../../src/engine/train/optimizer';
import { PeftSessionRunner } from '../../../src/engine/train/peftGraph';
import { Trainer, type StepRecord, type TrainerSettings } from '../../../src/engine/train/trainer';
import { Rng } from '../../../src/engine/util/random';
import type { MetricRecord } from '../../../src/protocol/runFiles';
import { writeBottleneckConfig } from '../peft/bottleneckHelpers';
import { loadTune, stubContext, tempDir } from '../tune/helpers';
import { fourLayerModel, LAYERS } from './helpers';

const numbers = (x: unknown): number[] => {
  assert.ok(Array.isArray(x) && x.every((v) => typeof v === 'number'), `not a number array: ${JSON.stringify(x)}`);
  return x.map(Number);
};

describe('ist: sparse training steps with bottleneck adapters', function () {
  this.timeout(60_000);
  let model: LoadedModel;
  let data: ReturnType<typeof readExamples>;
  let batch: TrainBatch;

  before(() => {
    model = loadModel(fourLayerModel());
    const dir = tempDir('ist-bn-data');
    writeBottleneckConfig(dir, {});
    data = readExamples(path.join(dir, 'train.jsonl'), 'tokens', { maxLength: 12, limit: 0 });
    batch = makeBatch(data.slice(0, 4), 12, 0);
  });
  after(() => model.close());

  /** A runner whose W_up and biases are random (not 0), so every gradient is non-trivial. */
  async function runnerWithWeights(placement: 'series' | 'parallel', dropout: number): Promise<PeftSessionRunner<BottleneckAdapter>> {
    const adapter = new BottleneckAdapter({ placement, bottleneckSize: 4, activation: 'tanh', scaling: 1, dropout, targets: ['c_attn', 'c_proj', 'c_fc'] }, new Rng(1));
    const runner = new PeftSessionRunner(model, adapter, { device: 'cpu', threads: 1 });
    await runner.session('train', 4, 12);
    const rng = new Rng(2);
    for (const m of adapter.ordered()) {
      for (const t of [m.up, m.downBias, m.upBias]) for (let i = 0; i < t.length; i++) t[i] = rng.normal() * 0.2;
    }
    return runner;
  }

  for (const placement of ['series', 'parallel'] as const) {
    it(`${placement}: a train session from layer l gives the full graph's gradients for layers >= l and none below`, async () => {
      const runner = await runnerWithWeights(placement, 0);
      try {
        const full = await runner.trainStep(batch, new Rng(0), 0);
        const from = 2;
        const part = await runner.trainStep(batch, new Rng(0), from);
        assert.equal(part.loss, full.loss);
        runner.parameterLayers().forEach((layer, i) => {
          const g = part.grads[i] ?? new Float32Array(0);
          const ref = full.grads[i] ?? new Float32Array(0);
          if (layer < from) return assert.equal(g.length, 0, `parameter ${i} (layer ${layer}) got a gradient`);
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
  }

  it('unselected layers keep parameters and AdamW moments bit-identical; state exists only for selected layers', async () => {
    const runner = await runnerWithWeights('series', 0.05);
    try {
      const optimizer = new AdamW({ weightDecay: 0.01 });
      const selector = new LayerSelector('ist', LAYERS, { ...IST_DEFAULTS, updateRatio: 0.5, interval: 2, scoreBatch: 4 }, 4);
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
      const last = records[3];
      assert.ok(last !== undefined);
      assert.deepEqual(last.layers, selector.select(3));
      assert.equal(last.layers.length, 2);
      let changed = 0;
      params.forEach((p, i) => {
        const same = Buffer.compare(Buffer.from(p.buffer, p.byteOffset, p.byteLength), Buffer.from((before[i] ?? p).buffer)) === 0;
        const m = optimizer.moments(i);
        const mb = momentsBefore[i];
        if (last.layers.includes(layerOf[i] ?? -1)) {
          if (!same) changed++;
          assert.ok(m !== undefined);
          return;
        }
        assert.ok(same, `parameter ${i} of unselected layer ${layerOf[i]} changed`);
        if (mb === undefined) {
          assert.equal(m, undefined, `parameter ${i}: state created without an update`);
        } else {
          assert.ok(m !== undefined);
          assert.ok(Buffer.from(m.m.buffer).equals(Buffer.from(mb.m.buffer)) && Buffer.from(m.v.buffer).equals(Buffer.from(mb.v.buffer)), `parameter ${i}: moments moved`);
        }
      });
      assert.ok(changed > 0, 'no selected parameter moved');
      const ever = new Set(records.flatMap((r) => r.layers));
      assert.equal(optimizer.stateBytes(), params.reduce((a, p, i) => a + (ever.has(layerOf[i] ?? -1) ? 8 * p.length : 0), 0));
    } finally {
      await runner.dispose();
    }
  });

  it('suppression: scale 1 is the unscaled score, 0 on every layer the base model, and one layer\'s scale moves the loss', async () => {
    const runner = await runnerWithWeights('parallel', 0);
    try {
      const ones = new Float32Array(LAYERS).fill(1);
      const unscaled = await runner.meanLoss(batch);
      assert.equal(await runner.meanLoss(batch, ones), unscaled);
      const zero = await runner.meanLoss(batch, new Float32Array(LAYERS));
      // A fresh adapter (W_up = 0, b_up = 0) is the base model.
      const trainables = runner.adapter.trainables();
      const saved = trainables.map((t) => Float32Array.from(t.data));
      for (const m of runner.adapter.ordered()) {
        m.up.fill(0);
        m.upBias.fill(0);
      }
      assert.equal(await runner.meanLoss(batch), zero);
      trainables.forEach((t, i) => t.data.set(saved[i] ?? t.data));
      const partly = await runner.meanLoss(batch, Float32Array.from([1, 0.25, 1, 1]));
      assert.ok(partly !== unscaled && partly !== zero, `${partly} vs ${unscaled}, ${zero}`);
    } finally {
      await runner.dispose();
    }
  });
});

describe('ist: tune runs with bottleneck adapters and each layer selection', function () {
  this.timeout(120_000);
  const ist = { interval: 4, scoreBatch: 8 };
  const runs = new Map<string, { metrics: MetricRecord[]; summary: Awaited<ReturnType<typeof runTune>> }>();
  let dir: string;
  const config = (layerSelection: string, train: Record<string, unknown> = {}): ReturnType<typeof loadTune> =>
    loadTune(writeBottleneckConfig(dir, { placement: 'series' }, { steps: 12, checkpointEvery: 0, ...train }, fourLayerModel(), { layerSelection, ist }));

  before(async () => {
    dir = tempDir('ist-bn-tune');
    for (const s of ['uniform', 'ist', 'random', 'lisa']) {
      const ctx = stubContext(path.join(dir, `run-${s}`));
      runs.set(s, { metrics: ctx.metrics, summary: await runTune(config(s), ctx) });
    }
  });
  const run = (s: string): { metrics: MetricRecord[]; summary: Awaited<ReturnType<typeof runTune>> } => {
    const r = runs.get(s);
    assert.ok(r !== undefined);
    return r;
  };

  it('all four complete with their layer counts; only ist writes importance records, at steps 4 and 8', () => {
    for (const s of ['uniform', 'ist', 'random', 'lisa']) {
      const steps = run(s).metrics.filter((m) => m.type === 'step');
      assert.equal(steps.length, 12, s);
      for (const r of steps) assert.equal(numbers(r.layers).length, s === 'uniform' ? LAYERS : 1, `${s} step ${String(r.step)}`);
      assert.equal(typeof run(s).summary.metrics?.evalPerplexity, 'number');
      assert.equal(run(s).metrics.filter((m) => m.type === 'importance').length, s === 'ist' ? 2 : 0, s);
    }
    const records = run('ist').metrics.filter((m) => m.type === 'importance');
    assert.deepEqual(records.map((r) => r.step), [4, 8]);
    for (const r of records) {
      assert.equal(numbers(r.scores).length, LAYERS);
      assert.equal(numbers(r.rewards).length, 3);
      assert.ok(numbers(r.scores).some((v) => v !== 0));
    }
    const uniform = run('uniform').summary.memory as Record<string, unknown>;
    for (const s of ['ist', 'random', 'lisa']) {
      const ever = new Set(run(s).metrics.filter((m) => m.type === 'step').flatMap((r) => numbers(r.layers)));
      const memory = run(s).summary.memory as Record<string, unknown>;
      // Every layer carries the same adapters, so state bytes are proportional to the layers ever selected.
      assert.equal(memory.optimizerStateBytes, (Number(uniform.optimizerStateBytes) * ever.size) / LAYERS, s);
    }
  });

  it('a cancelled IST run resumes with its scores: the same importance records and losses as uninterrupted', async () => {
    const runDir = path.join(dir, 'run-ist-resume');
    const ctx = stubContext(runDir);
    ctx.cancelAfterSteps = 6;
    await assert.rejects(runTune(config('ist'), ctx));
    const resumed = stubContext(runDir);
    const summary = await runTune(config('ist'), resumed);
    assert.equal(summary.metrics?.resumedFromStep, 6);
    const full = run('ist').metrics;
    const importance = (ms: MetricRecord[]): string[] => ms.filter((m) => m.type === 'importance').map((m) => JSON.stringify(m));
    assert.deepEqual(importance([...ctx.metrics, ...resumed.metrics]), importance(full));
    const stepsOf = (ms: MetricRecord[]): string[] => ms.filter((m) => m.type === 'step').map((m) => JSON.stringify([m.step, m.loss, m.layers]));
    assert.deepEqual(stepsOf(resumed.metrics), stepsOf(full).slice(6));
    assert.deepEqual(stepsOf(ctx.metrics), stepsOf(full).slice(0, 6));
  });
});
