// One job per run folder (run.lock), and the job's heartbeat: a run killed with SIGKILL reads as interrupted,
// not running (issue 16 item 6).
import { strict as assert } from 'node:assert';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  acquireRunLock, HEARTBEAT_STALE_MS, interruptedReason, listRunsIn, readHeartbeat, readLock, readSummary, RunLockedError, startHeartbeat, writeSummary,
} from '../../../src/engine/runs';
import { describeRun } from '../../../src/extension/experiments/treeItemModel';
import { startJob } from '../../../src/jobs';
import { deviceCheckConfigText, tempDir, testBundles, writeConfig } from '../jobs/testBundles';

/** The pid of a process that has exited (and been reaped). */
function deadPid(): number {
  const child = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  return Number(child.stdout);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function until(what: string, check: () => boolean, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

describe('run folders: the lock', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'peft-lock-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('a second lock of a held folder fails naming the folder and the holding pid; release frees it', () => {
    const lock = acquireRunLock(dir);
    assert.deepEqual(readLock(lock.file)?.pid, process.pid);
    assert.throws(() => acquireRunLock(dir), (e: unknown) => e instanceof RunLockedError && e.message.startsWith(`${dir} is in use by process ${process.pid} `));
    lock.release();
    assert.equal(fs.existsSync(lock.file), false);
    const again = acquireRunLock(dir);
    again.release();
    lock.release(); // idempotent: must not remove a lock it no longer holds
    assert.deepEqual(fs.readdirSync(dir), []);
  });

  it('takes over a lock whose process is gone, or one that cannot be read', () => {
    const file = path.join(dir, 'run.lock');
    fs.writeFileSync(file, JSON.stringify({ pid: deadPid(), hostname: os.hostname(), acquiredAt: '2026-01-01T00:00:00.000Z' }));
    const lock = acquireRunLock(dir);
    assert.equal(readLock(file)?.pid, process.pid);
    lock.release();
    fs.writeFileSync(file, '{"pid": 1');
    acquireRunLock(dir).release();
    assert.equal(fs.existsSync(file), false);
  });
});

describe('run folders: heartbeat and interrupted runs', () => {
  let runsDir: string;
  beforeEach(() => {
    runsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'peft-beat-'));
  });
  afterEach(() => fs.rmSync(runsDir, { recursive: true, force: true }));

  const runningRun = (id: string, beat: object | undefined): string => {
    const runDir = path.join(runsDir, id);
    fs.mkdirSync(runDir);
    writeSummary(runDir, { status: 'running', name: 'n', task: 'tune', startedAt: '2026-01-01T00:00:00.000Z', metrics: {} });
    if (beat) fs.writeFileSync(path.join(runDir, 'heartbeat.json'), JSON.stringify(beat));
    return runDir;
  };

  it('a running summary whose job process is dead, or whose heartbeat is stale, is listed as interrupted', () => {
    const now = new Date().toISOString();
    runningRun('20260101-000001-dead', { pid: deadPid(), hostname: os.hostname(), at: now });
    runningRun('20260101-000002-stale', { pid: process.pid, hostname: os.hostname(), at: new Date(Date.now() - HEARTBEAT_STALE_MS - 1000).toISOString() });
    runningRun('20260101-000003-live', { pid: process.pid, hostname: os.hostname(), at: now });
    runningRun('20260101-000004-old', undefined);
    const runs = new Map(listRunsIn(runsDir).map((r) => [r.runId, r]));
    assert.match(runs.get('20260101-000001-dead')?.interrupted ?? '', /^its job process \d+ is gone/);
    assert.match(runs.get('20260101-000002-stale')?.interrupted ?? '', /^no heartbeat from its job process/);
    assert.equal(runs.get('20260101-000003-live')?.interrupted, undefined);
    assert.equal(runs.get('20260101-000004-old')?.interrupted, undefined);

    const dead = runs.get('20260101-000001-dead');
    assert.ok(dead);
    const item = describeRun(dead, false);
    assert.match(item.description, /^interrupted/);
    assert.equal(item.icon.id, 'debug-disconnect');
    assert.match(item.tooltip, /interrupted: its job process/);
    // This window's live job wins over a heartbeat.
    assert.match(describeRun(dead, true).description, /^running/);
  });

  it('startHeartbeat writes the pid now and again every interval, and removes the file when stopped', async () => {
    const runDir = runningRun('20260101-000005-beat', undefined);
    const stop = startHeartbeat(runDir, 20);
    const first = readHeartbeat(runDir);
    assert.equal(first?.pid, process.pid);
    await until('a second beat', () => readHeartbeat(runDir)?.at !== first?.at);
    stop();
    assert.equal(fs.existsSync(path.join(runDir, 'heartbeat.json')), false);
    assert.equal(interruptedReason(runDir), undefined);
  });
});

describe('run folders: two jobs on one folder, and kill -9', function () {
  this.timeout(60_000);

  it('a second --resume of a folder in use fails at once naming the folder and the pid; the first goes on', async () => {
    const bundles = await testBundles();
    const dir = tempDir('lock-job');
    const configPath = writeConfig(dir, 'long.peft.json', deviceCheckConfigText(128, 100_000, 'long'));
    const runDir = path.join(dir, 'run');
    const first = startJob({ configPath, runDir, workerPath: bundles.workerPath });
    assert.throws(() => startJob({ configPath, runDir, resume: true, workerPath: bundles.workerPath }), (e: unknown) =>
      e instanceof RunLockedError && e.message.startsWith(`${runDir} is in use by process ${process.pid} `));
    await until('the heartbeat', () => readHeartbeat(runDir) !== undefined);
    assert.equal(first.running, true);
    await first.cancel();
    assert.equal(readSummary(runDir)?.status, 'cancelled');
    for (const f of ['run.lock', 'heartbeat.json']) assert.equal(fs.existsSync(path.join(runDir, f)), false, f);
  });

  it('after kill -9 of the CLI and its job the run reads interrupted, and a resume takes the stale lock and keeps startedAt', async () => {
    const bundles = await testBundles();
    const dir = tempDir('kill9');
    const configPath = writeConfig(dir, 'long.peft.json', deviceCheckConfigText(128, 100_000, 'long'));
    const runDir = path.join(dir, 'run');
    const cli = spawn(process.execPath, [bundles.cliPath, 'run', configPath, '--out', runDir], { stdio: 'ignore', env: { ...process.env, ORT_DISABLE_TELEMETRY: '1' } });
    const exited = new Promise((resolve) => cli.on('close', resolve));
    await until('the heartbeat', () => readHeartbeat(runDir) !== undefined && readSummary(runDir)?.status === 'running');
    const workerPid = readHeartbeat(runDir)?.pid ?? 0;
    assert.equal(readSummary(runDir)?.pid, workerPid);
    assert.equal(interruptedReason(runDir), undefined);
    const startedAt = readSummary(runDir)?.startedAt;
    cli.kill('SIGKILL');
    process.kill(workerPid, 'SIGKILL');
    await exited;
    await until('the worker to die', () => interruptedReason(runDir) !== undefined);
    assert.equal(readSummary(runDir)?.status, 'running');
    assert.match(interruptedReason(runDir) ?? '', new RegExp(`its job process ${workerPid} is gone`));
    assert.ok(fs.existsSync(path.join(runDir, 'run.lock')), 'the dead CLI left its lock');

    const quick = writeConfig(dir, 'quick.peft.json', deviceCheckConfigText(8, 1, 'long'));
    const resumed = await startJob({ configPath: quick, runDir, resume: true, workerPath: bundles.workerPath }).done;
    assert.equal(resumed.status, 'completed', JSON.stringify(resumed.summary.error));
    assert.equal(resumed.summary.startedAt, startedAt);
    assert.ok(typeof resumed.summary.resumedAt === 'string' && resumed.summary.resumedAt > (startedAt ?? ''));
    for (const f of ['run.lock', 'heartbeat.json']) assert.equal(fs.existsSync(path.join(runDir, f)), false, f);
  });
});
