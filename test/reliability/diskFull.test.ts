// Issue 16, end to end through `peft-lab run`: a write that fails mid-run (a full disk, here `ulimit -f`, which
// fails the same write(2) calls) stops the job naming the file; the last checkpoint stays whole, and once there is
// room again --resume ends with exactly the uninterrupted run.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  adapterHash, assertEachStepOnce, CHECKPOINT_EVERY, experiment, latestCheckpointStep, readJson, runCli, stepRecords, STEPS, summaryOf, uninterrupted,
} from './harness';

/** Temporary files (`.name.pid.time.n.tmp`, `.step-N.pid.tmp`) anywhere below `dir`. */
function tempFiles(dir: string): string[] {
  return fs.readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((p) => path.basename(p).endsWith('.tmp'));
}

describe('reliability: a full disk', function () {
  this.timeout(120_000);

  it('a write failing mid-run (16 KiB file limit) exits 1 naming metrics.jsonl; the last checkpoint is whole; --resume with room reproduces the run', async () => {
    const { dir, config } = experiment();
    const runDir = path.join(dir, 'disk-full');
    // The checkpoint files stay below 16 KiB; metrics.jsonl (about 150 bytes a step) reaches it at about step 100.
    const result = await runCli(['run', config, '--out', runDir], dir, { fileSizeLimitKiB: 16 });
    assert.equal(result.code, 1, result.stderr);
    const metricsFile = path.join(runDir, 'metrics.jsonl');
    assert.ok(result.stderr.includes(`error: ${metricsFile}: `), `the error does not name ${metricsFile}:\n${result.stderr}`);
    const summary = summaryOf(runDir);
    assert.equal(summary.status, 'failed');
    assert.match(String((summary.error as { message?: unknown }).message), new RegExp(`^${metricsFile.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: `));
    // The probe hit a write mid-run: a torn last record, after complete ones of steps 0..n-1.
    const text = fs.readFileSync(metricsFile, 'utf8');
    assert.ok(!text.endsWith('\n'), 'metrics.jsonl ends with a whole line: the write did not fail mid-record');
    const records = stepRecords(runDir, true);
    assertEachStepOnce(records, records.length);
    assert.ok(records.length > 2 * CHECKPOINT_EVERY && records.length < STEPS, `${records.length} steps recorded`);
    // The last checkpoint: named by latest.json, complete, and not ahead of what was recorded.
    const step = latestCheckpointStep(runDir) ?? -1;
    assert.ok(step >= CHECKPOINT_EVERY && step <= records.length, `checkpoint of step ${step}, ${records.length} steps recorded`);
    const pointer = readJson(path.join(runDir, 'checkpoints', 'latest.json'));
    const checkpointDir = path.join(runDir, 'checkpoints', String(pointer.dir));
    assert.equal(readJson(path.join(checkpointDir, 'state.json')).step, step);
    for (const f of ['adapter_model.safetensors', 'optimizer.safetensors', 'adapter_config.json']) assert.ok(fs.statSync(path.join(checkpointDir, f)).size > 0, f);
    assert.deepEqual(tempFiles(runDir), [], 'temporary files left behind');

    const resumed = await runCli(['run', config, '--resume', runDir], dir);
    assert.equal(resumed.code, 0, resumed.stderr);
    const after = stepRecords(runDir);
    assertEachStepOnce(after, STEPS);
    const reference = await uninterrupted();
    assert.deepEqual(after, reference.records, 'the resumed loss curve differs from the uninterrupted one');
    assert.equal(adapterHash(runDir), reference.adapter, 'the resumed adapter differs from the uninterrupted one');
    assert.equal(summaryOf(runDir).status, 'completed');
  });
});
