/**
 * IST layer sampling (DESIGN.md "IST"; ist.py `sampling_more_important_selection` for the layers to update and
 * `sampling_less_important_selection` for the suppression sets). Both use torch.multinomial without replacement,
 * i.e. successive draws with the remaining weights renormalised (Rng.sampleWeightedWithoutReplacement), and sort
 * the result (torch.sort), so the sets returned here are sorted ascending.
 */
import type { Rng } from '../util/random';
import { sigmoid } from './scores';

/**
 * Number of layers for a ratio: floor(ratio * L) as ist.py's int(total_layers * ratio), but at least 1 (ist.py
 * would pick 0 layers for tiny models, which makes a step a no-op) and at most L.
 * @throws when ratio is not in (0, 1] or L is not a positive integer
 */
export function layerBudget(ratio: number, layerCount: number): number {
  if (!Number.isInteger(layerCount) || layerCount < 1) {
    throw new Error(`IST: layer count must be a positive integer, got ${layerCount}`);
  }
  if (!(ratio > 0 && ratio <= 1)) throw new Error(`IST: ratio must be in (0, 1], got ${ratio}`);
  return Math.min(layerCount, Math.max(1, Math.floor(ratio * layerCount)));
}

/**
 * The layers whose PEFT parameters are trained this step: n = layerBudget(updateRatio, L) layers sampled without
 * replacement with weights sigmoid(-s_i) (important = low s = updated more often). Sorted ascending.
 * @param scores s [L]
 */
export function sampleUpdateLayers(scores: ArrayLike<number>, updateRatio: number, rng: Rng): number[] {
  const count = layerBudget(updateRatio, scores.length);
  const weights = Array.from({ length: scores.length }, (_, i) => sigmoid(-(scores[i] ?? 0)));
  return rng.sampleWeightedWithoutReplacement(weights, count).sort((a, b) => a - b);
}

/** Retries per rollout before a duplicate suppression set is accepted (see sampleSuppressionSets). */
export const SUPPRESSION_RESAMPLE_LIMIT = 100;

function sameSet(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

/** Suppression sets of one importance round, and how many of them had to be accepted as duplicates. */
export interface SuppressionSets {
  /** K sorted sets of layer indices. */
  sets: number[][];
  /** Rollouts whose set equals an earlier one after SUPPRESSION_RESAMPLE_LIMIT retries. */
  duplicatesAccepted: number;
}

/**
 * K = `rollouts` suppression sets of n = layerBudget(suppressRatio, L) layers each, each sampled without
 * replacement with weights sigmoid(+s_i) (dispensable = high s = suppressed more often). A set equal to an earlier
 * one is resampled, as ist.py does; ist.py retries forever, which never ends when fewer than K distinct sets
 * exist (e.g. L = 1) or takes very long when the weights are extreme, so here a rollout gives up after
 * `resampleLimit` retries and keeps the duplicate (counted in `duplicatesAccepted`).
 */
export function sampleSuppressionSets(
  scores: ArrayLike<number>,
  suppressRatio: number,
  rollouts: number,
  rng: Rng,
  resampleLimit: number = SUPPRESSION_RESAMPLE_LIMIT,
): SuppressionSets {
  if (!Number.isInteger(rollouts) || rollouts < 1) {
    throw new Error(`IST: rollouts must be a positive integer, got ${rollouts}`);
  }
  const count = layerBudget(suppressRatio, scores.length);
  const weights = Array.from({ length: scores.length }, (_, i) => sigmoid(scores[i] ?? 0));
  const draw = (): number[] => rng.sampleWeightedWithoutReplacement(weights, count).sort((a, b) => a - b);
  const sets: number[][] = [];
  let duplicatesAccepted = 0;
  for (let k = 0; k < rollouts; k++) {
    let set = draw();
    let retries = 0;
    while (sets.some((s) => sameSet(s, set)) && retries < resampleLimit) {
      set = draw();
      retries++;
    }
    if (sets.some((s) => sameSet(s, set))) duplicatesAccepted++;
    sets.push(set);
  }
  return { sets, duplicatesAccepted };
}

/**
 * Whether the importance scores are updated before this step: every `interval` steps, not at step 0
 * (ist.py: `global_step % interval == 0 and global_step > 0`). Steps count from 0.
 */
export function isImportanceStep(step: number, interval: number): boolean {
  if (!Number.isInteger(interval) || interval < 1) {
    throw new Error(`IST: interval must be a positive integer, got ${interval}`);
  }
  return step > 0 && step % interval === 0;
}
