// What a task gets from the job process: progress and log sinks, and cancellation.
import type { LogLevel } from '../../protocol/worker';

export interface TaskContext {
  /** fraction in 0..1 */
  progress(fraction: number, message: string): void;
  log(level: LogLevel, message: string): void;
  /** Throws TaskCancelled when the job was cancelled (tasks call it between units of work). */
  throwIfCancelled(): void;
}

/** A task failure with where it happened (task, phase, tensor ...), as recorded in summary.json. */
export class TaskError extends Error {
  override name = 'TaskError';
  constructor(message: string, readonly where?: string) {
    super(message);
  }
}

export class TaskCancelled extends Error {
  override name = 'TaskCancelled';
  constructor() {
    super('the job was cancelled');
  }
}
