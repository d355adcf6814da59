// One job per run folder: an exclusive lock file (run.lock) held by the process that started the job, and the
// job process's heartbeat (heartbeat.json), so a run killed with SIGKILL reads as interrupted, not running.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { runHeartbeatSchema, runLockSchema, type RunHeartbeat, type RunLock } from '../../protocol/runFiles';
import { writeJsonAtomic } from './atomic';
import { RUN_FILES } from './layout';

/** How often the job process rewrites heartbeat.json. */
export const HEARTBEAT_INTERVAL_MS = 2000;
/**
 * A heartbeat older than this means the job is gone even when its pid is alive (reused) or on another host. Long,
 * because a synchronous computation in the job process delays its timer.
 */
export const HEARTBEAT_STALE_MS = 5 * 60_000;

/** Another live process holds the run folder; the message names the folder and that process. */
export class RunLockedError extends Error {
  override name = 'RunLockedError';
}

export interface HeldRunLock {
  readonly file: string;
  /** Removes the lock file if it is still this one (idempotent). */
  release(): void;
}

const held = new Set<HeldRunLock>();
let exitHookInstalled = false;

/**
 * Takes run.lock of `runDir` or throws RunLockedError naming the holder. A lock whose process is gone (same host)
 * or whose job's heartbeat went stale is taken over. Released by `release()`, or when this process exits.
 */
export function acquireRunLock(runDir: string, now: () => Date = () => new Date()): HeldRunLock {
  const file = path.join(runDir, RUN_FILES.lock);
  const mine: RunLock = { pid: process.pid, hostname: os.hostname(), acquiredAt: now().toISOString() };
  for (let attempt = 0; attempt < 3; attempt++) {
    // Written whole under a private name, then hard-linked into place: link(2) fails when run.lock exists (like
    // O_EXCL), and a reader never sees a lock file without its content.
    const tmp = path.join(runDir, `.${RUN_FILES.lock}.${process.pid}.${attempt}.tmp`);
    fs.writeFileSync(tmp, `${JSON.stringify(mine)}\n`, { flag: 'wx' });
    try {
      fs.linkSync(tmp, file);
      return hold(file, mine);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    } finally {
      fs.rmSync(tmp, { force: true });
    }
    const holder = readLock(file);
    if (holder !== undefined && lockHolderAlive(holder, runDir, now())) {
      const where = holder.hostname === os.hostname() ? '' : ` on ${holder.hostname}`;
      throw new RunLockedError(`${runDir} is in use by process ${holder.pid}${where} (since ${holder.acquiredAt}); wait for that job to end or cancel it (lock file ${file})`);
    }
    fs.rmSync(file, { force: true }); // stale: its process is gone
  }
  throw new RunLockedError(`${runDir}: could not take the lock file ${file} (other processes keep taking it)`);
}

function hold(file: string, mine: RunLock): HeldRunLock {
  const lock: HeldRunLock = {
    file,
    release() {
      if (!held.delete(lock)) return;
      const current = readLock(file);
      if (current?.pid === mine.pid && current.acquiredAt === mine.acquiredAt && current.hostname === mine.hostname) fs.rmSync(file, { force: true });
    },
  };
  held.add(lock);
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.on('exit', () => {
      for (const l of [...held]) {
        try {
          l.release();
        } catch {
          // exiting anyway
        }
      }
    });
  }
  return lock;
}

/** run.lock's content, or undefined when missing or unreadable (a lock nobody can name is no lock). */
export function readLock(file: string): RunLock | undefined {
  return readJsonFile(file, (json) => runLockSchema.safeParse(json));
}

/** heartbeat.json of a run folder, or undefined when missing or unreadable. */
export function readHeartbeat(runDir: string): RunHeartbeat | undefined {
  return readJsonFile(path.join(runDir, RUN_FILES.heartbeat), (json) => runHeartbeatSchema.safeParse(json));
}

function readJsonFile<T>(file: string, parse: (json: unknown) => { success: true; data: T } | { success: false }): T | undefined {
  try {
    const result = parse(JSON.parse(fs.readFileSync(file, 'utf8')));
    return result.success ? result.data : undefined;
  } catch {
    return undefined;
  }
}

function lockHolderAlive(holder: RunLock, runDir: string, now: Date): boolean {
  if (holder.hostname === os.hostname()) return processAlive(holder.pid);
  // Another host (a shared folder): its pid cannot be checked here; the job's heartbeat decides.
  const beat = readHeartbeat(runDir);
  return beat === undefined || now.getTime() - Date.parse(beat.at) < HEARTBEAT_STALE_MS;
}

/** Whether `pid` is a live process of this host (EPERM: it exists, owned by someone else; a zombie is dead). */
export function processAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  try {
    // Linux: a killed job whose parent died too stays a zombie until a reaper collects it (slow in containers).
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.charAt(stat.lastIndexOf(')') + 2) !== 'Z';
  } catch {
    return true; // no /proc (macOS, Windows): kill(0) is the answer
  }
}

/** Writes heartbeat.json now and every HEARTBEAT_INTERVAL_MS; the returned function stops and removes it. */
export function startHeartbeat(runDir: string, intervalMs: number = HEARTBEAT_INTERVAL_MS): () => void {
  const file = path.join(runDir, RUN_FILES.heartbeat);
  const beat = (): void => {
    try {
      writeJsonAtomic(file, { pid: process.pid, hostname: os.hostname(), at: new Date().toISOString() } satisfies RunHeartbeat);
    } catch {
      // A missed beat only makes the run look older; the job itself goes on.
    }
  };
  beat();
  const timer = setInterval(beat, intervalMs);
  timer.unref();
  return () => {
    clearInterval(timer);
    fs.rmSync(file, { force: true });
  };
}

/**
 * Why a run whose summary says `running` is in fact not running (its process was killed), or undefined when it
 * may well be running. Without a heartbeat (runs of older versions, or the instant before the first beat) nothing
 * can be said.
 */
export function interruptedReason(runDir: string, now: Date = new Date()): string | undefined {
  const beat = readHeartbeat(runDir);
  if (beat === undefined) return undefined;
  if (beat.hostname === os.hostname() && !processAlive(beat.pid)) return `its job process ${beat.pid} is gone (last heartbeat ${beat.at})`;
  const age = now.getTime() - Date.parse(beat.at);
  if (!(age < HEARTBEAT_STALE_MS)) return `no heartbeat from its job process ${beat.pid} since ${beat.at}`;
  return undefined;
}
