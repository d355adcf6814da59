// Diverging runs (issue 16 item 1): a NaN/Inf gradient norm or update stops the run naming the step, and no kept
// checkpoint ever holds a non-finite tensor, so resume restarts from the last good state.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { LoraAdapter } from '../../../src/engine/peft/lora';
import { runTune, TaskError } from '../../../src/engine/tasks';
import { findCheckpoint, saveCheckpoint } from '../../../src/engine/train/checkpoint';
import { Sgd } from '../../../src/engine/train/optimizer';
import { derivedRng, RNG_TAGS } from '../../../src/engine/data/batches';
import { FIXTURES } from '../models/fixturePaths';
import { assertCheckpointsFinite, loadTune, stepLosses, stubContext, tempDir, writeTuneConfig } from './helpers';

describe('tune: diverging runs keep only finite checkpoints', function () {
  this.timeout(30_000);
  // ReLU bottleneck adapters on the GPT-2 fixture: at these learning rates the loss stays finite for a step
  // while the gradient norm is already NaN (the old code then wrote NaN into the adapter and checkpointed it).
  const peft = { method: 'bottleneck', targets: ['c_fc'], activation: 'relu', bottleneckSize: 8, r: undefined, alpha: undefined };
  for (const [optimizer, lr] of [['adamw', 1e3], ['adamw', 1e10], ['adamw', 1e15], ['adamw', 1e21], ['sgd', 1e5], ['sgd', 1e15]] as const) {
    it(`${optimizer} lr ${lr}`, async () => {
      const dir = tempDir('diverge');
      const config = loadTune(writeTuneConfig(dir, { model: FIXTURES.gpt2, peft, train: { optimizer, lr, steps: 8, warmupSteps: 0, checkpointEvery: 1 } }));
      const ctx = stubContext(path.join(dir, 'run'));
      let failure: TaskError | undefined;
      try {
        await runTune(config, ctx);
      } catch (e) {
        if (!(e instanceof TaskError)) throw e;
        failure = e;
      }
      const steps = stepLosses(ctx.metrics);
      assert.ok(steps.every(Number.isFinite));
      assert.ok(ctx.metrics.every((m) => m.type !== 'step' || Number.isFinite(m.gradNorm)), 'a recorded step has a non-finite gradient norm');
      assert.ok(assertCheckpointsFinite(ctx.runDir).length >= 1);
      if (failure === undefined) return; // this rate did not diverge within 8 steps
      assert.match(failure.message, new RegExp(`(training loss|gradient norm) is (NaN|-?Infinity) at step ${steps.length}|the update of step ${steps.length} made`));
      assert.equal(failure.where, `train step ${steps.length}`);
      assert.equal(findCheckpoint(ctx.runDir)?.state.step, steps.length);
      // Resume loads the last good checkpoint and runs the failing step again (same rate, same data: same failure).
      const resumed = stubContext(ctx.runDir);
      await assert.rejects(runTune(config, resumed), (e: unknown) => e instanceof TaskError && e.where === failure.where && e.message === failure.message);
      assert.ok(resumed.logs.some((l) => l.includes(`resuming from`) && l.includes(`step ${steps.length} of 8`)), resumed.logs.join('\n'));
      assertCheckpointsFinite(ctx.runDir);
    });
  }

  it('at least one of those rates diverges through a non-finite gradient norm', async () => {
    const dir = tempDir('diverge-grad');
    const config = loadTune(writeTuneConfig(dir, { model: FIXTURES.gpt2, peft, train: { optimizer: 'adamw', lr: 1e10, steps: 8, warmupSteps: 0, checkpointEvery: 1 } }));
    await assert.rejects(runTune(config, stubContext(path.join(dir, 'run'))), /gradient norm is NaN at step 2 \(loss [\d.]+\); stopped before updating/);
  });

  it('saveCheckpoint refuses a non-finite adapter or optimizer tensor, naming it', () => {
    const runDir = tempDir('ckpt-nan');
    const adapter = new LoraAdapter({ r: 1, alpha: 1, dropout: 0, targets: ['c_attn'] }, derivedRng(0, RNG_TAGS.init));
    adapter.modules.set('transformer.h.0.attn.c_attn', {
      path: 'transformer.h.0.attn.c_attn', module: 'c_attn', layer: 0, inFeatures: 2, outFeatures: 2, a: Float32Array.of(1, NaN), b: Float32Array.of(0, 0),
    });
    const state = { step: 3, consumed: 24, seed: 0, rng: 'derived from seed, step and micro-batch', optimizer: 'sgd', fingerprint: 'x' } as const;
    assert.throws(() => saveCheckpoint(runDir, state, adapter, new Sgd(), { baseModel: 'm', modelFamily: 'gpt2' }),
      /not writing a checkpoint of step 3: adapter tensor lora\.transformer\.h\.0\.attn\.c_attn\.A holds NaN at index 1/);
    assert.equal(fs.existsSync(path.join(runDir, 'checkpoints')), false);
  });
});
