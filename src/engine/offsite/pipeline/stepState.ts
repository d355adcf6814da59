// Resumable pipeline steps: `<runDir>/offsite-state.json` records each completed step's outputs (small JSON; large
// outputs are files in the run folder written before the record), replaced atomically after every step. A rerun
// of the same config in the same run folder skips the recorded steps; a fingerprint of the settings the steps
// depend on guards against resuming with another config. The file's shape is src/protocol/resumeFiles.ts's
// offsiteStateFileSchema: a wrong-typed entry is reported with its JSON path when the file is opened.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { offsiteStateFileSchema, parseResumeFile, type OffsiteSteps } from '../../../protocol/resumeFiles';
import { RUN_FILES } from '../../../protocol/runFolder';
import { writeJsonAtomic } from '../../runs/atomic';

export const OFFSITE_STATE_FILE = RUN_FILES.offsiteState;

export type OffsiteStepName = keyof OffsiteSteps;

export class StepState {
  private readonly steps: OffsiteSteps;

  private constructor(private readonly file: string, private readonly fingerprint: string, steps: OffsiteSteps) {
    this.steps = steps;
  }

  /** Opens (or starts) the state of a run folder; throws when it is unreadable or was written with another fingerprint. */
  static open(runDir: string, fingerprint: string): StepState {
    const file = path.join(runDir, OFFSITE_STATE_FILE);
    if (!fs.existsSync(file)) return new StepState(file, fingerprint, {});
    const raw = parseResumeFile(offsiteStateFileSchema, fs.readFileSync(file, 'utf8'), file);
    if (raw.fingerprint !== fingerprint) {
      throw new Error(`${file}: these steps were run with other model/data/peft/train/offsite settings; resume them with the config they were started with`);
    }
    return new StepState(file, fingerprint, { ...raw.steps });
  }

  get completed(): string[] {
    return Object.keys(this.steps);
  }

  get<K extends OffsiteStepName>(step: K): OffsiteSteps[K] {
    return this.steps[step];
  }

  /** Records a completed step (atomically, with every step before it). */
  put<K extends OffsiteStepName>(step: K, value: NonNullable<OffsiteSteps[K]>): void {
    this.steps[step] = value;
    writeJsonAtomic(this.file, { fingerprint: this.fingerprint, steps: this.steps });
  }

  /** The recorded output of `step`, or runs it, records and returns its output. */
  async run<K extends OffsiteStepName>(step: K, body: () => Promise<NonNullable<OffsiteSteps[K]>>): Promise<{ value: NonNullable<OffsiteSteps[K]>; skipped: boolean }> {
    const done = this.get(step);
    if (done !== undefined) return { value: done as NonNullable<OffsiteSteps[K]>, skipped: true };
    const value = await body();
    this.put(step, value);
    return { value, skipped: false };
  }
}
