import type { FloatType } from '../../models/causalLm';
import type { RuntimeSessionOptions } from '../../runtime';
import type { StepRecord } from '../../train/trainer';
import type { DistillLosses, DistillSettings } from './distill';

export const EMULATOR_METHODS = ['gradot', 'svd', 'uniform-drop', 'crash', 'ot'] as const;
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
  /** Middle layers kept (uniform-drop, ot) or clusters (crash). Required for those methods. */
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
  /** ot: the distillation run (defaults DISTILL_DEFAULTS). */
  readonly distill?: Partial<DistillSettings>;
  /** ot: called after every distillation step. */
  readonly onDistillStep?: (record: StepRecord, steps: number) => void;
  /** Throws to stop (cancellation); checked between distillation steps. */
  readonly throwIfCancelled?: () => void;
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
  /** ot: the distillation objective on the support data before / after (when evaluateLoss), and the run. */
  readonly distillation?: DistillDiagnostics;
}

export interface DistillDiagnostics {
  readonly steps: number;
  readonly seconds: number;
  readonly before?: DistillLosses;
  readonly after?: DistillLosses;
}

/** `distill`: OT's distillation steps (its compression time, with selection and write). */
export type EmulatorPhase = 'stats' | 'svd' | 'selection' | 'write' | 'distill' | 'evaluate';

export interface EmulatorResult {
  readonly dir: string;
  readonly diagnostics: EmulatorDiagnostics;
  /** Seconds per phase (wall clock). */
  readonly timings: Readonly<Record<EmulatorPhase, number>>;
  /** Tensor elements in the emulator checkpoint / in the original model. */
  readonly parameterCount: number;
  readonly fullParameterCount: number;
}
