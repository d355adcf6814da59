// Atomic file writes: readers (the extension, panels, the CLI) never see a half-written file.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { RunFolderError, symlinkError } from './errors';

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
    throw namingFile(file, err);
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
    const bytes = Buffer.from(`${line.replace(/\n/g, ' ')}\n`, 'utf8');
    let written: number;
    try {
      written = fs.writeSync(fd, bytes);
    } catch (err) {
      throw namingFile(file, err);
    }
    // A full disk (or a file size limit) first shows as a short write, which writeSync returns without an error:
    // the line is torn. Fail here (a torn last line is what readers and resume tolerate) rather than append
    // whole lines after it once space is freed, which would leave a corrupt line in the middle of the file.
    if (written !== bytes.length) throw new Error(`${file}: only ${written} of ${bytes.length} bytes written (is the disk full?)`);
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * The write error (ENOSPC, EFBIG, EACCES, ...) with the file named: for a write(2) on a descriptor Node names
 * none. The `code` stays, for callers that test it.
 */
function namingFile(file: string, err: unknown): unknown {
  if (!(err instanceof Error) || err instanceof RunFolderError || err.message.includes(file)) return err;
  const named: NodeJS.ErrnoException = new Error(`${file}: ${err.message}`, { cause: err });
  const code = (err as NodeJS.ErrnoException).code;
  if (code !== undefined) named.code = code;
  return named;
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

