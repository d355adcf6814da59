// The validated experiment config, typed by hand to match src/config/peft-config.schema.json (after ajv has
// filled every default). Only produced by validateConfigText/loadExperimentConfig, i.e. from validated data.
import type { DeviceName } from '../../protocol/runFiles';
import type { IstOptions } from '../ist/importance';

export type DeviceRequest = DeviceName;

export interface RuntimeSettings {
  device: DeviceRequest;
  /** Intra-op threads; 0 lets ONNX Runtime choose. */
  threads: number;
  /** tune: layer-granular execution (default) or one monolithic session per bucket (train/peftGraph.ts). */
  execution?: 'blocks' | 'graph';
  /**
   * tune, execution 'blocks': recompute activations before the backward (activation checkpointing): true every
   * layer's, 'pass-through' only those of layers the backward passes through without wanting their gradients.
   */
  recompute?: boolean | 'pass-through';
}

interface ConfigBase {
  $schema?: string;
  name: string;
  runtime: RuntimeSettings;
}

export interface DeviceCheckSettings {
  /** N of the N x N float32 MatMul. */
  size: number;
  repeats: number;
}

export interface DeviceCheckConfig extends ConfigBase {
  task: 'device-check';
  deviceCheck: DeviceCheckSettings;
}

export interface TuneData {
  /** Absolute after loading. */
  train: string;
  /** Absolute after loading. */
  eval?: string;
  format: 'llm-adapters' | 'jsonl' | 'text' | 'tokens';
  maxLength: number;
  /** llm-adapters: loss on the prompt too (the authors' train_on_inputs=True). */
  trainOnInputs: boolean;
  limit: { train: number; eval: number };
}

/**
 * `peft` with method lora (src/engine/peft/lora.ts) or dora (src/engine/peft/dora.ts: the same keys, plus a
 * trained magnitude per output feature). The bottleneck keys are absent.
 */
export interface TuneLoraPeft {
  method: 'lora' | 'dora';
  r: number;
  alpha: number;
  dropout: number;
  targets: string[];
  /** alpha / sqrt(r) scaling. */
  rsLora: boolean;
  /** Absolute after loading. */
  init?: string;
  placement?: never;
  bottleneckSize?: never;
  activation?: never;
  scaling?: never;
}

/** `peft` with method bottleneck: series or parallel bottleneck adapters (src/engine/peft/bottleneck.ts). */
export interface TuneBottleneckPeft {
  method: 'bottleneck';
  placement: 'series' | 'parallel';
  bottleneckSize: number;
  activation: 'tanh' | 'relu' | 'silu';
  scaling: number;
  dropout: number;
  targets: string[];
  /** Absolute after loading. */
  init?: string;
  r?: never;
  alpha?: never;
  rsLora?: never;
}

/** The `peft` block: the schema fills the defaults of the chosen method only and rejects the others' keys. */
export type TunePeft = TuneLoraPeft | TuneBottleneckPeft;

export interface TuneTrain {
  steps: number;
  batchSize: number;
  gradAccum: number;
  optimizer: 'adamw' | 'sgd';
  lr: number;
  warmupSteps: number;
  decay: 'cosine' | 'linear' | 'constant';
  weightDecay: number;
  /** 0 = no clipping. */
  maxGradNorm: number;
  seed: number;
  evalEvery: number;
  checkpointEvery: number;
  evalBatchSize: number;
  /** > 0: also accuracy by generation of up to this many tokens + answer extraction (llm-adapters data). */
  evalGenerationTokens: number;
  /** Beams of that generation (1 = greedy; their commonsense_evaluate.py: 4). */
  evalBeams: number;
  /** Evaluate before the first step too (zero-shot). */
  evalAtStart: boolean;
  /** Training examples held out as a validation slice (0 = none). */
  valExamples: number;
  /** With a validation slice: write the adapter of the lowest validation loss. */
  keepBest: boolean;
}

/** Which layers train each step (src/engine/ist/selection.ts). */
export type LayerSelection = 'uniform' | 'ist' | 'random' | 'lisa';

/** The `ist` block: IST's settings (defaults of the authors' code, IST_DEFAULTS in src/engine/ist). */
export interface TuneIst extends IstOptions {
  /** Deprecated, no effect (layer-granular execution stops every backward at the lowest selected layer). */
  backwardSessions: number;
}

/** PEFT fine-tuning, LoRA, DoRA or bottleneck adapters (src/engine/tasks/tune.ts). */
export interface TuneConfig extends ConfigBase {
  task: 'tune';
  /** A model folder (absolute after loading, when it exists relative to the config) or a hub id. */
  model: string;
  data: TuneData;
  peft: TunePeft;
  train: TuneTrain;
  layerSelection: LayerSelection;
  ist: TuneIst;
}

/** The `offsite.emulator` block: how the model owner builds the emulator (src/engine/offsite/emulator). */
/** `offsite.emulator.distill`: method ot's distillation of the kept middle layers (offsite/emulator/distill.ts). */
export interface OffsiteDistillSettings {
  steps: number;
  lr: number;
  batchSize: number;
  lmWeight: number;
  kdWeight: number;
  warmupSteps: number;
  weightDecay: number;
  maxGradNorm: number;
}

export interface OffsiteEmulatorSettings {
  method: 'gradot' | 'uniform-drop' | 'svd' | 'crash' | 'ot';
  attentionRankRatio: number;
  mlpChannelRatio: number;
  keepTopRankRatio: number;
  lambdaAttention: number;
  lambdaMlp: number;
  /** Absolute after loading; default data.train. Same format as data.format. */
  supportData?: string;
  supportExamples: number;
  keepLayers: number;
  distill: OffsiteDistillSettings;
}

/** The `offsite` block (issue 7). */
export interface OffsiteSettings {
  /** [bottom, top]: the first and last decoder layers that are tuned (the adapter). */
  adapterLayers: [number, number];
  adapterPeft: 'full' | 'lora';
  emulator: OffsiteEmulatorSettings;
  /** Also tune the adapter layers on the full model (the upper bound). */
  fullFinetune: boolean;
  /** Held-out (data.eval) examples the gradient diagnostics average over. */
  diagnosticExamples: number;
}

/** Offsite-tuning (src/engine/tasks/offsite.ts): emulator, tuning on it, plug-in, evaluations, diagnostics. */
export interface OffsiteConfig extends ConfigBase {
  task: 'offsite';
  model: string;
  data: TuneData;
  peft: TunePeft;
  train: TuneTrain;
  offsite: OffsiteSettings;
}

export type ExperimentConfig = DeviceCheckConfig | TuneConfig | OffsiteConfig;
export type TaskName = ExperimentConfig['task'];
