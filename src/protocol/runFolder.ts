// The run folder's layout: every file and folder name a job writes and the CLI, the host, the panels and resume
// read, declared once. The records inside the files are the schemas of runFiles.ts, resumeFiles.ts and
// diagnostics.ts.

/** Directly in `<runDir>/`. */
export const RUN_FILES = {
  config: 'config.json',
  metrics: 'metrics.jsonl',
  summary: 'summary.json',
  log: 'log.txt',
  lock: 'run.lock',
  heartbeat: 'heartbeat.json',
  /** The trained adapter (Hugging Face PEFT layout, ADAPTER_FILES). */
  adapter: 'adapter',
  /** The adapter of the step with the lowest validation loss (train.keepBest), with best.json. */
  bestAdapter: 'best-adapter',
  /** Tune checkpoints (CHECKPOINT_FILES). */
  checkpoints: 'checkpoints',
  /** Offsite runs: the compressed model, the gradient and rank diagnostics, the resumable step results. */
  emulator: 'emulator',
  diagnostics: 'diagnostics.json',
  offsiteState: 'offsite-state.json',
  /** Offsite runs: the adapter values tuned on the emulator, by full-model module path (resume). */
  offsiteAdapterValues: 'offsite-adapter.safetensors',
} as const;

/** In `<runDir>/checkpoints/`: latest.json names the current `step-NNNNNN/`, which holds state and optimizer. */
export const CHECKPOINT_FILES = { latest: 'latest.json', state: 'state.json', optimizer: 'optimizer.safetensors' } as const;

/** In an adapter folder: Hugging Face PEFT's names. */
export const ADAPTER_FILES = { config: 'adapter_config.json', weights: 'adapter_model.safetensors' } as const;

/** In `<runDir>/best-adapter/` beside the adapter files. */
export const BEST_ADAPTER_RECORD = 'best.json';
