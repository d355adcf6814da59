import * as fs from 'node:fs';
import * as path from 'node:path';
import { existingRunFile, readSummary } from '../../engine/runs';
import { deviceNameSchema, type DeviceName } from '../../protocol/runFiles';
import { CHECKPOINT_FILES, RUN_FILES } from '../../protocol/runFolder';
import { parseArgs } from '../args';
import { UsageError, type CliCommand } from '../command';
import { runJobFromCli } from '../runJob';

export const command: CliCommand = {
  name: 'run',
  summary: 'Run an experiment config (*.peft.json) as a job',
  usage: [
    'Usage: peft-lab run <config.peft.json> [--out DIR | --resume RUNDIR] [--device auto|cpu|cuda|webgpu] [--threads N] [--json]',
    '',
    'Validates the config, runs its task in a job process and writes a run folder',
    '(default <configDir>/.peft-lab/runs/<run-id>/, or exactly DIR with --out).',
    'Progress goes to stderr; the run folder is the last line on stdout.',
    '  --out DIR      write the run folder here (a folder that already holds a run is refused: use --resume)',
    '  --resume RUNDIR  continue a cancelled or crashed tune run from its latest checkpoint, or an offsite run from its last completed step (same config)',
    '  --device D     override runtime.device',
    '  --threads N    override runtime.threads (0 = ONNX Runtime default)',
    '  --json         print one JSON event per line on stdout, then {"type":"exit",...}',
    'Exit codes: 0 completed, 1 failed, 2 usage or config error, 130 cancelled (Ctrl-C).',
  ].join('\n'),
  async run(args, io) {
    const parsed = parseArgs(args, { out: { value: true }, resume: { value: true }, device: { value: true }, threads: { value: true }, json: { value: false } });
    if (parsed.positionals.length !== 1) throw new UsageError('expected exactly one config file');
    const configPath = parsed.positionals[0] ?? '';
    const device = parseDevice(parsed.values.get('device'));
    const threads = parseThreads(parsed.values.get('threads'));
    const resume = parsed.values.get('resume');
    if (resume !== undefined && parsed.values.has('out')) throw new UsageError('--out and --resume exclude each other');
    const latest = path.join(resume ?? '', RUN_FILES.checkpoints, CHECKPOINT_FILES.latest);
    if (resume !== undefined && !fs.existsSync(latest) && !fs.existsSync(path.join(resume, RUN_FILES.offsiteState))) {
      throw new UsageError(`--resume ${resume}: no checkpoint there (expected ${latest}, or ${RUN_FILES.offsiteState} for an offsite run)`);
    }
    const outDir = parsed.values.get('out');
    // --out names a new run's folder: writing into one that holds a run would silently continue (or clobber) it.
    const existing = outDir === undefined ? undefined : existingRunFile(outDir);
    if (outDir !== undefined && existing !== undefined) {
      throw new UsageError(`--out ${outDir}: this folder already holds a run (${path.basename(existing)}); continue it with --resume ${outDir}, or choose a new folder`);
    }
    if (resume !== undefined && readSummaryStatus(resume) === 'completed') {
      throw new UsageError(`--resume ${resume}: this run has already completed; there is nothing to resume (start a new run, or use --out with a new folder)`);
    }
    // The tune task resumes from the run folder's latest checkpoint when there is one; the offsite task skips
    // the steps its offsite-state.json records.
    const out = resume ?? outDir;
    return runJobFromCli(
      {
        configPath,
        ...(out === undefined ? {} : { runDir: out }),
        ...(resume === undefined ? {} : { resume: true }),
        ...(device === undefined ? {} : { device }),
        ...(threads === undefined ? {} : { threads }),
      },
      parsed.flags.has('json'),
      io,
    );
  },
};

/** The status summary.json records, or undefined when it is missing or unreadable (the job reports that). */
function readSummaryStatus(runDir: string): string | undefined {
  try {
    return readSummary(runDir)?.status;
  } catch {
    return undefined;
  }
}

function parseDevice(value: string | undefined): DeviceName | undefined {
  if (value === undefined) return undefined;
  const result = deviceNameSchema.safeParse(value);
  if (!result.success) throw new UsageError(`--device must be one of ${deviceNameSchema.options.join(', ')} (got '${value}')`);
  return result.data;
}

function parseThreads(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value)) throw new UsageError(`--threads must be a non-negative integer (got '${value}')`);
  return Number(value);
}
