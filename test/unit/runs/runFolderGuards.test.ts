// Run folders and symbolic links, --out into a folder that holds a run, peftLab.runsFolder confinement
// (issue 16 item 5).
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { main } from '../../../src/cli/main';
import { derivedRng, RNG_TAGS } from '../../../src/engine/data/batches';
import { LoraAdapter } from '../../../src/engine/peft/lora';
import { appendLog, appendMetric, checkRunFolderForJob, createRunDir, listRuns, runsDirFor, touchFile, writeSummary, RunFolderError } from '../../../src/engine/runs';
import { saveCheckpoint } from '../../../src/engine/train/checkpoint';
import { AdamW } from '../../../src/engine/train/optimizer';

function memoryIO(): { io: { out(l: string): void; err(l: string): void }; err: string[] } {
  const err: string[] = [];
  return { io: { out: () => undefined, err: (l) => err.push(l) }, err };
}

function adapter(): LoraAdapter {
  const a = new LoraAdapter({ r: 1, alpha: 1, dropout: 0, targets: ['c_attn'] }, derivedRng(0, RNG_TAGS.init));
  a.modules.set('transformer.h.0.attn.c_attn', {
    path: 'transformer.h.0.attn.c_attn', module: 'c_attn', layer: 0, inFeatures: 2, outFeatures: 2, a: Float32Array.of(1, 2), b: Float32Array.of(3, 4),
  });
  return a;
}

describe('run folders: symbolic links', () => {
  let root: string;
  let runDir: string;
  let outside: string;
  beforeEach(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'peft-guard-'));
    runDir = path.join(root, 'run');
    outside = path.join(root, 'outside');
    fs.mkdirSync(runDir);
    fs.mkdirSync(outside);
  });
  afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

  it('log and metric appends refuse a symlinked file, naming it, and leave the target untouched', () => {
    const victim = path.join(outside, 'victim.txt');
    fs.writeFileSync(victim, 'precious\n');
    fs.symlinkSync(victim, path.join(runDir, 'log.txt'));
    fs.symlinkSync(victim, path.join(runDir, 'metrics.jsonl'));
    assert.throws(() => appendLog(runDir, 'info', 'hello'), (e: unknown) => e instanceof RunFolderError && e.message.includes(path.join(runDir, 'log.txt')) && /symbolic link/.test(e.message));
    assert.throws(() => appendMetric(runDir, { type: 'step' }), /metrics\.jsonl is a symbolic link/);
    assert.throws(() => touchFile(path.join(runDir, 'metrics.jsonl')), /symbolic link/);
    assert.equal(fs.readFileSync(victim, 'utf8'), 'precious\n');
    // A plain file still appends.
    appendLog(path.join(root, 'outside'), 'info', 'plain');
    assert.match(fs.readFileSync(path.join(outside, 'log.txt'), 'utf8'), /INFO plain\n$/);
  });

  it('checkpoint cleanup never deletes step-* folders behind a symlinked checkpoints/', () => {
    fs.mkdirSync(path.join(outside, 'step-000001'));
    fs.writeFileSync(path.join(outside, 'step-000001', 'keep.txt'), 'x');
    fs.symlinkSync(outside, path.join(runDir, 'checkpoints'));
    const state = { step: 2, consumed: 16, seed: 0, rng: 'derived from seed, step and micro-batch' as const, optimizer: 'adamw' as const, fingerprint: 'f' };
    assert.throws(() => saveCheckpoint(runDir, state, adapter(), new AdamW(), { baseModel: 'm', modelFamily: 'gpt2' }), (e: unknown) =>
      e instanceof RunFolderError && e.message.startsWith(`${path.join(runDir, 'checkpoints')} is a symbolic link`));
    assert.ok(fs.existsSync(path.join(outside, 'step-000001', 'keep.txt')));
    assert.deepEqual(fs.readdirSync(outside), ['step-000001']);
  });

  it('a job refuses a run folder with a symbolic link anywhere inside, naming it', () => {
    fs.mkdirSync(path.join(runDir, 'checkpoints', 'step-000001'), { recursive: true });
    checkRunFolderForJob(runDir, true);
    const link = path.join(runDir, 'checkpoints', 'step-000001', 'adapter_model.safetensors');
    fs.symlinkSync(path.join(outside, 'x'), link);
    assert.throws(() => checkRunFolderForJob(runDir, true), (e: unknown) => e instanceof RunFolderError && e.message.startsWith(`${link} is a symbolic link`));
  });
});

describe('run folders: a folder that holds a run', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'peft-out-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('is refused without resume, and a completed run is refused with it', () => {
    checkRunFolderForJob(dir, false); // empty: a new run may go there
    writeSummary(dir, { status: 'cancelled', name: 'n', task: 'tune', startedAt: '2026-01-01T00:00:00.000Z', metrics: {} });
    assert.throws(() => checkRunFolderForJob(dir, false), /already holds a run \(summary\.json\); resume it/);
    checkRunFolderForJob(dir, true);
    writeSummary(dir, { status: 'completed', name: 'n', task: 'tune', startedAt: '2026-01-01T00:00:00.000Z', metrics: {} });
    assert.throws(() => checkRunFolderForJob(dir, true), /already completed; there is nothing to resume/);
  });

  it('peft-lab run --out into it exits 2 pointing to --resume; --resume of a completed run exits 2', async () => {
    const config = path.join(dir, 'c.peft.json');
    fs.writeFileSync(config, JSON.stringify({ name: 'c', task: 'device-check' }));
    const run = path.join(dir, 'run');
    fs.mkdirSync(run);
    fs.writeFileSync(path.join(run, 'config.json'), '{}\n');
    const out = memoryIO();
    assert.equal(await main(['run', config, '--out', run], out.io), 2);
    assert.match(out.err.join('\n'), new RegExp(`--out ${run}: this folder already holds a run \\(config\\.json\\); continue it with --resume`));
    writeSummary(run, { status: 'completed', name: 'c', task: 'tune', startedAt: '2026-01-01T00:00:00.000Z', metrics: {} });
    fs.mkdirSync(path.join(run, 'checkpoints'));
    fs.writeFileSync(path.join(run, 'checkpoints', 'latest.json'), '{"dir":"step-000001","step":1}\n');
    const resumed = memoryIO();
    assert.equal(await main(['run', config, '--resume', run], resumed.io), 2);
    assert.match(resumed.err.join('\n'), /this run has already completed; there is nothing to resume/);
  });
});

describe('run folders: peftLab.runsFolder stays inside the config folder (or the given root)', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'peft-confine-'));
    fs.mkdirSync(path.join(dir, 'ws', 'exp'), { recursive: true });
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('rejects ../.., an absolute path elsewhere and a link out, naming the setting', () => {
    const config = path.join(dir, 'ws', 'exp', 'c.peft.json');
    assert.equal(runsDirFor(config), path.join(dir, 'ws', 'exp', '.peft-lab', 'runs'));
    assert.equal(runsDirFor(config, 'runs/here'), path.join(dir, 'ws', 'exp', 'runs', 'here'));
    assert.equal(runsDirFor(config, path.join(dir, 'ws', 'exp', 'abs')), path.join(dir, 'ws', 'exp', 'abs'));
    assert.throws(() => runsDirFor(config, '../..'), /peftLab\.runsFolder '\.\.\/\.\.' resolves to .*, outside .*exp: the runs folder must be inside the config's folder/);
    assert.throws(() => runsDirFor(config, os.tmpdir()), /peftLab\.runsFolder/);
    assert.throws(() => createRunDir(config, 'x', { runsFolder: '../../escape' }), /peftLab\.runsFolder/);
    assert.equal(fs.existsSync(path.join(dir, 'escape')), false);
    assert.throws(() => listRuns(config, '/etc'), /peftLab\.runsFolder '\/etc'/);
    fs.symlinkSync(os.tmpdir(), path.join(dir, 'ws', 'exp', 'linked'));
    assert.throws(() => runsDirFor(config, 'linked'), /peftLab\.runsFolder 'linked'/);
  });

  it('with the workspace folder as root, ../runs inside it is allowed and ../.. is not', () => {
    const config = path.join(dir, 'ws', 'exp', 'c.peft.json');
    const ws = path.join(dir, 'ws');
    assert.equal(runsDirFor(config, '../runs', ws), path.join(ws, 'runs'));
    assert.throws(() => runsDirFor(config, '../..', ws), /outside .*ws: the runs folder must be inside the workspace folder/);
  });
});
