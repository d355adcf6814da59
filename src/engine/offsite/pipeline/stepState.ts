// Resumable pipeline steps: `<runDir>/offsite-state.json` records each completed step's outputs (small JSON; large
// outputs are files in the run folder written before the record), replaced atomically after every step. A rerun
// of the same config in the same run folder skips the recorded steps; a fingerprint of the settings the steps
// depend on guards against resuming with another config.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeJsonAtomic } from '../../runs/atomic';

export const OFFSITE_STATE_FILE = 'offsite-state.json';

export class StepState {
  private readonly steps: Record<string, unknown>;

  private constructor(private readonly file: string, private readonly fingerprint: string, steps: Record<string, unknown>) {
    this.steps = steps;
  }

  /** Opens (or starts) the state of a run folder; throws when it was written with another fingerprint. */
  static open(runDir: string, fingerprint: string): StepState {
    const file = path.join(runDir, OFFSITE_STATE_FILE);
    if (!fs.existsSync(file)) return new StepState(file, fingerprint, {});
    const raw: unknown = JSON.parse(fs.readFileSync(file, 'utf8'));
    if (typeof raw !== 'object' || raw === null || !('fingerprint' in raw) || !('steps' in raw) || typeof raw.steps !== 'object' || raw.steps === null) {
      throw new Error(`${file}: expected {"fingerprint", "steps"}`);
    }
    if (raw.fingerprint !== fingerprint) {
      throw new Error(`${file}: these steps were run with other model/data/peft/train/offsite settings; resume them with the config they were started with`);
    }
    return new StepState(file, fingerprint, { ...(raw.steps as Record<string, unknown>) });
  }

  get completed(): string[] {
    return Object.keys(this.steps);
  }

  get<T>(step: string): T | undefined {
    return this.steps[step] as T | undefined;
  }

  /** Records a completed step (atomically, with every step before it). */
  put(step: string, value: unknown): void {
    this.steps[step] = value;
    writeJsonAtomic(this.file, { fingerprint: this.fingerprint, steps: this.steps });
  }

  /** The recorded output of `step`, or runs it, records and returns its output. */
  async run<T>(step: string, body: () => Promise<T>): Promise<{ value: T; skipped: boolean }> {
    const done = this.get<T>(step);
    if (done !== undefined) return { value: done, skipped: true };
    const value = await body();
    this.put(step, value);
    return { value, skipped: false };
  }
}
