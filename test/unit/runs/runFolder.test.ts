import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  appendMetric, createRunDir, isRunId, listRuns, makeRunId, parseMetricsText, readMetrics, readSummary, runsDirFor, slugify,
  updateSummary, writeFileAtomic, writeJsonAtomic, writeSummary,
} from '../../../src/engine/runs';
import { tempDir } from '../jobs/testBundles';

describe('run folders', () => {
  describe('run ids', () => {
    it('are YYYYMMDD-HHMMSS-<slug> in UTC', () => {
      assert.equal(makeRunId('My LoRA run #1', new Date(Date.UTC(2026, 0, 2, 3, 4, 5))), '20260102-030405-my-lora-run-1');
      assert.ok(isRunId('20260102-030405-my-lora-run-1-2'));
      assert.ok(!isRunId('notes'));
    });

    it('slugs keep ASCII letters and digits only, with a fallback', () => {
      assert.equal(slugify('  Ünïcode / GPT-2 small  '), 'unicode-gpt-2-small');
      assert.equal(slugify('!!!'), 'run');
      assert.ok(slugify('x'.repeat(100)).length <= 48);
    });

    it('get -2, -3 when a run with the same id exists', () => {
      const dir = tempDir('runs');
      const config = path.join(dir, 'a.peft.json');
      const now = new Date(Date.UTC(2026, 4, 6, 7, 8, 9));
      const first = createRunDir(config, 'demo', { now });
      const second = createRunDir(config, 'demo', { now });
      const third = createRunDir(config, 'demo', { now });
      assert.equal(first, path.join(dir, '.peft-lab', 'runs', '20260506-070809-demo'));
      assert.equal(path.basename(second), '20260506-070809-demo-2');
      assert.equal(path.basename(third), '20260506-070809-demo-3');
      assert.equal(runsDirFor(config, 'out/runs'), path.join(dir, 'out', 'runs'));
    });
  });

  describe('atomic writes', () => {
    it('replace the file and leave no temp file behind', () => {
      const dir = tempDir('atomic');
      const file = path.join(dir, 'summary.json');
      for (let i = 0; i < 20; i++) writeJsonAtomic(file, { i });
      assert.deepEqual(JSON.parse(fs.readFileSync(file, 'utf8')), { i: 19 });
      assert.deepEqual(fs.readdirSync(dir), ['summary.json']);
    });

    it('leave the old content and no temp file when the write fails', () => {
      const dir = tempDir('atomic');
      const file = path.join(dir, 'target');
      writeFileAtomic(file, 'old');
      // A directory in the way of the rename makes the last step fail after the temp file was written.
      const blocked = path.join(dir, 'blocked');
      fs.mkdirSync(path.join(blocked, 'inner'), { recursive: true });
      assert.throws(() => writeFileAtomic(blocked, 'new'));
      assert.equal(fs.readFileSync(file, 'utf8'), 'old');
      assert.deepEqual(fs.readdirSync(dir).sort(), ['blocked', 'target']);
    });
  });

  describe('summary.json', () => {
    it('updates keep every previous field and merge metrics', () => {
      const dir = tempDir('summary');
      writeSummary(dir, { status: 'running', name: 'n', task: 'device-check', startedAt: 't0', metrics: { a: 1 }, checkpoint: 'ck' });
      updateSummary(dir, { status: 'completed', endedAt: 't1', metrics: { b: 2 } });
      assert.deepEqual(readSummary(dir), {
        status: 'completed', name: 'n', task: 'device-check', startedAt: 't0', endedAt: 't1', metrics: { a: 1, b: 2 }, checkpoint: 'ck',
      });
    });

    it('updates without a summary use the given base, and fail clearly without one', () => {
      const dir = tempDir('summary');
      assert.throws(() => updateSummary(dir, { status: 'cancelled' }), /summary\.json: no summary to update/);
      updateSummary(dir, { status: 'cancelled' }, { status: 'running', name: 'n', task: 't', startedAt: 't0' });
      assert.equal(readSummary(dir)?.status, 'cancelled');
    });

    it('reading is null when missing and names the file when invalid', () => {
      const dir = tempDir('summary');
      assert.equal(readSummary(dir), null);
      fs.writeFileSync(path.join(dir, 'summary.json'), '{"status":"done"}');
      assert.throws(() => readSummary(dir), /summary\.json: not a run summary: \$\.status/);
    });
  });

  describe('metrics.jsonl', () => {
    it('round-trips appended records', () => {
      const dir = tempDir('metrics');
      appendMetric(dir, { type: 'step', step: 0, loss: 2.5 });
      appendMetric(dir, { type: 'step', step: 1, loss: 2.25 });
      assert.deepEqual(readMetrics(dir), [{ type: 'step', step: 0, loss: 2.5 }, { type: 'step', step: 1, loss: 2.25 }]);
    });

    it('tolerates a torn last line (a record being written)', () => {
      const dir = tempDir('metrics');
      fs.writeFileSync(path.join(dir, 'metrics.jsonl'), '{"type":"step","step":0}\n{"type":"step","step":1}\n{"type":"st');
      assert.deepEqual(readMetrics(dir), [{ type: 'step', step: 0 }, { type: 'step', step: 1 }]);
    });

    it('is [] when missing, and names file:line for a bad line in the middle', () => {
      const dir = tempDir('metrics');
      assert.deepEqual(readMetrics(dir), []);
      assert.throws(() => parseMetricsText('{"type":"a"}\n{oops}\n{"type":"b"}\n', 'm.jsonl'), /^Error: m\.jsonl:2: invalid JSON/);
      assert.throws(() => parseMetricsText('{"type":"a"}\n{"step":1}\n', 'm.jsonl'), /m\.jsonl:2: not a metric record: \$\.type/);
    });
  });

  describe('listing runs', () => {
    it('lists run folders newest first with their summaries, ignoring other folders', () => {
      const dir = tempDir('list');
      const config = path.join(dir, 'a.peft.json');
      assert.deepEqual(listRuns(config), []);
      const older = createRunDir(config, 'x', { now: new Date(Date.UTC(2026, 0, 1)) });
      const newer = createRunDir(config, 'x', { now: new Date(Date.UTC(2026, 0, 2)) });
      const newest = createRunDir(config, 'x', { now: new Date(Date.UTC(2026, 0, 2)) });
      fs.mkdirSync(path.join(runsDirFor(config), 'not-a-run'));
      writeSummary(older, { status: 'completed', name: 'x', task: 'device-check', startedAt: 't', metrics: {} });
      fs.writeFileSync(path.join(newer, 'summary.json'), '{');
      const runs = listRuns(config);
      assert.deepEqual(runs.map((r) => r.runDir), [newest, newer, older]);
      assert.equal(runs[0]?.summary, null);
      assert.match(runs[1]?.summaryError ?? '', /invalid JSON/);
      assert.equal(runs[2]?.summary?.status, 'completed');
    });
  });
});
