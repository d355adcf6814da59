// Atomic file writes: readers (the extension, panels, the CLI) never see a half-written file.
import * as fs from 'node:fs';
import * as path from 'node:path';

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
  fs.appendFileSync(file, `${line.replace(/\n/g, ' ')}\n`);
}
