// Whether a run folder can take a job of this config, checked before the job writes anything there: a resume
// with another config or a corrupt checkpoint/state file must fail without touching the run's config.json and
// summary.json (a completed run's results would otherwise be lost to the failed attempt).
import type { ExperimentConfig } from '../config/types';
import { openOffsiteState } from './offsite';
import { resumableCheckpoint } from './tune';

/** Throws a TaskError (where `resume`) naming the file and key when `runDir` cannot be resumed with `config`. */
export function checkResumable(config: ExperimentConfig, runDir: string): void {
  switch (config.task) {
    case 'tune':
      resumableCheckpoint(config, runDir);
      return;
    case 'offsite':
      openOffsiteState(config, runDir);
      return;
    case 'device-check':
      return;
  }
}
