// Writes into a run folder that fail (a full disk; here a file size limit, which fails the same write(2) calls):
// the error names the file, and an append that could only write part of its line fails instead of going on
// silently (whole lines appended after a torn one would leave a corrupt line in the middle of metrics.jsonl).
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { repoRoot, tempDir } from '../jobs/testBundles';

/** Runs `script` (CommonJS, `atomic` bound to src/engine/runs/atomic.ts) under `ulimit -f <kib>`; returns its stdout lines. */
function underFileSizeLimit(kib: number, script: string): string[] {
  const atomic = path.join(repoRoot, 'src', 'engine', 'runs', 'atomic.ts');
  const code = `const atomic = require(${JSON.stringify(atomic)});\n${script}`;
  const result = spawnSync('bash', ['-c', `ulimit -f ${kib} && exec "$0" --import tsx -e "$1"`, process.execPath, code], { cwd: repoRoot, encoding: 'utf8' });
  assert.equal(result.status, 0, result.stderr);
  return result.stdout.split('\n').filter((l) => l !== '');
}

const tryEach = `for (const f of steps) { try { f(); console.log('ok'); } catch (e) { console.log(JSON.stringify({ code: e.code, message: e.message })); } }`;

describe('run folders: writes that fail (disk full)', function () {
  this.timeout(30_000);
  before(function () {
    if (process.platform === 'win32') this.skip();
  });

  it('appendLine: a short write fails naming the file; the next one fails naming it too, with its code', () => {
    const file = path.join(tempDir('short-write'), 'metrics.jsonl');
    const out = underFileSizeLimit(1, `const steps = [() => atomic.appendLine(${JSON.stringify(file)}, 'x'.repeat(1500)), () => atomic.appendLine(${JSON.stringify(file)}, 'y')];\n${tryEach}`);
    assert.equal(out.length, 2, out.join('\n'));
    assert.deepEqual(JSON.parse(out[0] ?? ''), { message: `${file}: only 1024 of 1501 bytes written (is the disk full?)` });
    assert.deepEqual(JSON.parse(out[1] ?? ''), { code: 'EFBIG', message: `${file}: EFBIG: file too large, write` });
    // What is there is one torn line: readers and resume drop a torn last line.
    assert.equal(fs.readFileSync(file, 'utf8'), 'x'.repeat(1024));
  });

  it('writeFileAtomic: a failed write names the target, keeps the old content and leaves no temp file', () => {
    const dir = tempDir('full-write');
    const file = path.join(dir, 'summary.json');
    fs.writeFileSync(file, 'old');
    const out = underFileSizeLimit(1, `const steps = [() => atomic.writeFileAtomic(${JSON.stringify(file)}, 'z'.repeat(5000))];\n${tryEach}`);
    assert.equal(out.length, 1, out.join('\n'));
    const error: unknown = JSON.parse(out[0] ?? '');
    assert.deepEqual(error, { code: 'EFBIG', message: `${file}: EFBIG: file too large, write` });
    assert.equal(fs.readFileSync(file, 'utf8'), 'old');
    assert.deepEqual(fs.readdirSync(dir), ['summary.json']);
  });
});
