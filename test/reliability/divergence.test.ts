// Issue 16, end to end through `peft-lab run`: a run whose gradients turn NaN stops naming the step, keeps the last
// good checkpoint with only finite values in it, and a --resume from it fails the same way without poisoning it.
import { strict as assert } from 'node:assert';
import * as path from 'node:path';
import { assertCheckpointsFinite } from '../unit/tune/helpers';
import { latestCheckpointStep, runCli, snapshot, stepRecords, summaryOf, tuneConfig, writeExperiment } from './harness';

describe('reliability: a diverging run', function () {
  this.timeout(120_000);

  it('NaN gradients stop the run (exit 1) naming the step; the last good checkpoint is kept, finite, and resumes to the same failure', async () => {
    // ReLU bottleneck adapters at lr 1e15: the gradient norm turns NaN within a few steps on the GPT-2 fixture.
    const config = tuneConfig({
      peft: { method: 'bottleneck', targets: ['c_fc'], activation: 'relu', bottleneckSize: 8, r: undefined, alpha: undefined, dropout: undefined },
      train: { optimizer: 'adamw', lr: 1e15, steps: 12, warmupSteps: 0, checkpointEvery: 1 },
    });
    const { dir, config: file } = writeExperiment('diverge', config);
    const runDir = path.join(dir, 'run');
    const result = await runCli(['run', file, '--out', runDir], dir);
    assert.equal(result.code, 1, result.stderr);
    const failure = /error: (?:training loss|gradient norm) is (?:NaN|-?Infinity) at step (\d+)|error: the update of step (\d+) made/.exec(result.stderr);
    assert.ok(failure, result.stderr);
    const failedStep = Number(failure[1] ?? failure[2]);
    const records = stepRecords(runDir);
    assert.equal(records.length, failedStep, 'step records past the failing step');
    assert.ok(records.every((r) => Number.isFinite(r.loss)), 'a non-finite loss was recorded');
    const summary = summaryOf(runDir);
    assert.equal(summary.status, 'failed');
    assert.equal((summary.error as { where?: unknown }).where, `train step ${failedStep}`);
    // The last good state: the checkpoint after the steps that completed, holding no NaN or Inf.
    assert.equal(latestCheckpointStep(runDir), failedStep);
    assert.ok(assertCheckpointsFinite(runDir).length >= 1);
    assert.ok(result.stderr.includes(`the last good checkpoint (after ${failedStep} completed steps) is in ${path.join(runDir, 'checkpoints')}`), result.stderr);

    const checkpointBefore = snapshot(path.join(runDir, 'checkpoints'));
    const resumed = await runCli(['run', file, '--resume', runDir], dir);
    assert.equal(resumed.code, 1, resumed.stderr);
    assert.ok(resumed.stderr.includes(failure[0]), `the resume did not fail the same way:\n${resumed.stderr}`);
    assert.equal(latestCheckpointStep(runDir), failedStep);
    assertCheckpointsFinite(runDir);
    assert.deepEqual(stepRecords(runDir), records, 'the resumed attempt changed the recorded curve');
    // The failing resume may rewrite the checkpoint of the same step; its content must be the same good state.
    const after = snapshot(path.join(runDir, 'checkpoints'));
    const weights = (s: Record<string, string>): string[] => Object.entries(s).filter(([k]) => k.endsWith('.safetensors')).map(([, v]) => v.split(' ')[0] ?? '');
    assert.deepEqual(new Set(weights(after)), new Set(weights(checkpointBefore)), 'the checkpoint weights changed');
  });
});
