// The validated experiment config, typed by hand to match src/config/peft-config.schema.json (after ajv has
// filled every default). Only produced by validateConfigText/loadExperimentConfig, i.e. from validated data.

export type DeviceRequest = 'auto' | 'cpu' | 'cuda' | 'webgpu';

export interface RuntimeSettings {
  device: DeviceRequest;
  /** Intra-op threads; 0 lets ONNX Runtime choose. */
  threads: number;
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
  limit: { train: number; eval: number };
}

export interface TunePeft {
  method: 'lora';
  r: number;
  alpha: number;
  dropout: number;
  targets: string[];
  /** alpha / sqrt(r) scaling. */
  rsLora: boolean;
  /** Absolute after loading. */
  init?: string;
}

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
}

/** Which layers train each step (src/engine/ist/selection.ts). */
export type LayerSelection = 'uniform' | 'ist' | 'random' | 'lisa';

/** The `ist` block: IST's settings (defaults of the authors' code, IST_DEFAULTS in src/engine/ist). */
export interface TuneIst {
  updateRatio: number;
  suppressRatio: number;
  interval: number;
  rollouts: number;
  scoreLr: number;
  suppressionFactor: number;
  scoreBatch: number;
  /** Train sessions per shape bucket for the truncated backward pass (LayerSelector's backwardSessions). */
  backwardSessions: number;
}

/** LoRA fine-tuning (src/engine/tasks/tune.ts). */
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

export type ExperimentConfig = DeviceCheckConfig | TuneConfig;
export type TaskName = ExperimentConfig['task'];
