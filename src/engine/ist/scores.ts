/**
 * IST layer-importance scores and their update (DESIGN.md "IST"; antgroup/importance-aware-sparse-tuning-IST-paper
 * `ist.py`, ISTCallback.on_step_begin). One score s_i per decoder layer, 0 at start. The score is
 * dispensability: a high s_i means layer i is suppressed more often and updated less often.
 */

/** Logistic function 1 / (1 + e^-x), written to avoid overflow for large |x|. */
export function sigmoid(x: number): number {
  if (x >= 0) return 1 / (1 + Math.exp(-x));
  const e = Math.exp(x);
  return e / (1 + e);
}

/** Fresh scores for `layerCount` layers, all 0 (as `torch.zeros(total_layers)` in ist.py). */
export function createLayerScores(layerCount: number): Float64Array {
  if (!Number.isInteger(layerCount) || layerCount < 1) {
    throw new Error(`IST: layer count must be a positive integer, got ${layerCount}`);
  }
  return new Float64Array(layerCount);
}

/** Result of one importance update. */
export interface ScoreUpdate {
  /** The new scores [L] (the input is not modified). */
  scores: Float64Array;
  /** Raw rewards r_k = exp(-l_k) [K]. */
  rawRewards: number[];
  /** Centred rewards r^_k = r_k - mean(r) [K]. */
  rewards: number[];
}

/**
 * The IST score update, exactly as ist.py does it:
 *   r_k = exp(-l_k),  r^_k = r_k - mean_k(r),  p = sigmoid(s) (taken once, before the loop),
 *   for every rollout k and every layer i in S_k:  s_i += scoreLr * r^_k * p_i * (1 - p_i).
 * A layer in several suppression sets gets several increments, all with the same p_i.
 * @param scores current scores [L]
 * @param suppressedSets S_k, K sets of layer indices in [0, L)
 * @param losses l_k, the loss of the forward pass with S_k suppressed [K]
 * @param scoreLr the score learning rate (10 in the paper)
 */
export function updateScores(
  scores: ArrayLike<number>,
  suppressedSets: readonly (readonly number[])[],
  losses: readonly number[],
  scoreLr: number,
): ScoreUpdate {
  const layerCount = scores.length;
  if (suppressedSets.length !== losses.length) {
    throw new Error(`IST updateScores: ${suppressedSets.length} suppression sets but ${losses.length} losses`);
  }
  if (losses.length === 0) throw new Error('IST updateScores: at least one rollout is needed');
  losses.forEach((l, k) => {
    if (!Number.isFinite(l)) throw new Error(`IST updateScores: loss[${k}] = ${l} is not finite`);
  });
  const rawRewards = losses.map((l) => Math.exp(-l));
  const mean = rawRewards.reduce((a, b) => a + b, 0) / rawRewards.length;
  const rewards = rawRewards.map((r) => r - mean);
  const p = Array.from({ length: layerCount }, (_, i) => sigmoid(scores[i] ?? 0));
  const next = Float64Array.from({ length: layerCount }, (_, i) => scores[i] ?? 0);
  suppressedSets.forEach((set, k) => {
    // ist.py tests `i in selects[k]`, so a repeated index inside one set counts once.
    for (const i of new Set(set)) {
      if (!Number.isInteger(i) || i < 0 || i >= layerCount) {
        throw new Error(`IST updateScores: suppressed set ${k} holds layer ${i}, outside [0, ${layerCount})`);
      }
      const pi = p[i] ?? 0;
      next[i] = (next[i] ?? 0) + scoreLr * (rewards[k] ?? 0) * pi * (1 - pi);
    }
  });
  return { scores: next, rawRewards, rewards };
}
