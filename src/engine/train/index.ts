/**
 * LoRA training: graphs, optimizer, schedule, loop, checkpoints.
 *
 *   const runner = new LoraRunner(model, lora, { device: 'cpu', threads: 0 });
 *   await runner.session('train', batchSize, seq);               // builds the graph, creates lora's A/B
 *   const trainer = new Trainer(runner, createOptimizer('adamw', 0), examples, seq, padId, settings, start);
 *   await trainer.run({ onStep, evaluate, checkpoint, throwIfCancelled });
 *   saveCheckpoint(runDir, state, lora, optimizer, info);  restoreCheckpoint(findCheckpoint(runDir)!, lora, optimizer);
 *
 * The task that wires it to a config and a run folder is src/engine/tasks/tune.ts (runTune, setupTune).
 */
export { CHECKPOINTS_DIR, findCheckpoint, restoreCheckpoint, saveCheckpoint, type CheckpointInfo, type TrainState } from './checkpoint';
export { accumulate, clipGlobalNorm, globalNorm } from './gradients';
export {
  batchFeeds, buildLoraGraph, gradOutputName, LoraRunner, LOGPROB_OUTPUT, LOSS_OUTPUT, TARGETS_INPUT,
  type LoraGraphOptions, type ProviderInfo, type SessionSettings,
} from './loraGraph';
export { buildPeftGraph, PeftSessionRunner, type PeftGraphOptions } from './peftGraph';
export type { PeftRunner } from './runner';
export { AdamW, adamwUpdate, createOptimizer, Sgd, type AdamMoments, type AdamWOptions, type Optimizer } from './optimizer';
export { learningRateAt, type DecayKind, type Schedule } from './schedule';
export { NonFiniteGradientError, NonFiniteLossError, NonFiniteTrainingError, NonFiniteUpdateError, Trainer, type StepRecord, type TrainerCallbacks, type TrainerProgress, type TrainerSettings } from './trainer';
