// A resume that cannot go on (issue 16 item 7) fails in the job process before writing anything: the run's
// config.json and summary.json stay as they were (a completed run keeps its results), the failure is in
// log.txt and in the job's result.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { startJob } from '../../../src/jobs';
import { testBundles } from '../jobs/testBundles';
import { FIXTURES } from '../models/fixturePaths';
import { tempDir, writeTuneConfig } from './helpers';

const record = (runDir: string): { config: string; summary: string } => ({
  config: fs.readFileSync(path.join(runDir, 'config.json'), 'utf8'),
  summary: fs.readFileSync(path.join(runDir, 'summary.json'), 'utf8'),
});

describe('resume: check first, write after', function () {
  this.timeout(60_000);

  it('a tune resume with another config, or a corrupt latest.json, leaves the run record as it was', async () => {
    const bundles = await testBundles();
    const dir = tempDir('resume-record');
    const configPath = writeTuneConfig(dir, { train: { steps: 3, checkpointEvery: 0 } });
    const runDir = path.join(dir, 'run');
    const first = await startJob({ configPath, runDir, workerPath: bundles.workerPath }).done;
    assert.equal(first.status, 'completed');
    // A completed run is refused before the worker starts (issue 16 item 10): as cancelled, the worker's own checks run.
    await assert.rejects(async () => startJob({ configPath, runDir, resume: true, workerPath: bundles.workerPath }).done, /already completed; there is nothing to resume/);
    const summaryFile = path.join(runDir, 'summary.json');
    fs.writeFileSync(summaryFile, fs.readFileSync(summaryFile, 'utf8').replace('"status": "completed"', '"status": "cancelled"'));
    const kept = record(runDir);

    const otherDir = tempDir('resume-other');
    const otherConfig = writeTuneConfig(otherDir, { train: { steps: 3, checkpointEvery: 0, lr: 0.5 } });
    const refused = await startJob({ configPath: otherConfig, runDir, resume: true, workerPath: bundles.workerPath }).done;
    assert.equal(refused.status, 'failed');
    assert.match(refused.summary.error?.message ?? '', /step-000003: this checkpoint was written with other model\/data\/peft\/train settings/);
    assert.equal(refused.summary.error?.where, 'resume');
    assert.deepEqual(record(runDir), kept);
    assert.match(fs.readFileSync(path.join(runDir, 'log.txt'), 'utf8'), /other model\/data\/peft\/train settings.*\(at resume\)/);

    fs.writeFileSync(path.join(runDir, 'checkpoints', 'latest.json'), '{"dir": "step-0');
    const corrupt = await startJob({ configPath, runDir, resume: true, workerPath: bundles.workerPath }).done;
    assert.equal(corrupt.status, 'failed');
    assert.match(corrupt.summary.error?.message ?? '', /latest\.json/);
    assert.deepEqual(record(runDir), kept);
  });

  it('an offsite resume with another fingerprint leaves the run record as it was', async () => {
    const bundles = await testBundles();
    const dir = tempDir('resume-offsite');
    const runDir = path.join(dir, 'run');
    fs.mkdirSync(runDir);
    const summary = `${JSON.stringify({ status: 'cancelled', name: 'o', task: 'offsite', startedAt: '2024-01-01T00:00:00.000Z', metrics: {}, offsite: { gap: 1 } })}\n`;
    fs.writeFileSync(path.join(runDir, 'summary.json'), summary);
    fs.writeFileSync(path.join(runDir, 'config.json'), '{"task":"offsite"}\n');
    fs.writeFileSync(path.join(runDir, 'offsite-state.json'), JSON.stringify({ fingerprint: 'another config', steps: {} }));
    fs.writeFileSync(path.join(dir, 'train.jsonl'), '{"input_ids":[1,2,3]}\n');
    const configPath = path.join(dir, 'o.peft.json');
    fs.writeFileSync(configPath, JSON.stringify({
      name: 'o', task: 'offsite', model: FIXTURES.gpt2, data: { train: 'train.jsonl', eval: 'train.jsonl', format: 'tokens', maxLength: 8 },
      peft: { r: 2, alpha: 4 }, train: { steps: 1, batchSize: 1 }, offsite: { adapterLayers: [1, 1] }, runtime: { device: 'cpu', threads: 1 },
    }));
    const refused = await startJob({ configPath, runDir, resume: true, workerPath: bundles.workerPath }).done;
    assert.equal(refused.status, 'failed');
    assert.match(refused.summary.error?.message ?? '', /offsite-state\.json: these steps were run with other .* settings/);
    assert.equal(fs.readFileSync(path.join(runDir, 'summary.json'), 'utf8'), summary);
    assert.equal(fs.readFileSync(path.join(runDir, 'config.json'), 'utf8'), '{"task":"offsite"}\n');
  });
});
