// The shape of a CLI subcommand (CONTRACTS "CLI"). Each lives in src/cli/commands/<name>.ts and is listed in
// src/cli/commands/index.ts.

export interface CliIO {
  /** One line on stdout (results: the run folder, --json events). */
  out(line: string): void;
  /** One line on stderr (progress, messages). */
  err(line: string): void;
}

export interface CliCommand {
  name: string;
  /** One line for `peft-lab --help`. */
  summary: string;
  /** Full usage text for `peft-lab <name> --help`. */
  usage: string;
  /** Returns the exit code: 0 success, 1 job failed, 2 usage or config error, 130 cancelled. */
  run(args: string[], io: CliIO): Promise<number>;
}

export const EXIT = { ok: 0, failed: 1, usage: 2, cancelled: 130 } as const;

/** Thrown by argument parsing; the CLI prints the message and the command's usage and exits 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}
