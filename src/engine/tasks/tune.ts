// The `tune` task: PEFT fine-tuning (LoRA, DoRA or bottleneck adapters, peft.method) of a causal LM from a *.peft.json, with evaluation, checkpoints (resume
// from the run folder's latest checkpoint), and the adapter written in Hugging Face PEFT format to
// `<runDir>/adapter/`. Also the shared setup of `peft-lab eval`.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { MetricRecord, RunSummary } from '../../protocol/runFiles';
import type { TuneConfig } from '../config/types';
import { derivedRng, RNG_TAGS } from '../data/batches';
import { readChoiceItems, readExamples, targetTokenCount, type ChoiceItem, type TokenExample } from '../data/examples';
import { splitValidation } from '../data/validationSplit';
import { generationAccuracy, multipleChoiceAccuracy, perplexity } from '../eval';
import { loadModel, type LoadedModel } from '../models/model';
import { ModelTokenizer } from '../models/tokenizer';
import { loadAdapterFolderInto, saveAdapterFolder, type PeftAdapter } from '../peft/adapterFolder';
import { BottleneckAdapter } from '../peft/bottleneck';
import { DoraAdapter, modelWeightReader } from '../peft/dora';
import { layerBudget, LayerSelector } from '../ist';
import { LoraAdapter } from '../peft/lora';
import { writeFileAtomic } from '../runs/atomic';
import { RUN_FILES } from '../runs/layout';
import { readBestAdapter, saveBestAdapter } from '../train/bestAdapter';
import { findCheckpoint, restoreCheckpoint, saveCheckpoint, type CheckpointInfo } from '../train/checkpoint';
import { PeftSessionRunner } from '../train/peftGraph';
import type { PeftRunner } from '../train/runner';
import { createOptimizer } from '../train/optimizer';
import { NonFiniteTrainingError, Trainer, type StepRecord } from '../train/trainer';
import { maxBy } from '../util/arrays';
import { TaskError, type RunContext, type TaskContext } from './context';
import { recordedStepLoss } from './runRecord';

export const ADAPTER_DIR = RUN_FILES.adapter;

/** Everything a tune or eval job sets up from the config. Close with `dispose()`. */
export interface TuneSetup {
  readonly model: LoadedModel;
  readonly tokenizer: ModelTokenizer | undefined;
  /** LoraAdapter, DoraAdapter or BottleneckAdapter, as peft.method says. */
  readonly adapter: PeftAdapter;
  readonly runner: PeftSessionRunner<PeftAdapter>;
  readonly train: readonly TokenExample[];
  readonly trainSeq: number;
  readonly evalExamples: readonly TokenExample[] | undefined;
  readonly evalSeq: number;
  /** train.valExamples drawn from the training file (not in `train`); empty without them. */
  readonly validation: readonly TokenExample[];
  readonly choices: readonly ChoiceItem[] | undefined;
  readonly padId: number;
  dispose(): Promise<void>;
}

/**
 * The adapter of the config's peft block; its modules are created when the first graph is built (seeded init;
 * DoRA's magnitudes start at the norms of `model`'s weights).
 */
export function createAdapter(peft: TuneConfig['peft'], seed: number, model: LoadedModel): PeftAdapter {
  const rng = derivedRng(seed, RNG_TAGS.init);
  if (peft.method === 'bottleneck') {
    const { placement, bottleneckSize, activation, scaling, dropout, targets } = peft;
    return new BottleneckAdapter({ placement, bottleneckSize, activation, scaling, dropout, targets }, rng);
  }
  const spec = { r: peft.r, alpha: peft.alpha, dropout: peft.dropout, targets: peft.targets, rsLora: peft.rsLora };
  return peft.method === 'dora' ? new DoraAdapter(spec, rng, modelWeightReader(model)) : new LoraAdapter(spec, rng);
}

function describeAdapter(peft: TuneConfig['peft']): string {
  return peft.method === 'bottleneck'
    ? `${peft.placement} bottleneck adapters (size ${peft.bottleneckSize}, ${peft.activation}, scaling ${peft.scaling})`
    : `${peft.method === 'dora' ? 'DoRA' : 'LoRA'} r=${peft.r} alpha=${peft.alpha}`;
}

// A loop, not Math.max(...): a spread of ~125k examples overflows the call stack.
const longest = (examples: readonly TokenExample[]): number => maxBy(examples, (e) => e.ids.length);

/**
 * maxLength must fit the model's position table: past it ONNX Runtime fails deep in a Gather of the position
 * embeddings (GPT-2, OPT) or RoPE goes beyond the trained range (LLaMA family), neither naming the config key.
 */
export function assertMaxLengthFits(model: LoadedModel, maxLength: number): void {
  const limit = model.config.maxPositions;
  if (maxLength <= limit) return;
  const key = model.config.family === 'gpt2' ? 'n_positions' : 'max_position_embeddings';
  throw new TaskError(`maxLength ${maxLength} is more than the model's ${limit} positions (${key} in ${path.join(model.dir, 'config.json')}); use at most ${limit}`, '$.data.maxLength');
}

/** A config's data block read for a model: token examples (ids checked against the vocabulary), choices, padding id. */
export interface TaskData {
  readonly tokenizer: ModelTokenizer | undefined;
  readonly train: TokenExample[];
  readonly evalExamples: TokenExample[] | undefined;
  /** Multiple-choice items of an llm-adapters eval set (undefined when it has none). */
  readonly choices: ChoiceItem[] | undefined;
  readonly padId: number;
  /** Reads another file of the data block's format (e.g. offsite support data); `where` is the JSON path for errors. */
  read(file: string, limit: number, where?: string): TokenExample[];
}

/** Loads the tokenizer (when the format needs it) and the data block's files for `model`. */
export function loadTaskData(model: LoadedModel, d: TuneConfig['data'], ctx: Pick<TaskContext, 'log'>): TaskData {
  assertMaxLengthFits(model, d.maxLength);
  const evalIsInstructions = d.eval !== undefined && d.format === 'llm-adapters';
  const needsTokenizer = d.format !== 'tokens' || evalIsInstructions;
  const tokenizer = needsTokenizer ? ModelTokenizer.load(model.dir, model.config.vocabSize) : undefined;
  const read = (file: string, limit: number, where = '$.data'): TokenExample[] => {
    const examples = readExamples(file, d.format, { maxLength: d.maxLength, limit, trainOnInputs: d.trainOnInputs }, tokenizer);
    let noTargets = 0;
    examples.forEach((e, i) => {
      const bad = e.ids.findIndex((id) => id >= model.config.vocabSize);
      if (bad >= 0) throw new TaskError(`${file}: example ${i}, token ${bad} is id ${e.ids[bad]}, not below the model's vocab_size ${model.config.vocabSize}`, where);
      // With the loss on inputs an example keeps targets when its answer is gone; count lost answers either way.
      const answerLost = e.promptLength === undefined ? targetTokenCount(e) === 0 : e.ids.length <= e.promptLength;
      if (answerLost) noTargets += 1;
    });
    // A prompt of maxLength tokens or more leaves its answer no target token: such examples add nothing to the
    // loss, and a set made only of them would "train" with loss 0 and gradient 0 and still complete.
    if (noTargets === examples.length) {
      throw new TaskError(`${file}: all ${examples.length} examples have their answer cut off entirely by maxLength ${d.maxLength}, so nothing is left to train on or score; raise maxLength`, '$.data.maxLength');
    }
    if (noTargets > 0) {
      ctx.log('warn', `${file}: ${noTargets} of ${examples.length} examples have their answer cut off entirely by maxLength ${d.maxLength} (they add no loss; raise $.data.maxLength to keep them)`);
    }
    return examples;
  };
  const train = read(d.train, d.limit.train);
  const evalExamples = d.eval === undefined ? undefined : read(d.eval, d.limit.eval);
  let choices: ChoiceItem[] | undefined;
  if (d.eval !== undefined && evalIsInstructions) {
    try {
      choices = readChoiceItems(d.eval, d.limit.eval);
    } catch (e) {
      ctx.log('warn', `no multiple-choice accuracy: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  return { tokenizer, train, evalExamples, choices, padId: tokenizer?.padTokenId ?? tokenizer?.eosTokenId ?? 0, read };
}

/** Loads model, tokenizer, data and the adapter (peft.init, or an explicit adapter folder), and builds the graphs. */
export async function setupTune(config: TuneConfig, ctx: Pick<TaskContext, 'log'>, options: { adapterDir?: string } = {}): Promise<TuneSetup> {
  let model: LoadedModel;
  try {
    model = loadModel(config.model);
  } catch (e) {
    throw new TaskError(e instanceof Error ? e.message : String(e), '$.model');
  }
  let runner: PeftSessionRunner<PeftAdapter> | undefined;
  try {
    const data = loadTaskData(model, config.data, ctx);
    const { tokenizer, evalExamples, choices, padId } = data;
    let split: { train: TokenExample[]; validation: TokenExample[] };
    try {
      split = splitValidation(data.train, config.train.valExamples, config.train.seed);
    } catch (e) {
      throw new TaskError(`${config.data.train}: ${e instanceof Error ? e.message : String(e)}`, '$.train.valExamples');
    }
    const { train, validation } = split;
    const adapter = createAdapter(config.peft, config.train.seed, model);
    runner = new PeftSessionRunner<PeftAdapter>(model, adapter, { device: config.runtime.device, threads: config.runtime.threads, execution: config.runtime.execution ?? 'blocks', recompute: config.runtime.recompute ?? false });
    const trainSeq = longest(train);
    // Creates the adapter's modules (LoRA: A Kaiming-uniform from the seed, B = 0; bottleneck: W_down
    // Kaiming-uniform, W_up and the biases 0) and the train sessions.
    await runner.prepare(config.train.batchSize, trainSeq);
    const init = options.adapterDir ?? config.peft.init;
    if (init !== undefined) {
      try {
        loadAdapterFolderInto(init, adapter);
      } catch (e) {
        throw new TaskError(e instanceof Error ? e.message : String(e), options.adapterDir !== undefined ? '--adapter' : '$.peft.init');
      }
      ctx.log('info', `adapter weights loaded from ${init}`);
    }
    const finalRunner = runner;
    return {
      model, tokenizer, adapter, runner, train, trainSeq, evalExamples, evalSeq: evalExamples === undefined ? 0 : longest(evalExamples), validation, choices, padId,
      dispose: async () => {
        await finalRunner.dispose();
        model.close();
      },
    };
  } catch (e) {
    await runner?.dispose();
    model.close();
    throw e;
  }
}

/** Evaluation metrics of the current adapter: eval-set loss/perplexity and, where parsed, choice accuracy. */
export async function evaluateSetup(
  setup: Pick<TuneSetup, 'evalExamples' | 'evalSeq' | 'choices' | 'tokenizer' | 'padId'> & { readonly runner: PeftRunner },
  config: Pick<TuneConfig, 'train' | 'data'>,
): Promise<Record<string, number>> {
  const metrics: Record<string, number> = {};
  const batchSize = config.train.evalBatchSize;
  if (setup.evalExamples !== undefined) {
    const p = await perplexity(setup.runner, setup.evalExamples, setup.evalSeq, setup.padId, batchSize);
    Object.assign(metrics, { evalLoss: p.loss, evalPerplexity: p.perplexity, evalTokens: p.tokens });
  }
  if (setup.choices !== undefined && setup.tokenizer !== undefined) {
    const a = await multipleChoiceAccuracy(setup.runner, setup.choices, setup.tokenizer, { maxLength: config.data.maxLength, padId: setup.padId, batchSize });
    Object.assign(metrics, { evalAccuracy: a.accuracy, evalCorrect: a.correct, evalTotal: a.total });
    if (config.train.evalGenerationTokens > 0) {
      const gen = await generationAccuracy(setup.runner, setup.choices, setup.tokenizer, {
        maxNewTokens: config.train.evalGenerationTokens, numBeams: config.train.evalBeams, batchSize, maxLength: config.data.maxLength,
      });
      Object.assign(metrics, { evalGenerationAccuracy: gen.accuracy, evalGenerationCorrect: gen.correct });
    }
  }
  return metrics;
}

/** The settings a checkpoint must share with the config that resumes it. */
export function tuneFingerprint(config: TuneConfig): string {
  const { evalEvery: _e, checkpointEvery: _c, evalBatchSize: _b, evalGenerationTokens: _g, evalBeams: _n, evalAtStart: _z, keepBest: _k, valExamples, ...rest } = config.train;
  // valExamples changes the training set; left out at 0 so checkpoints from before the option still resume.
  const train = valExamples > 0 ? { ...rest, valExamples } : rest;
  return JSON.stringify({ model: config.model, data: config.data, peft: config.peft, train, layerSelection: config.layerSelection, ist: config.ist });
}

/**
 * The run folder's latest checkpoint when there is one, checked readable and written with this config's settings;
 * throws a TaskError at `resume` otherwise. The worker calls it before it writes anything into the folder.
 */
export function resumableCheckpoint(config: TuneConfig, runDir: string): CheckpointInfo | undefined {
  let checkpoint: CheckpointInfo | undefined;
  try {
    checkpoint = findCheckpoint(runDir);
  } catch (e) {
    throw new TaskError(e instanceof Error ? e.message : String(e), 'resume');
  }
  if (checkpoint !== undefined && checkpoint.state.fingerprint !== tuneFingerprint(config)) {
    throw new TaskError(`${checkpoint.dir}: this checkpoint was written with other model/data/peft/train settings; resume it with the config it was started with`, 'resume');
  }
  return checkpoint;
}

/** Keeps metrics.jsonl lines before the resumed step (a crash may have left step records past the checkpoint). */
function truncateMetricsForResume(runDir: string, fromStep: number): void {
  dropMetricRecords(runDir, (record) => typeof record.step === 'number' && record.step >= fromStep);
}

/** Rewrites metrics.jsonl without the records `drop` selects (and without a torn last line). */
export function dropMetricRecords(runDir: string, drop: (record: Record<string, unknown>) => boolean): void {
  const file = path.join(runDir, RUN_FILES.metrics);
  if (!fs.existsSync(file)) return;
  const kept = fs.readFileSync(file, 'utf8').split('\n').filter((line) => {
    if (line.trim().length === 0) return false;
    try {
      const record: unknown = JSON.parse(line);
      return typeof record === 'object' && record !== null && !drop(record as Record<string, unknown>);
    } catch {
      return false; // a torn last line
    }
  });
  writeFileAtomic(file, kept.map((l) => `${l}\n`).join(''));
}

/** The schema default of the deprecated ist.backwardSessions (kept in the resume fingerprint). */
const BACKWARD_SESSIONS_DEFAULT = 2;

export async function runTune(config: TuneConfig, ctx: RunContext): Promise<Partial<RunSummary>> {
  ctx.progress(0, `loading ${config.model}`);
  const setup = await setupTune(config, ctx);
  try {
    const { adapter, runner, model } = setup;
    const t = config.train;
    const info = { baseModel: config.model, modelFamily: model.config.family };
    const optimizer = createOptimizer(t.optimizer, t.weightDecay);
    const selector = new LayerSelector(config.layerSelection, runner.layerCount, config.ist, t.seed);
    if (config.ist.backwardSessions !== BACKWARD_SESSIONS_DEFAULT) {
      ctx.log('warn', 'ist.backwardSessions is deprecated and has no effect: the backward pass stops exactly at the lowest selected layer, with the frozen weights held once');
    }
    const fingerprint = tuneFingerprint(config);
    let start = { completedSteps: 0, consumed: 0 };
    const checkpoint = resumableCheckpoint(config, ctx.runDir);
    if (checkpoint !== undefined) {
      restoreCheckpoint(checkpoint, adapter, optimizer);
      if (checkpoint.state.istScores !== undefined) selector.restoreScores(checkpoint.state.istScores);
      start = { completedSteps: checkpoint.state.step, consumed: checkpoint.state.consumed };
      truncateMetricsForResume(ctx.runDir, start.completedSteps);
      ctx.log('info', `resuming from ${checkpoint.dir} (step ${start.completedSteps} of ${t.steps})`);
    }
    ctx.log('info', `${describeAdapter(config.peft)} on ${adapter.modules.size} projections (${adapter.parameterCount()} trainable values); ` +
      `${setup.train.length} training examples${setup.validation.length > 0 ? ` (+ ${setup.validation.length} held out for validation)` : ''}, sequence length ${setup.trainSeq}`);
    const trainer = new Trainer(runner, optimizer, setup.train, setup.trainSeq, setup.padId, {
      steps: t.steps, batchSize: t.batchSize, gradAccum: t.gradAccum, lr: t.lr, warmupSteps: t.warmupSteps, decay: t.decay,
      maxGradNorm: t.maxGradNorm, seed: t.seed, evalEvery: t.evalEvery, checkpointEvery: t.checkpointEvery,
    }, start, selector);
    if (config.layerSelection !== 'uniform') {
      ctx.log('info', `layer selection ${config.layerSelection}: ${layerBudget(config.ist.updateRatio, runner.layerCount)} of ${runner.layerCount} layers per step`);
    }
    const writeCheckpoint = (completedSteps: number, consumed: number): string =>
      saveCheckpoint(ctx.runDir, {
        step: completedSteps, consumed, seed: t.seed, rng: 'derived from seed, step and micro-batch', optimizer: t.optimizer, fingerprint,
        ...(config.layerSelection === 'ist' ? { istScores: selector.scores } : {}),
      }, adapter, optimizer, info);
    const unregister = ctx.onCancel(() => {
      const p = trainer.progress();
      const dir = writeCheckpoint(p.completedSteps, p.consumed);
      ctx.log('warn', `cancelled after step ${p.completedSteps - 1}: checkpoint ${dir} (resume with peft-lab run <config> --resume ${ctx.runDir})`);
    });
    // The validation slice's loss at each evaluation; with keepBest the lowest one's adapter is kept.
    const keepBest = t.keepBest && setup.validation.length > 0;
    let best = keepBest && start.completedSteps > 0 ? readBestAdapter(ctx.runDir, start.completedSteps)?.record : undefined;
    const validate = async (step: number): Promise<Record<string, number>> => {
      if (setup.validation.length === 0) return {};
      const valLoss = (await perplexity(runner, setup.validation, longest(setup.validation), setup.padId, t.evalBatchSize)).loss;
      if (keepBest && step >= 0 && Number.isFinite(valLoss) && (best === undefined || valLoss < best.valLoss)) {
        best = { step, valLoss };
        saveBestAdapter(ctx.runDir, adapter, info, best);
      }
      return { valLoss };
    };
    const evalRecord = async (step: number): Promise<Record<string, number>> => {
      const metrics = { ...(await evaluateSetup(setup, config)), ...(await validate(step)) };
      if (Object.keys(metrics).length > 0) ctx.emitMetric({ type: 'eval', step, ...metrics } satisfies MetricRecord);
      return metrics;
    };
    let zeroShot: Record<string, number> = {};
    if (t.evalAtStart && start.completedSteps === 0) {
      ctx.progress(0, 'zero-shot evaluation');
      zeroShot = await evalRecord(-1);
    }
    const steps: StepRecord[] = [];
    try {
      await trainer.run({
        onStep: (r) => {
          steps.push(r);
          ctx.emitMetric({ ...r });
          ctx.progress(r.step / t.steps, `step ${r.step + 1}/${t.steps} loss ${r.loss.toFixed(4)} lr ${r.lr.toExponential(2)}`);
        },
        onImportance: (r) => ctx.emitMetric({ ...r }),
        evaluate: async (step) => void (await evalRecord(step)),
        checkpoint: (n, consumed) => void writeCheckpoint(n, consumed),
        throwIfCancelled: () => ctx.throwIfCancelled(),
      });
    } catch (e) {
      if (e instanceof NonFiniteTrainingError) {
        throw new TaskError(`${e.message}; the last good checkpoint (after ${e.step} completed steps) is in ${path.join(ctx.runDir, RUN_FILES.checkpoints)}`, `train step ${e.step}`);
      }
      throw e;
    } finally {
      unregister();
    }
    const done = trainer.progress();
    writeCheckpoint(done.completedSteps, done.consumed);
    ctx.progress(1, 'evaluating');
    const finalValidation = await validate(t.steps - 1);
    const bestDir = readBestAdapter(ctx.runDir, t.steps)?.dir;
    if (keepBest && best !== undefined && best.step !== t.steps - 1 && bestDir !== undefined) {
      loadAdapterFolderInto(bestDir, adapter);
      ctx.log('info', `keepBest: the adapter written is step ${best.step}'s (validation loss ${best.valLoss.toFixed(4)}; the last step's was ${finalValidation.valLoss?.toFixed(4) ?? '?'})`);
    }
    const adapterDir = path.join(ctx.runDir, ADAPTER_DIR);
    saveAdapterFolder(adapterDir, adapter, info);
    ctx.artifact(adapterDir, 'adapter');
    // The eval set is scored on the adapter written (the best one with keepBest).
    const evalMetrics = { ...(await evaluateSetup(setup, config)), ...finalValidation, ...(keepBest && best !== undefined ? { bestStep: best.step, bestValLoss: best.valLoss } : {}) };
    if (Object.keys(evalMetrics).length > 0) ctx.emitMetric({ type: 'eval', step: t.steps - 1, ...evalMetrics } satisfies MetricRecord);
    const first = steps[0];
    const last = steps[steps.length - 1];
    // A resumed run's first loss is step 0's, from the part before the resume (kept in metrics.jsonl).
    const firstLoss = start.completedSteps > 0 ? (recordedStepLoss(ctx.runDir, 0) ?? first?.loss) : first?.loss;
    const msPerStep = steps.length > 0 ? steps.reduce((a, r) => a + r.ms, 0) / steps.length : 0;
    if (first !== undefined && last !== undefined) ctx.log('info', `training loss ${first.loss.toFixed(4)} (step ${first.step}) -> ${last.loss.toFixed(4)} (step ${last.step}), ${msPerStep.toFixed(1)} ms/step`);
    const provider = runner.provider;
    return {
      ...(provider === undefined ? {} : { device: { requested: provider.requested, used: provider.used, ...(provider.fallbackReason === undefined ? {} : { fallbackReason: provider.fallbackReason }) } }),
      metrics: {
        steps: t.steps,
        ...(start.completedSteps > 0 ? { resumedFromStep: start.completedSteps } : {}),
        ...(firstLoss === undefined ? {} : { firstLoss }),
        ...(last === undefined ? {} : { finalLoss: last.loss }),
        msPerStep,
        trainableParams: adapter.parameterCount(),
        optimizerStateBytes: optimizer.stateBytes(),
        ...evalMetrics,
        ...Object.fromEntries(Object.entries(zeroShot).map(([k, v]) => [`zeroShot${k.charAt(0).toUpperCase()}${k.slice(1)}`, v])),
      },
      adapter: adapterDir,
      memory: {
        trainableParameters: adapter.parameterCount(),
        optimizerStateBytes: optimizer.stateBytes(),
        // ru_maxrss is in kilobytes on Linux.
        peakRssBytes: process.resourceUsage().maxRSS * 1024,
      },
    };
  } finally {
    await setup.dispose();
  }
}
