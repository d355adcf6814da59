// Starts jobs as child processes (the bundled worker, dist/worker.js) and follows them to the end. Node only (no
// vscode): used by the CLI and by the extension host's job manager.
import { fork, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { checkConfigFiles, loadExperimentConfig } from '../engine/config';
import { WORKER_NODE_FLAGS } from '../engine/runtime/garbage';
import { acquireRunLock, appendLog, checkRunFolderForJob, createRunDir, readSummary, RUN_FILES, updateSummary, type HeldRunLock } from '../engine/runs';
import type { DeviceName, RunSummary } from '../protocol/runFiles';
import { parseJobEvent, type JobEvent, type RuntimeOverrides, type WorkerRequest } from '../protocol/worker';

export interface StartJobOptions {
  configPath: string;
  /** Exactly this folder (CLI --out); default: a new `<configDir>/<runsFolder>/<run-id>`. */
  runDir?: string;
  /** Folder of runs relative to the config's folder (setting peftLab.runsFolder); default `.peft-lab/runs`. */
  runsFolder?: string;
  /** The folder runsFolder must stay inside (the extension: the workspace folder); default the config's folder. */
  runsRoot?: string;
  /** runDir holds a run to continue (CLI --resume); without it a runDir that already holds a run is refused. */
  resume?: boolean;
  /** Absolute path of dist/worker.js. */
  workerPath: string;
  device?: DeviceName;
  threads?: number;
  /** Extra environment for the worker. */
  env?: NodeJS.ProcessEnv;
}

export type JobStatus = 'completed' | 'failed' | 'cancelled';

export interface JobResult {
  status: JobStatus;
  summary: RunSummary;
}

export interface JobHandle {
  readonly runDir: string;
  readonly configPath: string;
  /** The config's name and task (validated before the fork). */
  readonly name: string;
  readonly task: string;
  /** Subscribes to the worker's events (validated); returns an unsubscribe function. */
  onEvent(listener: (event: JobEvent) => void): () => void;
  /** The events received so far (for views opened after the start); only the latest of consecutive progress events. */
  events(): readonly JobEvent[];
  /** Asks the worker to stop, kills it after CANCEL_KILL_DELAY_MS, and resolves once summary.json says cancelled. */
  cancel(): Promise<void>;
  /** Resolves when the process has ended and summary.json agrees with the status; rejects only if it cannot be written. */
  readonly done: Promise<JobResult>;
  readonly running: boolean;
}

/** Grace period between the cancel message and SIGKILL (a native ORT call can block the worker's event loop). */
export const CANCEL_KILL_DELAY_MS = 1000;

/**
 * Validates the config (throws ConfigError: file:line:col: $.path: message), creates the run folder and forks the
 * worker. Throws if the worker bundle is missing.
 */
export function startJob(options: StartJobOptions): JobHandle {
  const configPath = path.resolve(options.configPath);
  const config = loadExperimentConfig(configPath);
  checkConfigFiles(configPath, config);
  if (!fs.existsSync(options.workerPath)) {
    throw new Error(`job worker not found at ${options.workerPath} (build it with: npm run build)`);
  }
  let runDir: string;
  if (options.runDir !== undefined) {
    runDir = path.resolve(options.runDir);
    fs.mkdirSync(runDir, { recursive: true });
    checkRunFolderForJob(runDir, options.resume === true);
  } else {
    runDir = createRunDir(configPath, config.name, {
      ...(options.runsFolder === undefined ? {} : { runsFolder: options.runsFolder }),
      ...(options.runsRoot === undefined ? {} : { root: options.runsRoot }),
    });
  }
  // One job per folder: a second job (two --resume at once) would interleave its steps with the first's.
  const lock = acquireRunLock(runDir);
  const startedAt = new Date().toISOString();
  let child: ChildProcess;
  try {
    child = fork(options.workerPath, [], {
      // Under VS Code, process.execPath is Electron: this makes it behave as plain Node.
      env: { ...process.env, ...options.env, ELECTRON_RUN_AS_NODE: '1', ORT_DISABLE_TELEMETRY: '1' },
      // Not the parent's flags (e.g. a test runner's --import=tsx): the worker is a plain bundled script, with the
      // flags it needs (a collection between train steps).
      execArgv: [...WORKER_NODE_FLAGS],
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      serialization: 'json',
    });
  } catch (err) {
    lock.release();
    throw err;
  }
  const runtime: RuntimeOverrides = {
    ...(options.device === undefined ? {} : { device: options.device }),
    ...(options.threads === undefined ? {} : { threads: options.threads }),
  };
  const request: WorkerRequest = { type: 'start', configPath, runDir, ...(Object.keys(runtime).length > 0 ? { runtime } : {}) };
  return followJob(child, request, { runDir, configPath, name: config.name, task: config.task, startedAt, lock });
}

interface JobInfo {
  runDir: string;
  configPath: string;
  name: string;
  task: string;
  startedAt: string;
  lock: HeldRunLock;
}

function followJob(child: ChildProcess, request: WorkerRequest, info: JobInfo): JobHandle {
  const listeners = new Set<(event: JobEvent) => void>();
  const history: JobEvent[] = [];
  let finished: Extract<JobEvent, { type: 'finished' }> | undefined;
  let failed: Extract<JobEvent, { type: 'failed' }> | undefined;
  let started = false;
  let protocolError: string | undefined;
  let spawnError: string | undefined;
  let cancelRequested = false;
  let exited = false;
  let killTimer: NodeJS.Timeout | undefined;
  const stderrTail: string[] = [];

  const emit = (event: JobEvent): void => {
    // Consecutive progress events replace each other in the history: a long job sends thousands.
    if (event.type === 'progress' && history[history.length - 1]?.type === 'progress') history[history.length - 1] = event;
    else history.push(event);
    for (const listener of [...listeners]) {
      try {
        listener(event);
      } catch {
        // A listener's bug must not break the job's bookkeeping.
      }
    }
  };

  child.on('message', (message: unknown) => {
    let event: JobEvent;
    try {
      event = parseJobEvent(message);
    } catch (err) {
      protocolError ??= err instanceof Error ? err.message : String(err);
      child.kill('SIGKILL');
      return;
    }
    if (event.type === 'finished') finished = event;
    if (event.type === 'failed') failed = event;
    if (event.type === 'started') started = true;
    emit(event);
  });

  // The worker's own stdout/stderr (ORT warnings, crashes): into log.txt, as log events, and kept for crash reports.
  const forward = (stream: NodeJS.ReadableStream | null, level: 'info' | 'warn'): void => {
    if (!stream) return;
    let pending = '';
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      pending += chunk;
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) {
        if (line.trim() === '') continue;
        if (level === 'warn') {
          stderrTail.push(line);
          if (stderrTail.length > 20) stderrTail.shift();
        }
        safely(() => appendLog(info.runDir, level, `[worker ${level === 'warn' ? 'stderr' : 'stdout'}] ${line}`));
        emit({ type: 'log', level, message: line });
      }
    });
  };
  forward(child.stdout, 'info');
  forward(child.stderr, 'warn');

  const done = new Promise<JobResult>((resolve, reject) => {
    let settled = false;
    const settle = (code: number | null, signal: NodeJS.Signals | null): void => {
      if (settled) return;
      settled = true;
      exited = true;
      if (killTimer) clearTimeout(killTimer);
      try {
        resolve(outcome(code, signal));
      } catch (err) {
        // Only when summary.json cannot be written (e.g. the run folder was deleted).
        reject(err instanceof Error ? err : new Error(String(err)));
      } finally {
        // A worker killed outright leaves its heartbeat; the summary now says how it ended.
        safely(() => fs.rmSync(path.join(info.runDir, RUN_FILES.heartbeat), { force: true }));
        safely(() => info.lock.release());
      }
    };
    child.on('error', (err) => {
      spawnError = err.message;
      // 'exit' may not follow a spawn failure.
      if (child.pid === undefined) settle(null, null);
    });
    child.on('close', (code, signal) => settle(code, signal));
  });

  /** Decides the final status and makes summary.json agree with it. */
  const outcome = (code: number | null, signal: NodeJS.Signals | null): JobResult => {
    const base = { status: 'running' as const, name: info.name, task: info.task, startedAt: info.startedAt };
    const now = new Date().toISOString();
    const recordFailure = (message: string, where?: string): JobResult => {
      safely(() => appendLog(info.runDir, 'error', message));
      const summary = updateSummary(info.runDir, { status: 'failed', endedAt: now, error: { message, ...(where ? { where } : {}) } }, base);
      if (!failed) emit({ type: 'failed', message, ...(where ? { where } : {}) });
      return { status: 'failed', summary };
    };
    if (protocolError !== undefined) return recordFailure(`the job process sent an invalid message: ${protocolError}`, 'job process protocol');
    if (finished) return { status: 'completed', summary: readSummaryOr(info.runDir, finished.summary) };
    if (failed) {
      const summary = readSummaryOr(info.runDir, undefined);
      // Failed before `started`: the worker refused the folder (e.g. a resume with another config) and left a
      // run's summary.json as it was; report the failure without overwriting that record.
      if (summary && !started) return { status: 'failed', summary: { ...summary, error: { message: failed.message, ...(failed.where ? { where: failed.where } : {}) } } };
      if (summary && summary.status === 'failed') return { status: 'failed', summary };
      return recordFailure(failed.message, failed.where);
    }
    if (cancelRequested) {
      const previous = readSummaryOr(info.runDir, undefined);
      const summary = updateSummary(info.runDir, { status: 'cancelled', endedAt: previous?.status === 'cancelled' && previous.endedAt ? previous.endedAt : now }, base);
      return { status: 'cancelled', summary };
    }
    if (spawnError !== undefined) return recordFailure(`cannot start the job process: ${spawnError}`, 'job process');
    const how = signal ? `was killed by signal ${signal}` : `exited with code ${code ?? 'unknown'}`;
    const tail = stderrTail.length > 0 ? `; its last output: ${stderrTail.slice(-5).join(' | ')}` : '';
    // A worker that records its own cancel (SIGTERM from outside, e.g. `kill`) exits with 130.
    const own = readSummaryOr(info.runDir, undefined);
    if (own?.status === 'cancelled') return { status: 'cancelled', summary: own };
    return recordFailure(`the job process ${how} before finishing${tail}`, 'job process');
  };

  child.send(request, (err) => {
    if (err) spawnError ??= err.message;
  });

  return {
    runDir: info.runDir,
    configPath: info.configPath,
    name: info.name,
    task: info.task,
    done,
    get running() {
      return !exited;
    },
    onEvent(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    events: () => history,
    async cancel() {
      if (!exited && !cancelRequested) {
        cancelRequested = true;
        if (child.connected) child.send({ type: 'cancel' } satisfies WorkerRequest, () => undefined);
        killTimer = setTimeout(() => {
          if (!exited) child.kill('SIGKILL');
        }, CANCEL_KILL_DELAY_MS);
      }
      await done.catch(() => undefined);
    },
  };
}

function readSummaryOr(runDir: string, fallback: RunSummary): RunSummary;
function readSummaryOr(runDir: string, fallback: undefined): RunSummary | undefined;
function readSummaryOr(runDir: string, fallback: RunSummary | undefined): RunSummary | undefined {
  try {
    return readSummary(runDir) ?? fallback;
  } catch {
    return fallback;
  }
}

function safely(action: () => void): void {
  try {
    action();
  } catch {
    // best effort (e.g. the run folder was deleted under us)
  }
}
