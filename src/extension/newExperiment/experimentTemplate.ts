// The configs written by "New Experiment": a device check, and LoRA, IST and offsite (GradOT) templates on the
// built-in lab model (builtin:demo) and its city-choice task in lab-data/ (which the command writes beside the
// config), so every template runs as is; the user swaps in their own model and data. Pure, so a unit test
// validates each against the schema.
import { BUILTIN_DEMO_MODEL, LAB_DATA_DIR } from '../../engine/lab/labExperiments';
import { ConfigSuffix } from '../ids';

/** Why `name` cannot be an experiment name, or undefined when it can (used as the input box's validation). */
export function validateExperimentName(name: string): string | undefined {
  const trimmed = name.trim();
  if (trimmed === '') return 'Enter a name.';
  if (trimmed.length > 100) return 'Use at most 100 characters.';
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(trimmed)) {
    return 'Use letters, digits, ".", "_" and "-" (starting with a letter or digit); the name becomes the file name.';
  }
  if (trimmed.endsWith('.')) return 'The name cannot end with ".".';
  return undefined;
}

/** `my-exp` -> `my-exp.peft.json` (a name already ending in .peft.json is kept). */
export function experimentFileName(name: string): string {
  const trimmed = name.trim();
  return trimmed.endsWith(ConfigSuffix) ? trimmed : `${trimmed}${ConfigSuffix}`;
}

/** The kinds of config "New Experiment" can write. */
export const EXPERIMENT_TEMPLATES = {
  'device-check': 'Device check: run a MatMul on the chosen device (runs as is)',
  lora: 'LoRA fine-tuning (tune) of the built-in lab model on its city-choice task; swap in your model and data',
  ist: 'IST: LoRA with importance-aware sparse layer selection (tune), on the built-in lab model',
  'ist-paper': "IST, as in the paper: the authors' harness (lr 2e-4, warmup 100, batch 16, cutoff 256, r 32 / alpha 64 on q,k,v,up,down, loss on inputs, 120 validation examples every 80 steps, best kept); swap in your LLaMA and commonsense_170k.json",
  offsite: 'Offsite-tuning with a GradOT emulator (offsite), on the built-in lab model',
} as const;
export type ExperimentTemplate = keyof typeof EXPERIMENT_TEMPLATES;

export function isExperimentTemplate(value: unknown): value is ExperimentTemplate {
  return typeof value === 'string' && Object.hasOwn(EXPERIMENT_TEMPLATES, value);
}

// Defaults that run as is: the built-in lab model and its task (LLM-Adapters JSON), paths relative to the config.
const MODEL_PLACEHOLDER = BUILTIN_DEMO_MODEL;
const DATA_PLACEHOLDER = {
  train: `${LAB_DATA_DIR}/city-choice/train.json`, eval: `${LAB_DATA_DIR}/city-choice/test.json`, format: 'llm-adapters', maxLength: 128, trainOnInputs: false, limit: { train: 0, eval: 200 },
};
const LORA_PLACEHOLDER = { method: 'lora', r: 8, alpha: 16, dropout: 0.05, targets: ['q_proj', 'k_proj', 'v_proj', 'up_proj', 'down_proj'] };
const TRAIN_PLACEHOLDER = { steps: 150, batchSize: 16, optimizer: 'adamw', lr: 2e-3, warmupSteps: 10, seed: 0, evalEvery: 50, evalAtStart: true };
const IST_PLACEHOLDER = { updateRatio: 0.25, suppressRatio: 0.5, interval: 10, rollouts: 3, scoreLr: 10, suppressionFactor: 0.25, scoreBatch: 16 };

// The IST authors' llama_7B_LoRA_IST.sh + finetune.py defaults (antgroup/importance-aware-sparse-tuning-IST-paper):
// batch 16 without accumulation, lr 2e-4 with 100 warmup steps and transformers' linear decay, AdamW without
// weight decay, cutoff 256, LoRA r 32 / alpha 64 (their README's example) with dropout 0.05, train_on_inputs,
// val_set_size 120 with eval and save every 80 steps and load_best_model_at_end. Their length is 3 epochs of
// commonsense_170k; on the lab task 600 steps.
const PAPER_DATA = { ...DATA_PLACEHOLDER, maxLength: 256, trainOnInputs: true };
const PAPER_LORA = { method: 'lora', r: 32, alpha: 64, dropout: 0.05, targets: ['q_proj', 'k_proj', 'v_proj', 'up_proj', 'down_proj'] };
const PAPER_TRAIN = {
  steps: 600, batchSize: 16, gradAccum: 1, optimizer: 'adamw', lr: 2e-4, weightDecay: 0, warmupSteps: 100, decay: 'linear', seed: 0,
  evalEvery: 80, checkpointEvery: 80, valExamples: 120, keepBest: true,
};

/** The config of a template, named `name` (the schema's main defaults spelled out, so the user sees the knobs). */
export function defaultExperimentConfig(name: string, template: ExperimentTemplate = 'device-check'): Record<string, unknown> {
  const trimmed = name.trim();
  const bare = trimmed.endsWith(ConfigSuffix) ? trimmed.slice(0, -ConfigSuffix.length) : trimmed;
  const runtime = { device: 'auto', threads: 0 };
  switch (template) {
    case 'device-check':
      return { name: bare, task: 'device-check', deviceCheck: { size: 512, repeats: 20 }, runtime };
    case 'lora':
      return { name: bare, task: 'tune', model: MODEL_PLACEHOLDER, data: DATA_PLACEHOLDER, peft: LORA_PLACEHOLDER, train: TRAIN_PLACEHOLDER, runtime };
    case 'ist':
      return {
        name: bare, task: 'tune', model: MODEL_PLACEHOLDER, data: DATA_PLACEHOLDER, peft: LORA_PLACEHOLDER, train: TRAIN_PLACEHOLDER,
        layerSelection: 'ist', ist: IST_PLACEHOLDER, runtime,
      };
    case 'ist-paper':
      return { name: bare, task: 'tune', model: MODEL_PLACEHOLDER, data: PAPER_DATA, peft: PAPER_LORA, train: PAPER_TRAIN, layerSelection: 'ist', ist: IST_PLACEHOLDER, runtime };
    case 'offsite':
      return {
        name: bare, task: 'offsite', model: MODEL_PLACEHOLDER, data: DATA_PLACEHOLDER, peft: { method: 'lora', r: 8, alpha: 16, dropout: 0.05 },
        train: TRAIN_PLACEHOLDER,
        offsite: {
          adapterLayers: [2, 2], adapterPeft: 'lora', fullFinetune: false,
          emulator: { method: 'gradot', attentionRankRatio: 0.5, mlpChannelRatio: 0.5, keepTopRankRatio: 0.05, lambdaAttention: 1, lambdaMlp: 1, supportExamples: 64 },
        },
        runtime,
      };
  }
}

export function renderExperimentConfig(name: string, template: ExperimentTemplate = 'device-check'): string {
  return `${JSON.stringify(defaultExperimentConfig(name, template), null, 2)}\n`;
}
