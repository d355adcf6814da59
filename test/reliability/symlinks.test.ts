// Issue 16, end to end through `peft-lab run`: a run folder holding a symbolic link is refused before the job
// writes (or deletes) anything through it, and --out never lands on top of an existing run.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { copyOfCancelledRun, experiment, runCli, snapshot, tempDir, uninterrupted } from './harness';

/** A file outside every run folder, with known content and mtime. */
function outsideFile(): { file: string; before: string } {
  const file = path.join(tempDir('outside'), 'precious.txt');
  fs.writeFileSync(file, 'not a log\n');
  const mtime = new Date(Date.now() - 60_000);
  fs.utimesSync(file, mtime, mtime);
  return { file, before: JSON.stringify(snapshot(path.dirname(file))) };
}

const symlinkMessage = (link: string): RegExp => new RegExp(`${link.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} is a symbolic link: a run folder must hold only plain files and folders`);

describe('reliability: symbolic links and existing runs', function () {
  this.timeout(120_000);

  it('--resume of a run whose log.txt is a symlink is refused naming it; the link target is untouched', async () => {
    const runDir = await copyOfCancelledRun('log-link');
    const { file, before } = outsideFile();
    fs.rmSync(path.join(runDir, 'log.txt'));
    fs.symlinkSync(file, path.join(runDir, 'log.txt'));
    const folderBefore = snapshot(runDir);
    const result = await runCli(['run', experiment().config, '--resume', runDir], experiment().dir);
    assert.equal(result.code, 1, result.stderr);
    assert.match(result.stderr, symlinkMessage(path.join(runDir, 'log.txt')));
    assert.equal(JSON.stringify(snapshot(path.dirname(file))), before, 'the link target changed');
    assert.deepEqual(snapshot(runDir), folderBefore, 'the refused job changed the run folder');
  });

  it('--resume of a run whose checkpoints/ is a symlink is refused; the checkpoint folders it points to are untouched', async () => {
    const runDir = await copyOfCancelledRun('checkpoints-link');
    const elsewhere = path.join(tempDir('outside'), 'checkpoints');
    fs.renameSync(path.join(runDir, 'checkpoints'), elsewhere);
    fs.symlinkSync(elsewhere, path.join(runDir, 'checkpoints'));
    const targetBefore = snapshot(elsewhere);
    assert.ok(Object.keys(targetBefore).some((k) => /^step-\d+/.test(k)), 'the moved checkpoints hold no step folder');
    const result = await runCli(['run', experiment().config, '--resume', runDir], experiment().dir);
    assert.equal(result.code, 1, result.stderr);
    assert.match(result.stderr, symlinkMessage(path.join(runDir, 'checkpoints')));
    assert.deepEqual(snapshot(elsewhere), targetBefore, 'the checkpoints behind the link changed');
  });

  it('--out into a new folder that holds only a symlinked metrics.jsonl is refused; nothing is written through it', async () => {
    const runDir = path.join(experiment().dir, 'new-with-link');
    fs.mkdirSync(runDir);
    const { file, before } = outsideFile();
    fs.symlinkSync(file, path.join(runDir, 'metrics.jsonl'));
    const result = await runCli(['run', experiment().config, '--out', runDir], experiment().dir);
    assert.equal(result.code, 1, result.stderr);
    assert.match(result.stderr, symlinkMessage(path.join(runDir, 'metrics.jsonl')));
    assert.equal(JSON.stringify(snapshot(path.dirname(file))), before, 'the link target changed');
    assert.deepEqual(fs.readdirSync(runDir), ['metrics.jsonl'], 'the refused job wrote into the folder');
  });

  it('--out into a folder that holds a run, without --resume, exits 2 pointing to --resume and leaves the run as it was', async () => {
    const { runDir } = await uninterrupted();
    const before = snapshot(runDir);
    const result = await runCli(['run', experiment().config, '--out', runDir], experiment().dir);
    assert.equal(result.code, 2, result.stderr);
    assert.ok(result.stderr.includes(`--out ${runDir}: this folder already holds a run (summary.json); continue it with --resume ${runDir}`), result.stderr);
    assert.deepEqual(snapshot(runDir), before, 'the refused job changed the run');
  });
});
