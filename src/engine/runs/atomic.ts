// Atomic file writes: readers (the extension, panels, the CLI) never see a half-written file.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { symlinkError } from './errors';

let counter = 0;

/** Writes `data` to a temp file in the same folder (same file system), fsyncs it, then renames it over `file`. */
export function writeFileAtomic(file: string, data: string | Uint8Array): void {
  const dir = path.dirname(file);
  const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.${Date.now()}.${counter++}.tmp`);
  let fd: number | undefined;
  try {
    fd = fs.openSync(tmp, 'wx');
    fs.writeFileSync(fd, data);
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fd = undefined;
    fs.renameSync(tmp, file);
  } catch (err) {
    if (fd !== undefined) fs.closeSync(fd);
    fs.rmSync(tmp, { force: true });
    throw err;
  }
}

/** JSON with two-space indentation and a final newline, written atomically. */
export function writeJsonAtomic(file: string, value: unknown): void {
  writeFileAtomic(file, `${JSON.stringify(value, null, 2)}\n`);
}

/**
 * Appends one line with a single write(2) on an O_APPEND descriptor, so concurrent readers see whole lines or a
 * torn last line (which the readers tolerate); rewriting the file per record would cost O(n^2).
 */
export function appendLine(file: string, line: string): void {
  const fd = openNoFollow(file, fs.constants.O_WRONLY | fs.constants.O_APPEND | fs.constants.O_CREAT);
  try {
    fs.writeSync(fd, `${line.replace(/\n/g, ' ')}\n`);
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Opens without following a symbolic link at `file` (O_NOFOLLOW): a log.txt or metrics.jsonl replaced by a link
 * must not let the job write into whatever it points to. (Windows has no O_NOFOLLOW: there, an lstat check.)
 */
export function openNoFollow(file: string, flags: number): number {
  const noFollow = fs.constants.O_NOFOLLOW as number | undefined;
  if (noFollow === undefined && fs.lstatSync(file, { throwIfNoEntry: false })?.isSymbolicLink() === true) throw symlinkError(file);
  try {
    return fs.openSync(file, flags | (noFollow ?? 0), 0o666);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ELOOP') throw symlinkError(file);
    throw err;
  }
}

