// The `tune` task: PEFT fine-tuning (LoRA, DoRA or bottleneck adapters, peft.method) of a causal LM from a *.peft.json, with
// evaluation, validation and best checkpoint, checkpoints (resume from the run folder's latest checkpoint), and the
// adapter written in Hugging Face PEFT format to `<runDir>/adapter/`. Its setup is tuneSetup.ts.
import * as path from 'node:path';
import type { MetricRecord, RunSummary } from '../../protocol/runFiles';
import type { TuneConfig } from '../config/types';
import { perplexity } from '../eval';
import { loadAdapterFolderInto, saveAdapterFolder } from '../peft/adapterFolder';
import { layerBudget, LayerSelector } from '../ist';
import { RUN_FILES } from '../runs/layout';
import { readBestAdapter, saveBestAdapter } from '../train/bestAdapter';
import { findCheckpoint, restoreCheckpoint, saveCheckpoint, type CheckpointInfo } from '../train/checkpoint';
import { createOptimizer } from '../train/optimizer';
import { NonFiniteTrainingError, Trainer, type StepRecord } from '../train/trainer';
import { TaskError, type RunContext } from './context';
import { dropMetricRecords, recordedStepLoss } from './runRecord';
import { ADAPTER_DIR, describeAdapter, evaluateSetup, longest, setupTune } from './tuneSetup';

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
