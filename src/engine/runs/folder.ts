// Guards on a run folder before a job writes into it: no symbolic links inside (appends and checkpoint cleanup
// would write or delete through them), no second run on top of an existing one, no "resume" of a finished run.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { RunFolderError, symlinkError } from './errors';
import { RUN_FILES } from './layout';
import { readSummary } from './reader';


/** Throws a RunFolderError when `p` itself is a symbolic link (nothing when it does not exist). */
export function assertNotSymlink(p: string): void {
  let stat: fs.Stats;
  try {
    stat = fs.lstatSync(p);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  if (stat.isSymbolicLink()) throw symlinkError(p);
}

/** Throws naming the first symbolic link anywhere inside `runDir` (the folder itself may be reached through links). */
export function assertNoSymlinksInside(runDir: string): void {
  if (!fs.existsSync(runDir)) return;
  const walk = (dir: string): void => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, entry.name);
      if (entry.isSymbolicLink()) throw symlinkError(p);
      if (entry.isDirectory()) walk(p);
    }
  };
  walk(runDir);
}

/** The run file (summary.json or config.json) that shows `runDir` already holds a run, or undefined. */
export function existingRunFile(runDir: string): string | undefined {
  return [RUN_FILES.summary, RUN_FILES.config].map((f) => path.join(runDir, f)).find((f) => fs.existsSync(f));
}

/**
 * Checks a given run folder before a job starts in it: no symbolic links; a folder that holds a run only with
 * `resume`; a completed run is never resumed (it would redo the final evaluation and overwrite its results).
 */
export function checkRunFolderForJob(runDir: string, resume: boolean): void {
  assertNoSymlinksInside(runDir);
  const existing = existingRunFile(runDir);
  if (existing !== undefined && !resume) {
    throw new RunFolderError(`${runDir} already holds a run (${path.basename(existing)}); resume it, or start the new run in another folder`);
  }
  if (resume) {
    let status: string | undefined;
    try {
      status = readSummary(runDir)?.status;
    } catch {
      status = undefined; // an unreadable summary is the resume's own problem (it reports the file)
    }
    if (status === 'completed') throw new RunFolderError(`${runDir}: this run has already completed; there is nothing to resume (start a new run instead)`);
  }
}
