// Issue 16, end to end through `peft-lab run`: a run interrupted mid-training (Ctrl-C, kill -9 of the CLI and its
// job, kill -9 of the job alone) and then continued with --resume ends with exactly the loss curve and adapter of
// an uninterrupted run with the same seed, each step recorded once.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  adapterHash, assertEachStepOnce, cancelledRun, copyOfCancelledRun, experiment, interruptRun, latestCheckpointStep, readJson, runCli, stepRecords, STEPS,
  summaryOf, uninterrupted, type Interrupted,
} from './harness';

/** --resume of `runDir`; asserts it completes with the uninterrupted run's loss curve and adapter, bit for bit. */
async function resumeAndCompare(runDir: string, fromStep: number): Promise<void> {
  const { dir, config } = experiment();
  const startedAt = summaryOf(runDir).startedAt;
  const result = await runCli(['run', config, '--resume', runDir], dir);
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stderr, new RegExp(`resuming from .*step-0*${fromStep}\\b.* \\(step ${fromStep} of ${STEPS}\\)`));
  const records = stepRecords(runDir);
  assertEachStepOnce(records, STEPS);
  const reference = await uninterrupted();
  assert.deepEqual(records, reference.records, 'the resumed loss curve differs from the uninterrupted one');
  assert.equal(adapterHash(runDir), reference.adapter, 'the resumed adapter differs from the uninterrupted one');
  const summary = summaryOf(runDir);
  assert.equal(summary.status, 'completed');
  assert.equal(summary.startedAt, startedAt, 'the resume replaced the first start time');
  assert.equal((summary.metrics as Record<string, unknown>).resumedFromStep, fromStep);
  for (const f of ['run.lock', 'heartbeat.json']) assert.equal(fs.existsSync(path.join(runDir, f)), false, `${f} left behind`);
}

describe('reliability: interrupted runs resume bit-exact', function () {
  this.timeout(120_000);

  it('Ctrl-C (SIGINT to the CLI and its job) mid-run exits 130 with a checkpoint of the last step; --resume reproduces the uninterrupted run', async () => {
    const interrupted: Interrupted = await cancelledRun();
    assert.equal(interrupted.result.code, 130, interrupted.result.stderr);
    const template = interrupted.runDir;
    assert.equal(summaryOf(template).status, 'cancelled');
    // The cancel checkpoints the last completed step: nothing trained is lost, nothing recorded is ahead of it.
    const step = latestCheckpointStep(template) ?? -1;
    const records = stepRecords(template);
    assert.ok(step >= interrupted.recordsAtSignal && step < STEPS, `checkpoint of step ${step}, ${interrupted.recordsAtSignal} steps recorded at the signal`);
    assertEachStepOnce(records, step);
    assert.match(interrupted.result.stderr, /cancelled/);
    const runDir = await copyOfCancelledRun('sigint');
    await resumeAndCompare(runDir, step);
  });

  it('kill -9 of the CLI and its job mid-run leaves the last periodic checkpoint; --resume drops the later records and reproduces the run', async () => {
    const runDir = path.join(experiment().dir, 'sigkill');
    const interrupted = await interruptRun(runDir, 'SIGKILL', 'group');
    assert.equal(interrupted.result.signal, 'SIGKILL');
    // What a kill -9 leaves: a summary that still says running, a lock of a dead process, step records past the checkpoint.
    assert.equal(summaryOf(runDir).status, 'running');
    assert.ok(fs.existsSync(path.join(runDir, 'run.lock')), 'no stale run.lock: the probe did not exercise the takeover');
    const step = latestCheckpointStep(runDir) ?? -1;
    assert.ok(step >= interrupted.checkpointAtSignal, `checkpoint step ${step}`);
    assert.ok(stepRecords(runDir, true).length > step, 'no records past the checkpoint: the probe did not exercise their removal');
    assert.deepEqual(readJson(path.join(runDir, 'checkpoints', 'latest.json')).step, step);
    await resumeAndCompare(runDir, step);
  });

  it('kill -9 of the job alone: the CLI exits 1 reporting the signal; --resume reproduces the run', async () => {
    const runDir = path.join(experiment().dir, 'sigkill-job');
    const interrupted = await interruptRun(runDir, 'SIGKILL', 'job');
    assert.equal(interrupted.result.code, 1, interrupted.result.stderr);
    assert.match(interrupted.result.stderr, /error: the job process was killed by signal SIGKILL before finishing/);
    assert.equal(summaryOf(runDir).status, 'failed');
    assert.equal(fs.existsSync(path.join(runDir, 'run.lock')), false, 'the CLI that outlived its job kept the lock');
    const step = latestCheckpointStep(runDir) ?? -1;
    assert.ok(step >= interrupted.checkpointAtSignal, `checkpoint step ${step}`);
    await resumeAndCompare(runDir, step);
  });
});
