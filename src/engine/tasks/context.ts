// What a task gets from the job process: progress and log sinks, and cancellation.
import type { MetricRecord } from '../../protocol/runFiles';
import type { LogLevel } from '../../protocol/worker';

export interface TaskContext {
  /** fraction in 0..1 */
  progress(fraction: number, message: string): void;
  log(level: LogLevel, message: string): void;
  /** Throws TaskCancelled when the job was cancelled (tasks call it between units of work). */
  throwIfCancelled(): void;
}

/** What tasks that write into the run folder get besides the TaskContext. */
export interface RunContext extends TaskContext {
  readonly runDir: string;
  /** Appends to metrics.jsonl and streams the record as a `metric` event. */
  emitMetric(record: MetricRecord): void;
  /** Tells the job process an artifact was written (`artifact` event). */
  artifact(path: string, kind: string): void;
  /**
   * Registers a synchronous handler run when the job is cancelled, before the process exits (e.g. to write a
   * checkpoint of the last completed step). Returns a function that unregisters it.
   */
  onCancel(handler: () => void): () => void;
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
