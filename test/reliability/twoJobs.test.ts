// Issue 16, end to end through `peft-lab run`: one job per run folder. A second job on a folder in use fails at
// once with a lock message and changes nothing in it; the first completes with every step recorded once.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  assertEachStepOnce, CHECKPOINT_EVERY, experiment, latestCheckpointStep, runCli, sleep, snapshot, startCli, stepRecords, STEPS, summaryOf, uninterrupted, waitFor,
} from './harness';

describe('reliability: two jobs on one run folder', function () {
  this.timeout(120_000);

  it('a second job (--resume) on a folder in use fails naming the folder and the holder; the first completes, each step once', async () => {
    const { dir, config } = experiment();
    const runDir = path.join(dir, 'two-jobs');
    const first = await startCli(['run', config, '--out', runDir], dir);
    await waitFor('the first job to checkpoint', () => {
      if (first.exited) throw new Error(`the first job ended too early:\n${first.output().stderr}`);
      return (latestCheckpointStep(runDir) ?? 0) >= CHECKPOINT_EVERY;
    });
    // Paused (SIGSTOP) while the second starts, so a slow start cannot find the first already finished; its CLI,
    // which holds run.lock, keeps running.
    const jobPid = summaryOf(runDir).pid;
    assert.ok(typeof jobPid === 'number' && jobPid !== first.pid, 'summary.json names the job process');
    process.kill(jobPid, 'SIGSTOP');
    let second;
    let before;
    let after;
    try {
      await sleep(100); // let a write the job had under way land
      before = snapshot(runDir);
      second = await runCli(['run', config, '--resume', runDir], dir);
      after = snapshot(runDir);
    } finally {
      process.kill(jobPid, 'SIGCONT');
    }
    assert.deepEqual(after, before, 'the refused job changed the run folder');
    assert.equal(second.code, 1, second.stderr);
    assert.ok(second.stderr.includes(`${runDir} is in use by process ${first.pid}`), second.stderr);
    assert.ok(second.stderr.includes(path.join(runDir, 'run.lock')), second.stderr);
    assert.equal(first.exited, false, 'the first job ended before the second one was refused: the probe proved nothing');
    assert.equal(second.stdout, '');
    const result = await first.done;
    assert.equal(result.code, 0, result.stderr);
    assert.equal(summaryOf(runDir).status, 'completed');
    const records = stepRecords(runDir);
    assertEachStepOnce(records, STEPS);
    assert.deepEqual(records, (await uninterrupted()).records);
    assert.equal(fs.existsSync(path.join(runDir, 'run.lock')), false);
  });

  it('two --out jobs started together on one new folder: exactly one runs, the other is refused', async () => {
    const { dir, config } = experiment();
    const runDir = path.join(dir, 'two-at-once');
    const [a, b] = await Promise.all([runCli(['run', config, '--out', runDir], dir), runCli(['run', config, '--out', runDir], dir)]);
    const codes = [a.code, b.code].sort();
    assert.equal(codes[0], 0, `${a.stderr}\n---\n${b.stderr}`);
    assert.notEqual(codes[1], 0, 'both jobs ran in one folder');
    const loser = a.code === 0 ? b : a;
    assert.match(loser.stderr, /is in use by process \d+|already holds a run/);
    const records = stepRecords(runDir);
    assertEachStepOnce(records, STEPS);
    assert.deepEqual(records, (await uninterrupted()).records);
  });
});
