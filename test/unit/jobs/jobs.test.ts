import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ConfigError } from '../../../src/engine/config';
import { readMetrics, readSummary } from '../../../src/engine/runs';
import { startJob, type JobHandle } from '../../../src/jobs';
import { deviceCheckRecordSchema } from '../../../src/protocol/runFiles';
import type { JobEvent } from '../../../src/protocol/worker';
import { deviceCheckConfigText, tempDir, testBundles, writeConfig, type TestBundles } from './testBundles';

function collect(job: JobHandle): JobEvent[] {
  const events: JobEvent[] = [];
  job.onEvent((e) => events.push(e));
  return events;
}

/** Resolves at the first event matching `predicate`. */
function firstEvent(job: JobHandle, predicate: (e: JobEvent) => boolean): Promise<JobEvent> {
  return new Promise((resolve) => {
    const off = job.onEvent((e) => {
      if (predicate(e)) {
        off();
        resolve(e);
      }
    });
  });
}

/** A stand-in worker script (plain JS) for the job manager's failure paths. */
function fakeWorker(dir: string, name: string, body: string): string {
  const file = path.join(dir, `${name}.js`);
  fs.writeFileSync(file, `process.on('message', (m) => { if (m.type !== 'start') return; ${body} });\n`);
  return file;
}

describe('jobs: the worker process', function () {
  let bundles: TestBundles;
  before(async function () {
    this.timeout(60_000);
    bundles = await testBundles();
  });

  it('runs a device check from start to finished and writes the run folder', async () => {
    const dir = tempDir('job');
    const configPath = writeConfig(dir, 'exp/check.peft.json', deviceCheckConfigText(48, 3, 'Job test'));
    const job = startJob({ configPath, workerPath: bundles.workerPath });
    const events = collect(job);
    assert.equal(path.dirname(job.runDir), path.join(dir, 'exp', '.peft-lab', 'runs'));
    assert.match(path.basename(job.runDir), /^\d{8}-\d{6}-job-test$/);
    const result = await job.done;
    assert.equal(result.status, 'completed', JSON.stringify(result.summary.error));
    assert.equal(job.running, false);

    const types = events.map((e) => e.type).filter((t) => t !== 'log');
    assert.equal(types[0], 'started');
    assert.equal(types[types.length - 1], 'finished');
    const progress = events.flatMap((e) => (e.type === 'progress' ? [e.fraction] : []));
    assert.deepEqual(progress.slice(-3), [1 / 3, 2 / 3, 1]);

    const metrics = readMetrics(job.runDir);
    assert.equal(metrics.length, 1);
    const record = deviceCheckRecordSchema.parse(metrics[0]);
    assert.equal(record.size, 48);
    assert.equal(record.repeats, 3);
    assert.deepEqual(record.device, { requested: 'cpu', used: 'cpu' });
    assert.ok(record.gflops > 0 && record.msPerMatMul > 0);

    const summary = readSummary(job.runDir);
    assert.equal(summary?.status, 'completed');
    assert.equal(summary?.name, 'Job test');
    assert.deepEqual(summary?.device, record.device);
    assert.equal(summary?.metrics.gflops, record.gflops);
    assert.ok(summary?.endedAt && summary.endedAt >= summary.startedAt);
    assert.deepEqual(result.summary, summary);

    const config: unknown = JSON.parse(fs.readFileSync(path.join(job.runDir, 'config.json'), 'utf8'));
    assert.deepEqual(config, { name: 'Job test', task: 'device-check', deviceCheck: { size: 48, repeats: 3 }, runtime: { device: 'cpu', threads: 1, execution: 'blocks', recompute: false } });
    assert.match(fs.readFileSync(path.join(job.runDir, 'log.txt'), 'utf8'), /started device-check 'Job test'[\s\S]*completed/);
    assert.deepEqual(fs.readdirSync(job.runDir).sort(), ['config.json', 'log.txt', 'metrics.jsonl', 'summary.json']);
  });

  it('writes exactly the given run folder and applies device/threads overrides', async () => {
    const dir = tempDir('job');
    const configPath = writeConfig(dir, 'a.peft.json', JSON.stringify({ name: 'o', task: 'device-check', deviceCheck: { size: 16, repeats: 1 }, runtime: { device: 'webgpu' } }));
    const runDir = path.join(dir, 'out', 'here');
    const job = startJob({ configPath, runDir, workerPath: bundles.workerPath, device: 'cpu', threads: 1 });
    assert.equal(job.runDir, runDir);
    const result = await job.done;
    assert.equal(result.status, 'completed');
    assert.deepEqual(result.summary.device, { requested: 'cpu', used: 'cpu' });
    const config: unknown = JSON.parse(fs.readFileSync(path.join(runDir, 'config.json'), 'utf8'));
    assert.deepEqual(config, { name: 'o', task: 'device-check', deviceCheck: { size: 16, repeats: 1 }, runtime: { device: 'cpu', threads: 1, execution: 'blocks', recompute: false } });
  });

  it('cancel stops a running job within 2 s and records cancelled, keeping the other fields', async () => {
    const dir = tempDir('job');
    const configPath = writeConfig(dir, 'long.peft.json', deviceCheckConfigText(256, 100_000, 'long'));
    const job = startJob({ configPath, workerPath: bundles.workerPath });
    await firstEvent(job, (e) => e.type === 'progress' && e.fraction > 0);
    const t0 = Date.now();
    await job.cancel();
    const elapsed = Date.now() - t0;
    const result = await job.done;
    assert.ok(elapsed < 2000, `cancel took ${elapsed} ms`);
    assert.equal(result.status, 'cancelled');
    const summary = readSummary(job.runDir);
    assert.equal(summary?.status, 'cancelled');
    assert.equal(summary?.name, 'long');
    assert.equal(summary?.task, 'device-check');
    assert.ok(summary?.endedAt);
    assert.match(fs.readFileSync(path.join(job.runDir, 'log.txt'), 'utf8'), /cancelled: cancel requested/);
  });

  it('a model that is neither a folder nor in the hub cache is a config error at $.model, before forking', () => {
    const dir = tempDir('job');
    const configPath = writeConfig(dir, 't.peft.json', JSON.stringify({ name: 't', task: 'tune', model: 'gpt2', data: { train: 'd.json' } }));
    assert.throws(() => startJob({ configPath, workerPath: bundles.workerPath }), (err: unknown) =>
      err instanceof ConfigError && err.issues.some((i) => i.jsonPath === '$.model' && /gpt2: no such folder/.test(i.message)));
    assert.equal(fs.existsSync(path.join(dir, '.peft-lab')), false);
  });

  it('throws ConfigError before forking for an invalid config, and a clear error for a missing worker', () => {
    const dir = tempDir('job');
    const bad = writeConfig(dir, 'bad.peft.json', '{ "name": "b", "task": "device-check", "runtime": { "device": "tpu" } }');
    assert.throws(() => startJob({ configPath: bad, workerPath: bundles.workerPath }), (err: unknown) => err instanceof ConfigError && /\$\.runtime\.device/.test(err.message));
    assert.equal(fs.existsSync(path.join(dir, '.peft-lab')), false);
    const good = writeConfig(dir, 'good.peft.json', deviceCheckConfigText(8, 1));
    assert.throws(() => startJob({ configPath: good, workerPath: path.join(dir, 'nope.js') }), /job worker not found at .*nope\.js \(build it with: npm run build\)/);
  });
});

describe('jobs: the worker when its host dies', function () {
  let bundles: TestBundles;
  before(async function () {
    this.timeout(60_000);
    bundles = await testBundles();
  });

  it('records cancelled and exits when the parent process is killed', async () => {
    const dir = tempDir('orphan');
    const configPath = writeConfig(dir, 'long.peft.json', deviceCheckConfigText(128, 100_000, 'orphan'));
    const runDir = path.join(dir, 'run');
    // A host that forks the worker, waits for the first MatMul, prints the worker's pid and dies with SIGKILL.
    const host = path.join(dir, 'host.js');
    fs.writeFileSync(host, `
      const { fork } = require('node:child_process');
      const w = fork(${JSON.stringify(bundles.workerPath)}, [], { execArgv: [], stdio: ['ignore', 'ignore', 'ignore', 'ipc'] });
      // Several progress events can arrive before the kill lands: print the pid once.
      let reported = false;
      w.on('message', (m) => { if (!reported && m.type === 'progress' && m.fraction > 0) { reported = true; process.stdout.write(String(w.pid) + '\\n', () => process.kill(process.pid, 'SIGKILL')); } });
      w.send({ type: 'start', configPath: ${JSON.stringify(configPath)}, runDir: ${JSON.stringify(runDir)} });
    `);
    const output = await new Promise<string>((resolve) => {
      const child = spawn(process.execPath, [host], { stdio: ['ignore', 'pipe', 'inherit'] });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.on('close', () => resolve(out));
    });
    const workerPid = Number(output.trim());
    assert.ok(workerPid > 0, output);
    const deadline = Date.now() + 5000;
    while (Date.now() < deadline && (isAlive(workerPid) || readSummary(runDir)?.status === 'running')) await sleep(50);
    assert.equal(isAlive(workerPid), false, 'the worker outlived its host');
    assert.equal(readSummary(runDir)?.status, 'cancelled');
    assert.match(fs.readFileSync(path.join(runDir, 'log.txt'), 'utf8'), /cancelled: the parent process disconnected/);
  });
});

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** False for gone processes and for zombies (exited, waiting for an orphan reaper that may be slow in containers). */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    // /proc/<pid>/stat: "pid (comm) S ...", S = state; Linux only, elsewhere kill(0) is the answer.
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return true;
  }
}

describe('jobs: failure paths of the job process', () => {
  it('a worker that ignores cancel is killed after 1 s and the run is recorded cancelled', async () => {
    const dir = tempDir('fake');
    const workerPath = fakeWorker(dir, 'stubborn', `process.removeAllListeners('message'); process.send({ type: 'started', runDir: m.runDir, task: 'device-check', name: 'n' }); setInterval(() => {}, 1000);`);
    const configPath = writeConfig(dir, 'a.peft.json', deviceCheckConfigText(8, 1, 'stubborn'));
    const job = startJob({ configPath, workerPath });
    await firstEvent(job, (e) => e.type === 'started');
    const t0 = Date.now();
    await job.cancel();
    const elapsed = Date.now() - t0;
    assert.ok(elapsed >= 900 && elapsed < 2000, `cancel took ${elapsed} ms`);
    const result = await job.done;
    assert.equal(result.status, 'cancelled');
    assert.equal(readSummary(job.runDir)?.status, 'cancelled');
    assert.equal(readSummary(job.runDir)?.name, 'stubborn');
  });

  it('a crash (exit without finished or failed) is recorded failed with the exit code and its last output', async () => {
    const dir = tempDir('fake');
    const workerPath = fakeWorker(dir, 'crash', `process.stderr.write('segfault-ish\\n'); setTimeout(() => process.exit(3), 50);`);
    const configPath = writeConfig(dir, 'a.peft.json', deviceCheckConfigText(8, 1, 'crash'));
    const job = startJob({ configPath, workerPath });
    const events = collect(job);
    const result = await job.done;
    assert.equal(result.status, 'failed');
    assert.match(result.summary.error?.message ?? '', /the job process exited with code 3 before finishing; its last output: segfault-ish/);
    assert.equal(readSummary(job.runDir)?.status, 'failed');
    assert.ok(events.some((e) => e.type === 'failed'));
  });

  it('an invalid message from the worker fails the job with a clear message', async () => {
    const dir = tempDir('fake');
    const workerPath = fakeWorker(dir, 'garbled', `process.send({ type: 'progress', fraction: 7, message: 'x' }); setInterval(() => {}, 1000);`);
    const configPath = writeConfig(dir, 'a.peft.json', deviceCheckConfigText(8, 1, 'garbled'));
    const job = startJob({ configPath, workerPath });
    const result = await job.done;
    assert.equal(result.status, 'failed');
    assert.match(result.summary.error?.message ?? '', /^the job process sent an invalid message: invalid job event: \$\.fraction/);
    assert.equal(result.summary.error?.where, 'job process protocol');
  });
});
