import type { FloatType } from '../../models/causalLm';
import type { RuntimeSessionOptions } from '../../runtime';

export const EMULATOR_METHODS = ['gradot', 'svd', 'uniform-drop', 'crash'] as const;
export type EmulatorMethod = (typeof EMULATOR_METHODS)[number];

/** Issue 7's `offsite.emulator` block (defaults as in the issue) plus run settings. */
export interface EmulatorOptions {
  readonly method: EmulatorMethod;
  /** Adapter layers [bottom, top]: kept unchanged; the layers between them are compressed. */
  readonly adapterLayers: readonly [number, number];
  /** Kept rank / full rank of each attention projection (gradot, svd). Default 0.5. */
  readonly attentionRankRatio?: number;
  /** Kept / total MLP intermediate channels (gradot, svd). Default 0.5. */
  readonly mlpChannelRatio?: number;
  /** Top fraction of the rank (by singular value) DRD always keeps. Default 0.05. */
  readonly keepTopRankRatio?: number;
  readonly lambdaAttention?: number;
  readonly lambdaMlp?: number;
  /** Middle layers kept (uniform-drop) or clusters (crash). Required for those methods. */
  readonly keepLayers?: number;
  /** Randomized SVD seed (svd). Default 0. */
  readonly seed?: number;
  /** Compute type of the support passes (default float32). */
  readonly dtype?: FloatType;
  readonly session?: RuntimeSessionOptions;
  /** Real tokens used for CRaSh's layer similarity (linear CKA is O(tokens^2)). Default 256. */
  readonly similarityTokens?: number;
  /** Evaluate the support loss of the full model and of the written emulator (default true). */
  readonly evaluateLoss?: boolean;
}

/** diagnostics.json `modules` entry (issue 7). MLP entries: channel indices in `kept`, channel GCS in `gcs`. */
export interface ModuleDiagnostics {
  readonly name: string;
  /** Original layer index. */
  readonly layer: number;
  readonly kind: 'attention' | 'mlp';
  readonly fullRank: number;
  readonly keptRank: number;
  /** Kept singular-component indices (descending singular value order), or kept channel indices (mlp). */
  readonly kept: readonly number[];
  /** Singular values of all components (attention; empty for mlp). */
  readonly singularValues: readonly number[];
  /** GCS of removing each candidate (gradot), null when the method does not score candidates. */
  readonly gcs: readonly number[] | null;
  readonly fullChannels?: number;
  readonly keptChannels?: number;
}

export interface EmulatorDiagnostics {
  readonly modules: readonly ModuleDiagnostics[];
  /** Mean next-token cross-entropy on the support data (absent when evaluateLoss is false). */
  readonly loss?: { readonly full: number; readonly emulator: number };
}

export type EmulatorPhase = 'stats' | 'svd' | 'selection' | 'write' | 'evaluate';

export interface EmulatorResult {
  readonly dir: string;
  readonly diagnostics: EmulatorDiagnostics;
  /** Seconds per phase (wall clock). */
  readonly timings: Readonly<Record<EmulatorPhase, number>>;
  /** Tensor elements in the emulator checkpoint / in the original model. */
  readonly parameterCount: number;
  readonly fullParameterCount: number;
}
