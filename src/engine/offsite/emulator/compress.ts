/**
 * Per-layer compression decisions of the two rank/channel methods: GradOT (DRD on the attention projections, SCP on
 * the MLP, from the support statistics) and the magnitude baseline (top singular values, largest channels).
 * Matrices are [out, in] float64 (gcs.ts convention). GPT-2's fused c_attn is split into q, k, v (modules.ts).
 */
import type { ModelConfig } from '../../models/config';
import { GPT2_QKV_PARTS } from '../../models/emulatorLayout';
import type { Rng } from '../../util/random';
import { compressProjectionDrd, compressProjectionMagnitude, type FactorizedLinear } from '../drd';
import { channelRemovalGcs, type LinearStats } from '../gcs';
import { transpose } from '../../linalg/dense';
import { svdFull } from '../../linalg/svd';
import { selectChannelsByMagnitude, selectScpChannels } from '../scp';
import { layerModules } from '../stats/modules';

/** One attention map to compress: path relative to the layer, and weight (+ statistics for GradOT). */
export interface AttentionMap {
  readonly path: string;
  readonly stats: LinearStats;
}

export interface CompressedAttention {
  readonly path: string;
  readonly factorized: FactorizedLinear;
  readonly fullRank: number;
  readonly kept: number[];
  readonly singularValues: Float64Array;
  readonly gcs: Float64Array | null;
}

export interface CompressedMlp {
  readonly kept: number[];
  readonly fullChannels: number;
  readonly gcs: Float64Array | null;
}

/** Rows [from, from + count) of a [rows, cols] matrix. */
function rowBlock(m: Float64Array, cols: number, from: number, count: number): Float64Array {
  return m.slice(from * cols, (from + count) * cols);
}

/** The [count, count] diagonal block starting at `from` of a [n, n] matrix. */
function diagonalBlock(m: Float64Array, n: number, from: number, count: number): Float64Array {
  const out = new Float64Array(count * count);
  for (let i = 0; i < count; i++) out.set(m.subarray((from + i) * n + from, (from + i) * n + from + count), i * count);
  return out;
}

/**
 * Splits the statistics of GPT-2's fused c_attn (W [3H, H] as [out, in]) into its q, k, v maps: rows of W and g,
 * the same input factor A (shared input), and the diagonal blocks of G (each part's own output gradients).
 */
export function splitFusedQkv(st: LinearStats): AttentionMap[] {
  const H = st.outFeatures / 3;
  if (!Number.isInteger(H) || H !== st.inFeatures) throw new Error(`c_attn: expected [3H, H] as [out, in], got [${st.outFeatures}, ${st.inFeatures}]`);
  return GPT2_QKV_PARTS.map((path, p) => ({
    path,
    stats: {
      outFeatures: H, inFeatures: H,
      weight: rowBlock(st.weight, H, p * H, H),
      grad: rowBlock(st.grad, H, p * H, H),
      inputFactor: st.inputFactor,
      outputFactor: diagonalBlock(st.outputFactor, 3 * H, p * H, H),
    },
  }));
}

/** The attention maps of a layer from per-module statistics (relative path -> stats). */
export function attentionMaps(config: ModelConfig, byPath: (relative: string) => LinearStats): AttentionMap[] {
  return layerModules(config).attention.flatMap((rel) => (config.family === 'gpt2' && rel === 'attn.c_attn'
    ? splitFusedQkv(byPath(rel))
    : [{ path: rel, stats: byPath(rel) }]));
}

/** Statistics-free stand-in (weight only) for the magnitude baseline, [out, in]. */
export function weightOnly(weight: Float64Array, outFeatures: number, inFeatures: number): LinearStats {
  return { outFeatures, inFeatures, weight, grad: new Float64Array(0), inputFactor: new Float64Array(0), outputFactor: new Float64Array(0) };
}

/** A stored weight as [out, in]. */
export function asOutIn(stored: Float64Array, layout: 'out_in' | 'in_out', outFeatures: number, inFeatures: number): Float64Array {
  return layout === 'out_in' ? stored : transpose(stored, inFeatures, outFeatures);
}

export interface Timer {
  time<T>(phase: 'svd' | 'selection', f: () => T): T;
}

/** DRD of one attention map (GradOT). */
export function drdAttention(map: AttentionMap, o: { attentionRankRatio: number; keepTopRankRatio: number; lambda: number }, timer: Timer): CompressedAttention {
  const { stats } = map;
  const svd = timer.time('svd', () => svdFull(stats.weight, stats.outFeatures, stats.inFeatures));
  const r = timer.time('selection', () => compressProjectionDrd(stats, { attentionRankRatio: o.attentionRankRatio, keepTopRankRatio: o.keepTopRankRatio, lambda: o.lambda }, svd));
  return { path: map.path, factorized: r.factorized, fullRank: r.fullRank, kept: r.kept, singularValues: r.singularValues, gcs: r.gcs };
}

/** Magnitude SVD of one attention map (baseline): the top singular values, randomized SVD. */
export function magnitudeAttention(map: AttentionMap, ratio: number, rng: Rng, timer: Timer): CompressedAttention {
  const { stats } = map;
  const r = timer.time('svd', () => compressProjectionMagnitude(stats.weight, stats.outFeatures, stats.inFeatures, ratio, rng));
  return { path: map.path, factorized: r.factorized, fullRank: r.fullRank, kept: r.kept, singularValues: r.singularValues, gcs: null };
}

/** SCP channel selection (GradOT) from the up / gate / down statistics. */
export function scpMlp(mlp: { up: LinearStats; gate?: LinearStats; down: LinearStats }, ratio: number, lambda: number, timer: Timer): CompressedMlp {
  return timer.time('selection', () => {
    const gcs = channelRemovalGcs(mlp, lambda);
    return { kept: selectScpChannels(gcs, ratio), fullChannels: gcs.length, gcs };
  });
}

/** Magnitude channel pruning (baseline) from the weights ([out, in]: up/gate [inter, d], down [d, inter]). */
export function magnitudeMlp(w: { up: Float64Array; gate?: Float64Array; down: Float64Array }, modelWidth: number, intermediate: number, ratio: number, timer: Timer): CompressedMlp {
  return timer.time('selection', () => ({
    kept: selectChannelsByMagnitude({ modelWidth, intermediate, up: w.up, down: w.down, ...(w.gate !== undefined ? { gate: w.gate } : {}) }, ratio),
    fullChannels: intermediate,
    gcs: null,
  }));
}
