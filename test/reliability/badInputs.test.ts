// Issue 16, end to end through `peft-lab run`: bad inputs are reported naming the file and the key (or line:col),
// and leave no run folder behind (or, for a resume, the run exactly as it was).
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  assertEachStepOnce, copyOfCancelledRun, runCli, snapshot, stepRecords, STEPS, summaryOf, tuneConfig, uninterrupted, writeExperiment,
} from './harness';

describe('reliability: bad inputs through the CLI', function () {
  this.timeout(120_000);

  it('a malformed config JSON exits 2 naming file:line:col, and creates no run folder', async () => {
    const { dir } = writeExperiment();
    fs.writeFileSync(path.join(dir, 'broken.peft.json'), '{\n  "name": "broken",\n  "task": "tune"\n  "model": "x"\n}\n');
    const out = path.join(dir, 'run');
    const result = await runCli(['run', 'broken.peft.json', '--out', out], dir);
    assert.equal(result.code, 2, result.stderr);
    assert.match(result.stderr, /invalid config:\nbroken\.peft\.json:4:3: JSON syntax error: comma expected/);
    assert.equal(result.stdout, '');
    assert.equal(fs.existsSync(out), false, '--out folder created for an invalid config');
    assert.equal(fs.existsSync(path.join(dir, '.peft-lab')), false);
  });

  it('a missing data file is a config error naming $.data.train and the file, not a raw ENOENT', async () => {
    const { dir } = writeExperiment('missing', tuneConfig({ data: { train: 'no-such-data.jsonl' } }));
    const result = await runCli(['run', 'missing.peft.json'], dir);
    assert.equal(result.code, 2, result.stderr);
    assert.match(result.stderr, /missing\.peft\.json:\d+:\d+: \$\.data\.train: no such file: .*no-such-data\.jsonl/);
    assert.doesNotMatch(result.stderr, /ENOENT|at .*\.js:\d+/);
    assert.equal(fs.existsSync(path.join(dir, '.peft-lab')), false, 'a run folder was created for an invalid config');
  });

  it("maxLength beyond the model's 512 positions fails before any step, naming $.data.maxLength", async () => {
    const { dir } = writeExperiment('long', tuneConfig({ data: { maxLength: 600 } }));
    const out = path.join(dir, 'run');
    const result = await runCli(['run', 'long.peft.json', '--out', out], dir);
    assert.equal(result.code, 1, result.stderr);
    assert.match(result.stderr, /error: maxLength 600 is more than the model's 512 positions \(n_positions in .*tiny-random-gpt2\/config\.json\).*\(at \$\.data\.maxLength\)/);
    assert.doesNotMatch(result.stderr, /Gather|idx=/);
    const summary = summaryOf(out);
    assert.equal(summary.status, 'failed');
    assert.deepEqual((summary.error as { where?: unknown }).where, '$.data.maxLength');
    assert.deepEqual(stepRecords(out), []);
    assert.equal(fs.existsSync(path.join(out, 'checkpoints')), false);
  });

  it('a corrupt checkpoints/latest.json on --resume exits 1 naming the file and leaves the run as it was; repaired, it resumes', async () => {
    const runDir = await copyOfCancelledRun('corrupt-latest');
    const latest = path.join(runDir, 'checkpoints', 'latest.json');
    const good = fs.readFileSync(latest, 'utf8');
    fs.writeFileSync(latest, good.slice(0, Math.floor(good.length / 2))); // a torn write
    const before = snapshot(runDir);
    const result = await runCli(['run', path.join(path.dirname(runDir), 'reliability.peft.json'), '--resume', runDir], path.dirname(runDir));
    assert.equal(result.code, 1, result.stderr);
    assert.ok(result.stderr.includes(latest), `the message does not name ${latest}:\n${result.stderr}`);
    assert.match(result.stderr, /\(at resume\)/);
    // Nothing poisoned: config.json, summary.json, metrics.jsonl and the checkpoint are byte for byte as they were
    // (log.txt, append-only, records the failed attempt).
    const after = snapshot(runDir);
    for (const key of new Set([...Object.keys(before), ...Object.keys(after)])) {
      if (key === 'log.txt') continue;
      assert.equal(after[key], before[key], `${key} changed`);
    }
    assert.equal(summaryOf(runDir).status, 'cancelled');
    assert.match(fs.readFileSync(path.join(runDir, 'log.txt'), 'utf8'), /latest\.json/);

    fs.writeFileSync(latest, good);
    const resumed = await runCli(['run', path.join(path.dirname(runDir), 'reliability.peft.json'), '--resume', runDir], path.dirname(runDir));
    assert.equal(resumed.code, 0, resumed.stderr);
    const records = stepRecords(runDir);
    assertEachStepOnce(records, STEPS);
    assert.deepEqual(records, (await uninterrupted()).records);
  });
});
