// The job process (bundled to dist/worker.js, forked by src/jobs). Receives one `start` request over Node IPC,
// runs the config's task, writes the run folder and streams JobEvents back. `cancel`, SIGTERM, SIGINT or the
// parent going away record `cancelled` in summary.json and end the process.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { applyRuntimeOverrides, ConfigError, formatConfigIssue, loadExperimentConfig, type ExperimentConfig } from '../engine/config';
import { appendLog, appendMetric, readSummary, RUN_FILES, startHeartbeat, touchFile, updateSummary, writeRunConfig, writeSummary } from '../engine/runs';
import { checkResumable, runDeviceCheck, runOffsite, runTune, TaskCancelled, TaskError, type RunContext } from '../engine/tasks';
import type { MetricRecord, RunSummary } from '../protocol/runFiles';
import { parseWorkerRequest, type JobEvent, type LogLevel, type StartRequest } from '../protocol/worker';

const EXIT_COMPLETED = 0;
const EXIT_FAILED = 1;
const EXIT_CANCELLED = 130;

interface ActiveRun {
  runDir: string;
  name: string;
  task: string;
  startedAt: string;
}

let active: ActiveRun | undefined;
/** Synchronous handlers run on cancel before the summary is written (e.g. the trainer's checkpoint). */
const cancelHandlers = new Set<() => void>();
let cancelled = false;
let ending = false;
/** Stops and removes heartbeat.json (set once the job has started). */
let stopHeartbeat: (() => void) | undefined;

function send(event: JobEvent): Promise<void> {
  return new Promise((resolve) => {
    if (!process.send || !process.connected) {
      resolve();
      return;
    }
    process.send(event, undefined, {}, () => resolve());
  });
}

function logTo(runDir: string | undefined, level: LogLevel, message: string): void {
  if (runDir !== undefined) appendLog(runDir, level, message);
  void send({ type: 'log', level, message });
}

/** Ends the process once the last event has been handed to the IPC channel. */
async function endWith(code: number, last?: JobEvent): Promise<never> {
  ending = true;
  stopHeartbeat?.();
  if (last) await send(last);
  process.exit(code);
}

/** Records the cancel and exits; runs between (or instead of) the task's awaits, never in the middle of a write. */
function cancelNow(reason: string): void {
  if (ending) return;
  cancelled = true;
  for (const handler of cancelHandlers) {
    try {
      handler();
    } catch (err) {
      if (active) appendLog(active.runDir, 'error', `cancel handler failed: ${errorMessage(err)}`);
    }
  }
  if (active) {
    appendLog(active.runDir, 'warn', `cancelled: ${reason}`);
    updateSummary(active.runDir, { status: 'cancelled', endedAt: new Date().toISOString() }, { ...active, status: 'cancelled' });
  }
  void endWith(EXIT_CANCELLED);
}

async function start(request: StartRequest): Promise<void> {
  const runDir = path.resolve(request.runDir);
  fs.mkdirSync(runDir, { recursive: true });
  const startedAt = new Date().toISOString();
  // A folder that already holds a run (a resume): failures before the job starts must not overwrite its record.
  const holdsRun = fs.existsSync(path.join(runDir, RUN_FILES.summary));
  let config: ExperimentConfig;
  try {
    config = applyRuntimeOverrides(loadExperimentConfig(request.configPath), request.runtime);
  } catch (err) {
    const message = err instanceof ConfigError ? err.issues.map((i) => formatConfigIssue(i)).join('\n') : errorMessage(err);
    const where = err instanceof ConfigError ? path.resolve(request.configPath) : undefined;
    const base = { name: path.basename(request.configPath), task: 'unknown', startedAt };
    appendLog(runDir, 'error', message);
    if (!holdsRun) writeSummary(runDir, { ...base, status: 'failed', endedAt: new Date().toISOString(), metrics: {}, error: { message, ...(where ? { where } : {}) } });
    return endWith(EXIT_FAILED, { type: 'failed', message, ...(where ? { where } : {}) });
  }
  // Check first, write after: a resume that cannot go on leaves the run's config.json and summary.json as they
  // were (the failure goes to log.txt and the failed event).
  try {
    checkResumable(config, runDir);
  } catch (err) {
    const message = errorMessage(err);
    const where = err instanceof TaskError ? err.where : 'resume';
    appendLog(runDir, 'error', `${message}${where ? ` (at ${where})` : ''}`);
    if (!holdsRun) writeSummary(runDir, { name: config.name, task: config.task, startedAt, status: 'failed', endedAt: new Date().toISOString(), metrics: {}, error: { message, ...(where ? { where } : {}) } });
    return endWith(EXIT_FAILED, { type: 'failed', message, ...(where ? { where } : {}) });
  }
  // A resume continues the same run: startedAt stays the first start's, resumedAt says when this part began.
  const previous = holdsRun ? readSummaryOrNull(runDir) : null;
  const runStartedAt = previous?.startedAt ?? startedAt;
  active = { runDir, name: config.name, task: config.task, startedAt: runStartedAt };
  // Before the summary says running, so a reader that sees `running` finds a heartbeat to judge it by.
  stopHeartbeat = startHeartbeat(runDir);
  writeRunConfig(runDir, config);
  touchFile(path.join(runDir, RUN_FILES.metrics));
  writeSummary(runDir, {
    status: 'running', name: config.name, task: config.task, startedAt: runStartedAt, ...(previous ? { resumedAt: startedAt } : {}), pid: process.pid, metrics: {},
  });
  appendLog(runDir, 'info', `started ${config.task} '${config.name}' from ${path.resolve(request.configPath)} (pid ${process.pid})`);
  await send({ type: 'started', runDir, task: config.task, name: config.name });

  const emitMetric = (record: MetricRecord): void => {
    appendMetric(runDir, record);
    void send({ type: 'metric', record });
  };
  const ctx: RunContext = {
    runDir,
    progress: (fraction, message) => void send({ type: 'progress', fraction: Math.min(1, Math.max(0, fraction)), message }),
    log: (level, message) => logTo(runDir, level, message),
    throwIfCancelled: () => {
      if (cancelled) throw new TaskCancelled();
    },
    emitMetric,
    artifact: (file, kind) => void send({ type: 'artifact', path: file, kind }),
    onCancel: (handler) => {
      cancelHandlers.add(handler);
      return () => cancelHandlers.delete(handler);
    },
  };

  try {
    const patch = await runTask(config, ctx);
    if (cancelled) return;
    const summary = updateSummary(runDir, { ...patch, status: 'completed', endedAt: new Date().toISOString() });
    appendLog(runDir, 'info', 'completed');
    return endWith(EXIT_COMPLETED, { type: 'finished', summary });
  } catch (err) {
    if (cancelled || err instanceof TaskCancelled) return;
    const message = errorMessage(err);
    const where = err instanceof TaskError ? err.where : `task ${config.task}`;
    appendLog(runDir, 'error', `${message}${where ? ` (at ${where})` : ''}`);
    updateSummary(runDir, { status: 'failed', endedAt: new Date().toISOString(), error: { message, ...(where ? { where } : {}) } });
    return endWith(EXIT_FAILED, { type: 'failed', message, ...(where ? { where } : {}) });
  }
}

/** Runs the config's task; returns the fields it adds to summary.json. */
async function runTask(config: ExperimentConfig, ctx: RunContext): Promise<Partial<RunSummary>> {
  switch (config.task) {
    case 'device-check': {
      const record = await runDeviceCheck(config.deviceCheck, config.runtime, ctx);
      ctx.emitMetric(record);
      return {
        device: record.device,
        metrics: { size: record.size, repeats: record.repeats, msPerMatMul: record.msPerMatMul, gflops: record.gflops, maxAbsError: record.maxAbsError },
      };
    }
    case 'tune':
      return runTune(config, ctx);
    case 'offsite':
      return runOffsite(config, ctx);
  }
}

function readSummaryOrNull(runDir: string): RunSummary | null {
  try {
    return readSummary(runDir);
  } catch {
    return null; // unreadable: this part's start is all there is to go by
  }
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function main(): void {
  if (!process.send) {
    process.stderr.write('dist/worker.js is the PEFT Lab job process: it is started by the CLI or the extension (child_process.fork), not run directly.\n');
    process.exit(2);
  }
  let started = false;
  process.on('message', (message: unknown) => {
    let request;
    try {
      request = parseWorkerRequest(message);
    } catch (err) {
      logTo(active?.runDir, 'error', errorMessage(err));
      return;
    }
    if (request.type === 'cancel') {
      cancelNow('cancel requested');
    } else if (started) {
      logTo(active?.runDir, 'warn', 'ignored a second start request: one job per process');
    } else {
      started = true;
      start(request).catch((err: unknown) => {
        // Only failures to write the run folder itself end up here.
        process.stderr.write(`job process error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
        void endWith(EXIT_FAILED, { type: 'failed', message: errorMessage(err), where: 'job process' });
      });
    }
  });
  process.on('SIGTERM', () => cancelNow('SIGTERM'));
  process.on('SIGINT', () => cancelNow('SIGINT'));
  // The host went away (crashed or closed the channel): nobody is listening, stop the job.
  process.on('disconnect', () => cancelNow('the parent process disconnected'));
}

main();
