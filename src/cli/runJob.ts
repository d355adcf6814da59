// Runs a job for the CLI: progress on stderr (or JSON events on stdout), Ctrl-C cancels, the run folder's path
// is the last stdout line. Shared by `run` and `demo`.
import * as path from 'node:path';
import { startJob, type JobHandle, type StartJobOptions } from '../jobs';
import type { JobEvent } from '../protocol/worker';
import { EXIT, type CliIO } from './command';

/** dist/worker.js beside the bundled CLI (dist/cli.js); PEFT_LAB_WORKER overrides it. */
export function defaultWorkerPath(): string {
  return process.env.PEFT_LAB_WORKER ?? path.join(__dirname, 'worker.js');
}

export async function runJobFromCli(options: Omit<StartJobOptions, 'workerPath'>, json: boolean, io: CliIO): Promise<number> {
  const job = startJob({ ...options, workerPath: defaultWorkerPath() });
  if (!json) io.err(`run folder: ${job.runDir}`);
  job.onEvent((event) => (json ? io.out(JSON.stringify(event)) : printEvent(event, io)));
  const onSigint = (): void => {
    io.err('cancelling (Ctrl-C) ...');
    void job.cancel();
  };
  process.on('SIGINT', onSigint);
  let result;
  try {
    result = await job.done;
  } finally {
    process.off('SIGINT', onSigint);
  }
  const code = result.status === 'completed' ? EXIT.ok : result.status === 'cancelled' ? EXIT.cancelled : EXIT.failed;
  if (json) {
    io.out(JSON.stringify({ type: 'exit', status: result.status, exitCode: code, runDir: job.runDir }));
  } else {
    if (result.status === 'failed') {
      const error = result.summary.error;
      io.err(`error: ${error?.message ?? 'the job failed'}${error?.where ? ` (at ${error.where})` : ''}`);
    } else if (result.status === 'cancelled') {
      io.err('cancelled');
    } else {
      io.err(`completed: ${describeMetrics(result.summary.metrics)}`);
    }
    io.out(job.runDir);
  }
  return code;
}

function printEvent(event: JobEvent, io: CliIO): void {
  switch (event.type) {
    case 'started':
      io.err(`started ${event.task} '${event.name}'`);
      break;
    case 'progress':
      io.err(`[${(event.fraction * 100).toFixed(0).padStart(3)}%] ${event.message}`);
      break;
    case 'log':
      io.err(`${event.level}: ${event.message}`);
      break;
    case 'metric':
      io.err(`metric ${JSON.stringify(event.record)}`);
      break;
    case 'artifact':
      io.err(`wrote ${event.kind}: ${event.path}`);
      break;
    case 'finished':
    case 'failed':
      break; // reported once the process has ended
  }
}

function describeMetrics(metrics: Record<string, unknown>): string {
  const parts = Object.entries(metrics).map(([k, v]) => `${k}=${typeof v === 'number' && !Number.isInteger(v) ? v.toPrecision(4) : String(v)}`);
  return parts.length > 0 ? parts.join(' ') : 'no metrics';
}

export type { JobHandle };
