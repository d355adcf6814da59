/**
 * Compression budgets and the parameter counts of compressed modules, shared by the selections and the emulator
 * writer (issue 7: "the emulator's parameter count matches the budget").
 */

function checkRatio(name: string, ratio: number): void {
  if (!(ratio > 0 && ratio <= 1)) throw new Error(`${name} must be in (0, 1], got ${ratio}`);
}

/**
 * DRD rank budget for a projection of full rank R = min(out, in) (DESIGN.md "DRD"; issue 7 config):
 * kept = round(attentionRankRatio * R) clamped to [1, R]; alwaysKept = ceil(keepTopRankRatio * R), at most kept
 * (the top components by singular value that are never removed).
 */
export function rankBudget(fullRank: number, attentionRankRatio: number, keepTopRankRatio: number): { kept: number; alwaysKept: number } {
  if (!Number.isInteger(fullRank) || fullRank < 1) throw new Error(`rank budget: full rank must be a positive integer, got ${fullRank}`);
  checkRatio('attentionRankRatio', attentionRankRatio);
  if (!(keepTopRankRatio >= 0 && keepTopRankRatio <= 1)) throw new Error(`keepTopRankRatio must be in [0, 1], got ${keepTopRankRatio}`);
  const kept = Math.min(fullRank, Math.max(1, Math.round(attentionRankRatio * fullRank)));
  return { kept, alwaysKept: Math.min(kept, Math.ceil(keepTopRankRatio * fullRank)) };
}

/** SCP channel budget: round(mlpChannelRatio * intermediate) clamped to [1, intermediate]. */
export function channelBudget(intermediate: number, mlpChannelRatio: number): number {
  if (!Number.isInteger(intermediate) || intermediate < 1) throw new Error(`channel budget: intermediate size must be a positive integer, got ${intermediate}`);
  checkRatio('mlpChannelRatio', mlpChannelRatio);
  return Math.min(intermediate, Math.max(1, Math.round(mlpChannelRatio * intermediate)));
}

/** Weights of a rank-k factorized linear map [out, in] -> [k, in] then [out, k]: k * (in + out) (bias not counted). */
export function factorizedParamCount(outFeatures: number, inFeatures: number, rank: number): number {
  return rank * (outFeatures + inFeatures);
}

/**
 * Weights of an MLP with `channels` intermediate channels and model width d: SwiGLU (gate, up [c, d], down
 * [d, c]) has 3 d c; a two-matrix MLP (GPT-2, OPT: fc [c, d], proj [d, c]) has 2 d c; with biases add c (first
 * layer's bias, pruned with its channel) + d (second layer's bias, unchanged).
 */
export function mlpParamCount(modelWidth: number, channels: number, options: { gated: boolean; bias: boolean }): number {
  const weights = (options.gated ? 3 : 2) * modelWidth * channels;
  const biases = options.bias ? channels * (options.gated ? 2 : 1) + modelWidth : 0;
  return weights + biases;
}
