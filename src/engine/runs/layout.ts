// Run folder layout (CONTRACTS "Run folders").
import * as fs from 'node:fs';
import * as path from 'node:path';
import { makeRunId } from './runId';

export const DEFAULT_RUNS_FOLDER = '.peft-lab/runs';

export { RUN_FILES } from '../../protocol/runFolder';

/**
 * `<configDir>/<runsFolder>`; `runsFolder` is relative to the config's folder (or absolute). It must stay inside
 * `root` (default: the config's folder; the extension passes the workspace folder): a setting from a shared
 * workspace must not make jobs write, or the explorer read, anywhere on disk. Throws naming the setting.
 */
export function runsDirFor(configPath: string, runsFolder: string = DEFAULT_RUNS_FOLDER, root?: string): string {
  const configDir = path.dirname(path.resolve(configPath));
  const dir = path.resolve(configDir, runsFolder);
  const base = path.resolve(root ?? configDir);
  if (!isInside(base, dir) || (fs.existsSync(dir) && fs.existsSync(base) && !isInside(fs.realpathSync(base), fs.realpathSync(dir)))) {
    throw new Error(`peftLab.runsFolder '${runsFolder}' resolves to ${dir}, outside ${base}: the runs folder must be inside ${root === undefined ? "the config's folder" : 'the workspace folder'}`);
  }
  return dir;
}

/** True when `child` is `parent` or below it. */
function isInside(parent: string, child: string): boolean {
  const rel = path.relative(parent, child);
  return rel === '' || (rel !== '..' && !rel.startsWith(`..${path.sep}`) && !path.isAbsolute(rel));
}

export interface CreateRunDirOptions {
  runsFolder?: string;
  /** The folder the runs folder must stay inside (runsDirFor). */
  root?: string;
  now?: Date;
}

/**
 * Creates a new, empty run folder `<runsDir>/YYYYMMDD-HHMMSS-<slug>` and returns its absolute path. When the id
 * is taken (two runs in the same second), appends -2, -3, ... (mkdir without `recursive` makes this race-free).
 */
export function createRunDir(configPath: string, name: string, options: CreateRunDirOptions = {}): string {
  const runsDir = runsDirFor(configPath, options.runsFolder, options.root);
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
