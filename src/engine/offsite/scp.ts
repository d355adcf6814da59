/**
 * SCP, selective channel pruning of the MLP (GradOT; DESIGN.md "SCP, MLP"; issue 7).
 *
 * Reading of the rule, stated precisely: removing intermediate channel j is the paired perturbation that zeroes
 * row j of up (and gate) and column j of down; its score is the sum of the three projections' GCS
 * (gcs.ts channelRemovalGcs). SCP chooses the kept subset that minimises the GCS of the compression, taken as the
 * sum over pruned channels of their scores, so it prunes the (inter - budget) channels with the *lowest* GCS and
 * keeps the rest (ties: the higher index is pruned first, for determinism).
 *
 * Magnitude baseline: channel j's magnitude is the L2 norm of everything that channel owns, i.e. of the
 * concatenation of row j of up, row j of gate (if any) and column j of down:
 * sqrt(||up_j||^2 + ||gate_j||^2 + ||down_{:,j}||^2); the `budget` largest are kept.
 */
import { channelBudget } from './budget';
import { checkShape } from '../linalg/dense';

/** Kept channel indices (ascending): prune the lowest-GCS channels down to round(ratio * inter). */
export function selectScpChannels(removalGcs: ArrayLike<number>, mlpChannelRatio: number): number[] {
  const inter = removalGcs.length;
  const kept = channelBudget(inter, mlpChannelRatio);
  const order = Array.from({ length: inter }, (_, j) => j).sort(
    (a, b) => (removalGcs[a] as number) - (removalGcs[b] as number) || b - a,
  );
  return order.slice(inter - kept).sort((a, b) => a - b);
}

/** Weights of an MLP: up, gate [inter, d], down [d, inter]. */
export interface MlpWeights {
  modelWidth: number;
  intermediate: number;
  up: Float64Array;
  gate?: Float64Array;
  down: Float64Array;
}

function checkMlp(mlp: MlpWeights): void {
  checkShape('mlp.up', mlp.up, mlp.intermediate, mlp.modelWidth);
  if (mlp.gate !== undefined) checkShape('mlp.gate', mlp.gate, mlp.intermediate, mlp.modelWidth);
  checkShape('mlp.down', mlp.down, mlp.modelWidth, mlp.intermediate);
}

/** Channel magnitudes [inter] for the magnitude-pruning baseline (see the module comment). */
export function channelMagnitudes(mlp: MlpWeights): Float64Array {
  checkMlp(mlp);
  const { modelWidth: d, intermediate: c } = mlp;
  const sq = new Float64Array(c);
  for (let j = 0; j < c; j++) {
    let s = 0;
    for (let t = 0; t < d; t++) {
      s += (mlp.up[j * d + t] as number) ** 2;
      if (mlp.gate !== undefined) s += (mlp.gate[j * d + t] as number) ** 2;
    }
    sq[j] = s;
  }
  for (let i = 0; i < d; i++) for (let j = 0; j < c; j++) sq[j] = (sq[j] as number) + (mlp.down[i * c + j] as number) ** 2;
  return sq.map(Math.sqrt);
}

/** Kept channel indices (ascending) for the magnitude baseline: the round(ratio * inter) largest magnitudes. */
export function selectChannelsByMagnitude(mlp: MlpWeights, mlpChannelRatio: number): number[] {
  const mag = channelMagnitudes(mlp);
  const kept = channelBudget(mlp.intermediate, mlpChannelRatio);
  return Array.from({ length: mlp.intermediate }, (_, j) => j)
    .sort((a, b) => (mag[b] as number) - (mag[a] as number) || a - b)
    .slice(0, kept)
    .sort((a, b) => a - b);
}

/** The pruned MLP: rows `kept` of up/gate, columns `kept` of down (intermediate = kept.length). */
export function pruneMlpChannels(mlp: MlpWeights, kept: readonly number[]): MlpWeights {
  checkMlp(mlp);
  const { modelWidth: d, intermediate: c } = mlp;
  const k = kept.length;
  kept.forEach((j) => {
    if (!Number.isInteger(j) || j < 0 || j >= c) throw new Error(`pruneMlpChannels: channel ${j} not in [0, ${c})`);
  });
  const rows = (w: Float64Array): Float64Array => {
    const out = new Float64Array(k * d);
    kept.forEach((j, r) => out.set(w.subarray(j * d, j * d + d), r * d));
    return out;
  };
  const down = new Float64Array(d * k);
  for (let i = 0; i < d; i++) kept.forEach((j, col) => (down[i * k + col] = mlp.down[i * c + j] as number));
  return {
    modelWidth: d,
    intermediate: k,
    up: rows(mlp.up),
    ...(mlp.gate !== undefined ? { gate: rows(mlp.gate) } : {}),
    down,
  };
}
