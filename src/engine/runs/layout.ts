// Run folder layout (CONTRACTS "Run folders").
import * as fs from 'node:fs';
import * as path from 'node:path';
import { makeRunId } from './runId';

export const DEFAULT_RUNS_FOLDER = '.peft-lab/runs';

export const RUN_FILES = {
  config: 'config.json',
  metrics: 'metrics.jsonl',
  summary: 'summary.json',
  log: 'log.txt',
} as const;

/** `<configDir>/<runsFolder>`; `runsFolder` is relative to the config's folder (or absolute). */
export function runsDirFor(configPath: string, runsFolder: string = DEFAULT_RUNS_FOLDER): string {
  return path.resolve(path.dirname(path.resolve(configPath)), runsFolder);
}

export interface CreateRunDirOptions {
  runsFolder?: string;
  now?: Date;
}

/**
 * Creates a new, empty run folder `<runsDir>/YYYYMMDD-HHMMSS-<slug>` and returns its absolute path. When the id
 * is taken (two runs in the same second), appends -2, -3, ... (mkdir without `recursive` makes this race-free).
 */
export function createRunDir(configPath: string, name: string, options: CreateRunDirOptions = {}): string {
  const runsDir = runsDirFor(configPath, options.runsFolder);
  fs.mkdirSync(runsDir, { recursive: true });
  const base = makeRunId(name, options.now);
  for (let n = 1; ; n++) {
    const dir = path.join(runsDir, n === 1 ? base : `${base}-${n}`);
    try {
      fs.mkdirSync(dir);
      return dir;
    } catch (err) {
      if (!(err instanceof Error && 'code' in err && err.code === 'EEXIST')) throw err;
    }
  }
}
