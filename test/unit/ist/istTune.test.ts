// The tune task with each layer selection on the same config and seed: step records name their layers, IST's
// importance records hold a score update that a hand computation from the recorded losses reproduces, summary.json
// has the memory figure, sparse selections hold less optimizer state, and an IST run resumes with its scores.
import { strict as assert } from 'node:assert';
import * as path from 'node:path';
import { runTune } from '../../../src/engine/tasks';
import type { MetricRecord } from '../../../src/protocol/runFiles';
import { loadTune, stubContext, tempDir } from '../tune/helpers';
import { LAYERS, writeIstConfig } from './helpers';

interface Run {
  metrics: MetricRecord[];
  summary: Awaited<ReturnType<typeof runTune>>;
}

const numbers = (x: unknown): number[] => {
  assert.ok(Array.isArray(x) && x.every((v) => typeof v === 'number'), `not a number array: ${JSON.stringify(x)}`);
  return x.map(Number);
};
const sets = (x: unknown): number[][] => {
  assert.ok(Array.isArray(x));
  return x.map(numbers);
};

describe('ist: tune runs with each layer selection', function () {
  this.timeout(120_000);
  const runs = new Map<string, Run>();
  const ist = { interval: 4, scoreBatch: 8 };
  let dir: string;

  before(async () => {
    dir = tempDir('ist-tune');
    for (const strategy of ['uniform', 'ist', 'random', 'lisa']) {
      const config = loadTune(writeIstConfig(dir, { layerSelection: strategy, ist }));
      const ctx = stubContext(path.join(dir, `run-${strategy}`));
      runs.set(strategy, { metrics: ctx.metrics, summary: await runTune(config, ctx) });
    }
  });

  const run = (s: string): Run => {
    const r = runs.get(s);
    assert.ok(r !== undefined);
    return r;
  };
  const steps = (s: string): MetricRecord[] => run(s).metrics.filter((m) => m.type === 'step');

  it('all four complete; every step record names its layers (all for uniform, floor(0.25 L) otherwise)', () => {
    for (const s of ['uniform', 'ist', 'random', 'lisa']) {
      const records = steps(s);
      assert.equal(records.length, 12, s);
      for (const r of records) {
        const layers = numbers(r.layers);
        assert.equal(layers.length, s === 'uniform' ? LAYERS : 1, `${s} step ${String(r.step)}`);
        assert.ok(layers.every((l) => Number.isInteger(l) && l >= 0 && l < LAYERS));
      }
      assert.ok(typeof run(s).summary.metrics?.evalPerplexity === 'number', `${s}: no eval perplexity`);
    }
    const lisa = steps('lisa').map((r) => numbers(r.layers).join(','));
    for (let i = 0; i < 12; i++) assert.equal(lisa[i], lisa[i - (i % 4)], `lisa switched inside a window at step ${i}`);
  });

  it('only ist writes importance records, at steps interval, 2 interval, ...; each equals the hand computation', () => {
    for (const s of ['uniform', 'random', 'lisa']) assert.equal(run(s).metrics.filter((m) => m.type === 'importance').length, 0, s);
    const records = run('ist').metrics.filter((m) => m.type === 'importance');
    assert.deepEqual(records.map((r) => r.step), [4, 8]);
    let scores = new Array<number>(LAYERS).fill(0);
    for (const r of records) {
      const losses = numbers(r.losses);
      const suppressed = sets(r.suppressed);
      assert.equal(losses.length, 3);
      assert.equal(suppressed.length, 3);
      suppressed.forEach((set) => assert.equal(set.length, 2));
      // r_k = exp(-l_k), centred; p = sigmoid(s) before the loop; s_i += 10 r^_k p_i (1 - p_i) for i in S_k.
      const raw = losses.map((l) => Math.exp(-l));
      const mean = (raw[0]! + raw[1]! + raw[2]!) / 3;
      const centred = raw.map((x) => x - mean);
      const p = scores.map((s) => 1 / (1 + Math.exp(-s)));
      const next = [...scores];
      suppressed.forEach((set, k) => set.forEach((i) => (next[i] = next[i]! + 10 * centred[k]! * p[i]! * (1 - p[i]!))));
      const recordedRewards = numbers(r.rewards);
      centred.forEach((c, k) => assert.ok(Math.abs(c - recordedRewards[k]!) <= 1e-15, `reward ${k}`));
      const recorded = numbers(r.scores);
      next.forEach((v, i) => assert.ok(Math.abs(v - recorded[i]!) <= 1e-12, `score ${i}: hand ${v}, recorded ${recorded[i]}`));
      assert.ok(recorded.some((v) => v !== 0));
      scores = recorded;
    }
  });

  it('summary.json has the memory figure; optimizer state holds m and v of exactly the layers ever selected', () => {
    const uniform = run('uniform').summary.memory;
    assert.ok(typeof uniform === 'object' && uniform !== null);
    const trainable = Number((uniform as Record<string, unknown>).trainableParameters);
    assert.equal((uniform as Record<string, unknown>).optimizerStateBytes, 8 * trainable);
    assert.ok(Number((uniform as Record<string, unknown>).peakRssBytes) > 10_000_000);
    for (const s of ['ist', 'random', 'lisa']) {
      const memory = run(s).summary.memory as Record<string, unknown>;
      const ever = new Set(steps(s).flatMap((r) => numbers(r.layers)));
      // Every layer of this model carries the same LoRA modules, so state bytes are proportional to the layers.
      assert.equal(memory.optimizerStateBytes, (8 * trainable * ever.size) / LAYERS, s);
    }
  });

  it('IST holds less optimizer state than uniform while not every layer has been selected', async () => {
    const config = loadTune(writeIstConfig(dir, { layerSelection: 'ist', ist: { interval: 2, scoreBatch: 8 } }, { steps: 3 }));
    const ctx = stubContext(path.join(dir, 'run-ist-short'));
    const summary = await runTune(config, ctx);
    const memory = summary.memory as Record<string, unknown>;
    const uniform = run('uniform').summary.memory as Record<string, unknown>;
    assert.ok(Number(memory.optimizerStateBytes) < Number(uniform.optimizerStateBytes), `${String(memory.optimizerStateBytes)} vs ${String(uniform.optimizerStateBytes)}`);
    assert.equal(ctx.metrics.filter((m) => m.type === 'importance').length, 1);
  });

  it('a cancelled IST run resumes with its scores: the same importance records and losses as uninterrupted', async () => {
    const config = loadTune(writeIstConfig(dir, { layerSelection: 'ist', ist }));
    const runDir = path.join(dir, 'run-ist-resume');
    const ctx = stubContext(runDir);
    ctx.cancelAfterSteps = 6;
    await assert.rejects(runTune(config, ctx));
    const resumed = stubContext(runDir);
    await runTune(config, resumed);
    const full = run('ist').metrics;
    const importance = (ms: MetricRecord[]): string[] => ms.filter((m) => m.type === 'importance').map((m) => JSON.stringify(m));
    // Step 4's round ran before the cancel, step 8's after the resume (from the checkpointed scores).
    assert.deepEqual(importance([...ctx.metrics, ...resumed.metrics]), importance(full));
    const stepsOf = (ms: MetricRecord[]): string[] => ms.filter((m) => m.type === 'step').map((m) => JSON.stringify([m.step, m.loss, m.layers]));
    assert.deepEqual(stepsOf(resumed.metrics), stepsOf(full).slice(6));
  });
});
