// Config problems with their location: file, line:col (1-based) and JSON path.
import * as path from 'node:path';

export interface ConfigIssue {
  /** Absolute path of the config file. */
  file: string;
  line: number;
  column: number;
  /** JSON path of the offending value, e.g. `$.runtime.device`; absent for JSON syntax errors. */
  jsonPath?: string;
  message: string;
}

/** `file:line:col: $.path: message`, with the file relative to `relativeTo` (default: cwd) when inside it. */
export function formatConfigIssue(issue: ConfigIssue, relativeTo: string = process.cwd()): string {
  const base = path.resolve(relativeTo);
  const rel = path.relative(base, issue.file);
  // Relative only below a real folder: from `/` (an extension host's cwd) `work/x.json` would mislead.
  const inside = rel !== '' && !rel.startsWith('..') && !path.isAbsolute(rel) && base !== path.parse(base).root;
  const shown = inside ? rel : issue.file;
  const where = issue.jsonPath === undefined ? '' : `${issue.jsonPath}: `;
  return `${shown}:${issue.line}:${issue.column}: ${where}${issue.message}`;
}

/** Thrown when a config cannot be read, parsed or validated. `issues` lists every problem found. */
export class ConfigError extends Error {
  override name = 'ConfigError';
  constructor(readonly issues: ConfigIssue[]) {
    super(issues.map((issue) => formatConfigIssue(issue)).join('\n'));
  }
}

/** 1-based line and column of a character offset. */
export function lineColumnAt(text: string, offset: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  const end = Math.min(offset, text.length);
  for (let i = 0; i < end; i++) {
    if (text.charCodeAt(i) === 10) {
      line++;
      lineStart = i + 1;
    }
  }
  return { line, column: end - lineStart + 1 };
}
