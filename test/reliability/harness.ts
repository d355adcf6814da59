// The reliability suite's harness (issue 16): a small tune experiment on the tiny GPT-2 fixture, the real CLI run
// as child processes, and readers for the run folder that parse its files on their own (not through src/engine's
// readers, which are under test too). The CLI is bundled from the current sources (dist/'s layout: cli.js with
// worker.js beside it); PEFT_LAB_RELIABILITY_CLI=<path of a cli.js> runs the suite against another build instead
// (e.g. dist/cli.js, or a deliberately broken one to see the probes fail).
import { strict as assert } from 'node:assert';
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { tempDir, testBundles } from '../unit/jobs/testBundles';

export { tempDir };

/** The shared fixture beside the repository (never copied in). */
export const GPT2 = path.resolve(__dirname, '../../../shared/fixtures/models/tiny-random-gpt2');

/** Steps of the interruptible experiment: long enough (a few seconds) that a kill lands mid-run. */
export const STEPS = 160;
export const CHECKPOINT_EVERY = 5;

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface RunningCli {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly done: Promise<CliResult>;
  readonly exited: boolean;
  output(): { stdout: string; stderr: string };
}

const live = new Set<RunningCli>();
process.once('exit', () => {
  // A failed test must not leave a job training in the background (each CLI leads its own process group).
  for (const cli of live) {
    try {
      process.kill(-cli.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
});

/**
 * Starts `node cli.js ...args` in `cwd` as the leader of a new process group, so `signalGroup` reaches the CLI and
 * its job process together, as a terminal's Ctrl-C (or `kill -9 -PGID`) does.
 */
export async function startCli(args: readonly string[], cwd: string, options: { fileSizeLimitKiB?: number } = {}): Promise<RunningCli> {
  const cliPath = process.env.PEFT_LAB_RELIABILITY_CLI ?? (await testBundles()).cliPath;
  const spawnOptions: SpawnOptions = { cwd, detached: true, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ORT_DISABLE_TELEMETRY: '1' } };
  // `ulimit -f`: every file the CLI and its job write is capped, so a write fails as on a full disk (EFBIG/short write).
  const child: ChildProcess = options.fileSizeLimitKiB === undefined
    ? spawn(process.execPath, [cliPath, ...args], spawnOptions)
    : spawn('bash', ['-c', `ulimit -f ${options.fileSizeLimitKiB} && exec "$@"`, 'bash', process.execPath, cliPath, ...args], spawnOptions);
  let stdout = '';
  let stderr = '';
  let exited = false;
  child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const done = new Promise<CliResult>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => {
      exited = true;
      live.delete(handle);
      resolve({ code, signal, stdout, stderr });
    });
  });
  if (child.pid === undefined) throw new Error('the CLI did not start');
  const handle: RunningCli = {
    child, pid: child.pid, done,
    get exited() {
      return exited;
    },
    output: () => ({ stdout, stderr }),
  };
  live.add(handle);
  return handle;
}

/** Runs the CLI to its end. */
export async function runCli(args: readonly string[], cwd: string, options: { fileSizeLimitKiB?: number } = {}): Promise<CliResult> {
  return (await startCli(args, cwd, options)).done;
}

export function signalGroup(cli: RunningCli, signal: NodeJS.Signals): void {
  process.kill(-cli.pid, signal);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export async function waitFor(what: string, check: () => boolean, ms = 60_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(20);
  }
}

export interface Experiment {
  dir: string;
  /** Absolute path of the *.peft.json. */
  config: string;
}

/** A deterministic tokens-format data set: 48 cyclic sequences of 16 token ids. */
function writeTokens(file: string, count: number, length: number, seed: number): void {
  let s = seed;
  const next = (): number => (s = (s * 1103515245 + 12345) % 2147483648);
  const lines: string[] = [];
  for (let i = 0; i < count; i++) {
    const start = next() % 24;
    lines.push(JSON.stringify({ input_ids: Array.from({ length }, (_, t) => 5 + ((start + t) % 24) * 11) }));
  }
  fs.writeFileSync(file, `${lines.join('\n')}\n`);
}

export function tuneConfig(overrides: { data?: Record<string, unknown>; peft?: Record<string, unknown>; train?: Record<string, unknown> } = {}): Record<string, unknown> {
  return {
    name: 'reliability', task: 'tune', model: GPT2,
    data: { train: 'train.jsonl', format: 'tokens', maxLength: 16, ...overrides.data },
    // Small checkpoints (about 20 KiB) and dropout on: resume must restore the random stream too, not only the weights.
    peft: { method: 'lora', r: 2, alpha: 4, dropout: 0.1, targets: ['c_attn'], ...overrides.peft },
    train: { steps: STEPS, batchSize: 4, lr: 0.01, warmupSteps: 4, seed: 11, evalEvery: 0, checkpointEvery: CHECKPOINT_EVERY, ...overrides.train },
    runtime: { device: 'cpu', threads: 1 },
  };
}

/** A folder with train.jsonl and `<name>.peft.json` (default: the interruptible experiment). */
export function writeExperiment(name = 'reliability', config: Record<string, unknown> = tuneConfig()): Experiment {
  const dir = tempDir('reliability');
  writeTokens(path.join(dir, 'train.jsonl'), 48, 16, 7);
  const file = path.join(dir, `${name}.peft.json`);
  fs.writeFileSync(file, `${JSON.stringify(config, null, 2)}\n`);
  return { dir, config: file };
}

let shared: Experiment | undefined;
/** The one interruptible experiment every probe of a test process shares (same config file, same data). */
export function experiment(): Experiment {
  shared ??= writeExperiment();
  return shared;
}

export interface StepRecord {
  step: number;
  loss: number;
}

/**
 * The step records of metrics.jsonl in file order. `whileRunning`: a torn last line (being appended) is skipped;
 * otherwise every line must parse.
 */
export function stepRecords(runDir: string, whileRunning = false): StepRecord[] {
  const file = path.join(runDir, 'metrics.jsonl');
  if (!fs.existsSync(file)) return [];
  const lines = fs.readFileSync(file, 'utf8').split('\n');
  const records: StepRecord[] = [];
  lines.forEach((line, i) => {
    if (line === '' && i === lines.length - 1) return;
    let record: unknown;
    try {
      record = JSON.parse(line);
    } catch {
      if (whileRunning && i === lines.length - 1) return;
      throw new Error(`${file}:${i + 1}: not JSON: ${line.slice(0, 80)}`);
    }
    if (typeof record === 'object' && record !== null && 'type' in record && record.type === 'step') {
      const r = record as { step?: unknown; loss?: unknown };
      assert.ok(typeof r.step === 'number' && typeof r.loss === 'number', `${file}:${i + 1}: a step record without a numeric step and loss`);
      records.push({ step: r.step, loss: r.loss });
    }
  });
  return records;
}

/** Asserts the records are steps 0..n-1, each exactly once, in order. */
export function assertEachStepOnce(records: readonly StepRecord[], n: number): void {
  const steps = records.map((r) => r.step);
  const seen = new Set<number>();
  const duplicates = steps.filter((s) => (seen.has(s) ? true : (seen.add(s), false)));
  assert.deepEqual(duplicates, [], `duplicate step records: ${duplicates.join(', ')}`);
  assert.deepEqual(steps, Array.from({ length: n }, (_, i) => i));
}

/** The step checkpoints/latest.json names, or undefined while there is none (or it cannot be read). */
export function latestCheckpointStep(runDir: string): number | undefined {
  try {
    const pointer: unknown = JSON.parse(fs.readFileSync(path.join(runDir, 'checkpoints', 'latest.json'), 'utf8'));
    return typeof pointer === 'object' && pointer !== null && 'step' in pointer && typeof pointer.step === 'number' ? pointer.step : undefined;
  } catch {
    return undefined;
  }
}

export function readJson(file: string): Record<string, unknown> {
  const value: unknown = JSON.parse(fs.readFileSync(file, 'utf8'));
  assert.ok(typeof value === 'object' && value !== null && !Array.isArray(value), `${file}: not a JSON object`);
  return value as Record<string, unknown>;
}

export function summaryOf(runDir: string): Record<string, unknown> {
  return readJson(path.join(runDir, 'summary.json'));
}

/** sha256 of the adapter weights the run exported. */
export function adapterHash(runDir: string): string {
  return sha256(path.join(runDir, 'adapter', 'adapter_model.safetensors'));
}

export function sha256(file: string): string {
  return createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

/** Every entry below `dir` (links not followed) with, for files, the content hash and mtime: to prove nothing changed. */
export function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string): void => {
    for (const entry of fs.readdirSync(d, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const p = path.join(d, entry.name);
      const rel = path.relative(dir, p);
      const st = fs.lstatSync(p);
      if (entry.isSymbolicLink()) out[rel] = `link -> ${fs.readlinkSync(p)}`;
      else if (entry.isDirectory()) {
        out[rel] = 'dir';
        walk(p);
      } else out[rel] = `${sha256(p)} ${st.size} ${st.mtimeMs}`;
    }
  };
  walk(dir);
  return out;
}

export interface Reference {
  runDir: string;
  records: StepRecord[];
  adapter: string;
}

let reference: Promise<Reference> | undefined;
/** The uninterrupted run of experiment() (once per test process): what every interrupted run must reproduce. */
export function uninterrupted(): Promise<Reference> {
  reference ??= (async () => {
    const { dir, config } = experiment();
    const runDir = path.join(dir, 'uninterrupted');
    const result = await runCli(['run', config, '--out', runDir], dir);
    assert.equal(result.code, 0, result.stderr);
    const records = stepRecords(runDir);
    assertEachStepOnce(records, STEPS);
    return { runDir, records, adapter: adapterHash(runDir) };
  })();
  return reference;
}

export interface Interrupted {
  runDir: string;
  result: CliResult;
  /** latest.json's step when the signal was sent. */
  checkpointAtSignal: number;
  /** Step records in metrics.jsonl when the signal was sent. */
  recordsAtSignal: number;
}

/**
 * Starts experiment() into `runDir` and, once a checkpoint of step >= 2 * CHECKPOINT_EVERY exists and at least two
 * steps past it are recorded, sends `signal` to the CLI's process group (`target` 'group') or to the job process
 * alone ('job'). Fails when the run ended before that.
 */
export async function interruptRun(runDir: string, signal: NodeJS.Signals, target: 'group' | 'job'): Promise<Interrupted> {
  const { dir, config } = experiment();
  const cli = await startCli(['run', config, '--out', runDir], dir);
  let checkpointAtSignal = -1;
  let recordsAtSignal = -1;
  await waitFor('a checkpoint and two steps past it', () => {
    if (cli.exited) throw new Error(`the run ended before it could be interrupted:\n${cli.output().stderr}`);
    const step = latestCheckpointStep(runDir);
    if (step === undefined || step < 2 * CHECKPOINT_EVERY) return false;
    const records = stepRecords(runDir, true).length;
    if (records < step + 2) return false;
    checkpointAtSignal = step;
    recordsAtSignal = records;
    return true;
  });
  if (target === 'group') signalGroup(cli, signal);
  else {
    const summary = summaryOf(runDir);
    assert.ok(typeof summary.pid === 'number' && summary.pid !== cli.pid, 'summary.json names the job process');
    process.kill(summary.pid, signal);
  }
  const result = await cli.done;
  return { runDir, result, checkpointAtSignal, recordsAtSignal };
}

let cancelled: Promise<Interrupted> | undefined;
/** One run of experiment() cancelled with Ctrl-C mid-run (once per test process); copy it before changing it. */
export function cancelledRun(): Promise<Interrupted> {
  cancelled ??= interruptRun(path.join(experiment().dir, 'cancelled-template'), 'SIGINT', 'group');
  return cancelled;
}

/** A private copy of the cancelled run, at `<experiment dir>/<name>`. */
export async function copyOfCancelledRun(name: string): Promise<string> {
  const template = await cancelledRun();
  assert.equal(template.result.code, 130, template.result.stderr);
  const runDir = path.join(experiment().dir, name);
  fs.cpSync(template.runDir, runDir, { recursive: true, verbatimSymlinks: true });
  return runDir;
}
