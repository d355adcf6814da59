/**
 * One IST importance round (DESIGN.md "IST"; ist.py on_step_begin): sample K suppression sets, evaluate the loss
 * with each set's PEFT outputs scaled by the suppression factor, update the scores. The forward pass is supplied
 * by the caller (the trainer), so this module stays free of ONNX.
 */
import type { Rng } from '../util/random';
import { sampleSuppressionSets } from './sampling';
import { updateScores } from './scores';

/** The `"ist"` config block (issue 6), with the paper's defaults in IST_DEFAULTS. */
export interface IstOptions {
  updateRatio: number;
  suppressRatio: number;
  interval: number;
  rollouts: number;
  scoreLr: number;
  suppressionFactor: number;
  scoreBatch: number;
}

/** Defaults of ist.py: 0.25 of layers updated, 0.5 suppressed, every 10 steps, 3 rollouts, lr 10, factor 0.25, batch 16. */
export const IST_DEFAULTS: Readonly<IstOptions> = Object.freeze({
  updateRatio: 0.25,
  suppressRatio: 0.5,
  interval: 10,
  rollouts: 3,
  scoreLr: 10,
  suppressionFactor: 0.25,
  scoreBatch: 16,
});

/** What a round records (the `"importance"` metrics record of issue 6 is `{type, step, scores, rewards, suppressed}`). */
export interface ImportanceRound {
  scores: Float64Array;
  /** Centred rewards r^_k. */
  rewards: number[];
  losses: number[];
  suppressed: number[][];
  duplicatesAccepted: number;
}

/**
 * Runs one round. `lossWithSuppressed(set, factor)` must return the scoring batch's loss with the PEFT output of
 * the layers in `set` multiplied by `factor` (LoRA: scaling alpha/r * factor) and all other layers unscaled, in
 * inference mode; the caller restores all scalings afterwards. Rollouts run one after another, in order.
 */
export async function runImportanceRound(
  scores: ArrayLike<number>,
  options: Pick<IstOptions, 'suppressRatio' | 'rollouts' | 'scoreLr' | 'suppressionFactor'>,
  rng: Rng,
  lossWithSuppressed: (set: readonly number[], factor: number) => number | Promise<number>,
): Promise<ImportanceRound> {
  const { sets, duplicatesAccepted } = sampleSuppressionSets(scores, options.suppressRatio, options.rollouts, rng);
  const losses: number[] = [];
  for (const set of sets) losses.push(await lossWithSuppressed(set, options.suppressionFactor));
  const update = updateScores(scores, sets, losses, options.scoreLr);
  return { scores: update.scores, rewards: update.rewards, losses, suppressed: sets, duplicatesAccepted };
}
