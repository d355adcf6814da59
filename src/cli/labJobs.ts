// Runs one lab experiment as a job for `peft-lab demo` / `peft-lab lab compare`: a run folder beside the config
// (as VS Code would make it), compact progress on stderr (or the job's JSON events on stdout), Ctrl-C cancels.
import { startJob } from '../jobs';
import { EXIT, type CliIO } from './command';
import { defaultWorkerPath } from './runJob';

/** Progress lines at most this often (the full log is in the run folder). */
const PROGRESS_INTERVAL_MS = 5000;

export async function runLabJob(configPath: string, label: string, json: boolean, io: CliIO): Promise<{ code: number; runDir: string }> {
  const job = startJob({ configPath, workerPath: defaultWorkerPath() });
  if (!json) io.err(`[${label}] run folder ${job.runDir}`);
  let lastProgress = 0;
  job.onEvent((event) => {
    if (json) {
      io.out(JSON.stringify({ label, ...event }));
      return;
    }
    if (event.type === 'progress') {
      const now = performance.now();
      if (now - lastProgress < PROGRESS_INTERVAL_MS && event.fraction < 1) return;
      lastProgress = now;
      io.err(`[${label}] ${(event.fraction * 100).toFixed(0).padStart(3)}% ${event.message}`);
    } else if (event.type === 'log' && event.level !== 'debug') {
      io.err(`[${label}] ${event.level}: ${event.message}`);
    }
  });
  const onSigint = (): void => {
    io.err('cancelling (Ctrl-C) ...');
    void job.cancel();
  };
  process.on('SIGINT', onSigint);
  try {
    const result = await job.done;
    if (result.status === 'failed') io.err(`[${label}] failed: ${result.summary.error?.message ?? 'the job failed'}${result.summary.error?.where === undefined ? '' : ` (at ${result.summary.error.where})`}`);
    const code = result.status === 'completed' ? EXIT.ok : result.status === 'cancelled' ? EXIT.cancelled : EXIT.failed;
    return { code, runDir: job.runDir };
  } finally {
    process.off('SIGINT', onSigint);
  }
}
