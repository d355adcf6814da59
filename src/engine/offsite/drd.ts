/**
 * DRD, dynamic rank decomposition of attention projections (GradOT; DESIGN.md "DRD, attention"; issue 7).
 *
 * Reading of the rule, stated precisely: every singular component k of W is a removal candidate with
 * perturbation delta_k = -s_k u_k v_k^T and score GCS(delta_k) (gcs.ts). A low GCS means removing it shifts the
 * adapters' gradients little and/or raises the loss much - exactly what the emulator wants - so DRD *removes* the
 * candidates with the lowest GCS and keeps the rest: keep the top ceil(keepTopRankRatio R) components by singular
 * value unconditionally, then, among the others, remove the (R - budget) with the lowest GCS. (Issue 7's
 * phrase "choose the rest of the kept components by lowest GCS of removing them" is read as "choose the rest by
 * the GCS of removing them, removing the lowest"; keeping the lowest-GCS components would keep the removals the
 * score marks as best, the opposite of minimising the GCS of the compression.) The GCS of a set of removals is
 * taken as the sum of the components' scores (the L1 term is not exactly additive; per-component scoring is
 * what makes the selection closed-form).
 *
 * Magnitude SVD baseline: keep the `budget` largest singular values.
 */
import type { Rng } from '../util/random';
import { rankBudget } from './budget';
import { type LinearStats, checkLinearStats, svdComponentRemovalGcs } from './gcs';
import { type Svd, svdFull, svdRandomized } from '../linalg/svd';

function sortedAscending(values: Iterable<number>): number[] {
  return [...values].sort((a, b) => a - b);
}

/** Component indices by descending singular value (ties: lower index first). */
function bySingularValue(singularValues: ArrayLike<number>): number[] {
  return Array.from({ length: singularValues.length }, (_, i) => i).sort(
    (a, b) => (singularValues[b] as number) - (singularValues[a] as number) || a - b,
  );
}

/**
 * Kept component indices (ascending) for DRD.
 * @param singularValues s [R]
 * @param removalGcs GCS of removing each component [R]
 */
export function selectDrdComponents(
  singularValues: ArrayLike<number>,
  removalGcs: ArrayLike<number>,
  attentionRankRatio: number,
  keepTopRankRatio: number,
): number[] {
  const full = singularValues.length;
  if (removalGcs.length !== full) throw new Error(`DRD: ${removalGcs.length} GCS values for ${full} components`);
  const { kept, alwaysKept } = rankBudget(full, attentionRankRatio, keepTopRankRatio);
  const order = bySingularValue(singularValues);
  const keep = new Set(order.slice(0, alwaysKept));
  // Remove the lowest-GCS candidates first; on equal GCS remove the smaller singular value (later in `order`).
  const rankInOrder = new Map(order.map((idx, pos) => [idx, pos] as [number, number]));
  const candidates = order.slice(alwaysKept).sort(
    (a, b) => (removalGcs[a] as number) - (removalGcs[b] as number) || (rankInOrder.get(b) ?? 0) - (rankInOrder.get(a) ?? 0),
  );
  const removeCount = full - kept;
  for (const idx of candidates.slice(removeCount)) keep.add(idx);
  return sortedAscending(keep);
}

/** Kept component indices (ascending) for the magnitude-SVD baseline: the `budget` largest singular values. */
export function selectTopSingularValues(singularValues: ArrayLike<number>, attentionRankRatio: number): number[] {
  const { kept } = rankBudget(singularValues.length, attentionRankRatio, 0);
  return sortedAscending(bySingularValue(singularValues).slice(0, kept));
}

/** A linear map kept factorized: y = second (first x), first [rank, in] = V_k^T, second [out, rank] = U_k S_k. */
export interface FactorizedLinear {
  outFeatures: number;
  inFeatures: number;
  rank: number;
  first: Float64Array;
  second: Float64Array;
}

/** The factorized map of the kept components of an SVD. */
export function factorize(svd: Svd, kept: readonly number[]): FactorizedLinear {
  const { rows: m, cols: n } = svd;
  const k = kept.length;
  const first = new Float64Array(k * n);
  const second = new Float64Array(m * k);
  kept.forEach((c, col) => {
    if (!Number.isInteger(c) || c < 0 || c >= svd.rank) throw new Error(`factorize: component ${c} not in [0, ${svd.rank})`);
    first.set(svd.vt.subarray(c * n, c * n + n), col * n);
    const sc = svd.s[c] as number;
    for (let i = 0; i < m; i++) second[i * k + col] = sc * (svd.ut[c * m + i] as number);
  });
  return { outFeatures: m, inFeatures: n, rank: k, first, second };
}

/** What DRD decided for one projection (for diagnostics.json: fullRank, keptRank, kept, singularValues, gcs). */
export interface DrdResult {
  fullRank: number;
  kept: number[];
  singularValues: Float64Array;
  gcs: Float64Array;
  factorized: FactorizedLinear;
}

export interface DrdOptions {
  attentionRankRatio: number;
  keepTopRankRatio: number;
  lambda: number;
}

/**
 * DRD for one attention projection: full SVD, per-component removal GCS, selection, factorized result.
 * `svd` may be passed in when already computed (e.g. the same weight for several settings).
 */
export function compressProjectionDrd(stats: LinearStats, options: DrdOptions, svd?: Svd): DrdResult {
  checkLinearStats('DRD projection', stats);
  const dec = svd ?? svdFull(stats.weight, stats.outFeatures, stats.inFeatures);
  const gcs = svdComponentRemovalGcs(dec, stats, options.lambda);
  const kept = selectDrdComponents(dec.s, gcs, options.attentionRankRatio, options.keepTopRankRatio);
  return { fullRank: dec.rank, kept, singularValues: dec.s, gcs, factorized: factorize(dec, kept) };
}

/**
 * Magnitude-SVD baseline for one projection (weight [out, in]): only the top `budget` components are needed, so
 * the randomized SVD is used (it falls back to the full SVD when budget + oversampling reaches the full rank).
 */
export function compressProjectionMagnitude(
  weight: Float64Array,
  outFeatures: number,
  inFeatures: number,
  attentionRankRatio: number,
  rng: Rng,
): { fullRank: number; kept: number[]; singularValues: Float64Array; factorized: FactorizedLinear } {
  const fullRank = Math.min(outFeatures, inFeatures);
  const { kept: budget } = rankBudget(fullRank, attentionRankRatio, 0);
  const dec = svdRandomized(weight, outFeatures, inFeatures, budget, rng);
  const kept = Array.from({ length: budget }, (_, i) => i);
  return { fullRank, kept, singularValues: dec.s, factorized: factorize(dec, kept) };
}
