// The tune task in the real job process: cancel during training records `cancelled` and leaves a checkpoint of
// the last completed step; starting the job again on the same run folder (what `peft-lab run --resume` does)
// continues the same loss curve as an uninterrupted run.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readSummary } from '../../../src/engine/runs';
import { runTune } from '../../../src/engine/tasks';
import { findCheckpoint } from '../../../src/engine/train/checkpoint';
import { startJob } from '../../../src/jobs';
import { testBundles } from '../jobs/testBundles';
import { loadTune, stepLosses, stubContext, tempDir, writeTuneConfig } from './helpers';

function stepRecords(runDir: string): { step: number; loss: number }[] {
  return fs.readFileSync(path.join(runDir, 'metrics.jsonl'), 'utf8').trim().split('\n').flatMap((line) => {
    const r: unknown = JSON.parse(line);
    return typeof r === 'object' && r !== null && 'type' in r && r.type === 'step' && 'step' in r && 'loss' in r && typeof r.step === 'number' && typeof r.loss === 'number'
      ? [{ step: r.step, loss: r.loss }] : [];
  });
}

describe('tune: cancel and resume in the job process', function () {
  this.timeout(120_000);
  it('cancel mid-run leaves a resumable checkpoint; resuming reproduces the uninterrupted loss curve', async () => {
    const bundles = await testBundles();
    const dir = tempDir('tunejob');
    const configPath = writeTuneConfig(dir, { train: { steps: 60, checkpointEvery: 0 } });
    const runDir = path.join(dir, 'run');
    const job = startJob({ configPath, runDir, workerPath: bundles.workerPath });
    let asked = false;
    job.onEvent((e) => {
      if (!asked && e.type === 'metric' && e.record.type === 'step' && typeof e.record.step === 'number' && e.record.step >= 5) {
        asked = true;
        void job.cancel();
      }
    });
    const result = await job.done;
    assert.equal(result.status, 'cancelled');
    assert.equal(readSummary(runDir)?.status, 'cancelled');
    const checkpoint = findCheckpoint(runDir);
    assert.ok(checkpoint !== undefined, 'no checkpoint after cancel');
    const before = stepRecords(runDir);
    assert.ok(checkpoint.state.step >= 6 && checkpoint.state.step < 60, `checkpoint at step ${checkpoint.state.step}`);
    assert.ok(before.length >= checkpoint.state.step);

    const startedAt = readSummary(runDir)?.startedAt;
    const resumed = startJob({ configPath, runDir, resume: true, workerPath: bundles.workerPath });
    const done = await resumed.done;
    assert.equal(done.status, 'completed', JSON.stringify(done.summary.error));
    assert.equal(done.summary.metrics.resumedFromStep, checkpoint.state.step);
    const records = stepRecords(runDir);
    // The summary describes the whole run, not the resumed part (issue 16 item 10).
    assert.equal(done.summary.startedAt, startedAt);
    assert.equal(done.summary.metrics.firstLoss, records[0]?.loss);
    assert.deepEqual(records.map((r) => r.step), Array.from({ length: 60 }, (_, i) => i));

    const reference = stubContext(path.join(dir, 'reference'));
    await runTune(loadTune(configPath), reference);
    assert.deepEqual(records.map((r) => r.loss), stepLosses(reference.metrics));
  });
});
