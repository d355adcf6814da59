// The training loop: seeded batches, gradient accumulation (mean of the micro-batch losses and gradients, as
// transformers' Trainer does), global-norm clipping, a learning-rate schedule, the optimizer update, step
// records, periodic evaluation and checkpoints. A non-finite loss stops the run before any update with that step's
// gradients, keeping (and checkpointing) the last good state.
// With a LayerSelector (IST and its baselines) only the selected layers' LoRA parameters get gradients, clipping
// and optimizer updates; the train session differentiates the layers >= the lowest selected one (loraGraph.ts)
// (or the selector's coarser level, to bound the sessions), and IST's importance rounds run before the update of
// every interval-th step.
import { ExampleStream, RNG_TAGS, derivedRng, makeBatch, type TrainBatch } from '../data/batches';
import type { TokenExample } from '../data/examples';
import type { ImportanceRecord, LayerSelector } from '../ist/selector';
import { accumulate, clipGlobalNorm } from './gradients';
import type { PeftRunner } from './runner';
import type { Optimizer } from './optimizer';
import { learningRateAt, type DecayKind } from './schedule';

export interface TrainerSettings {
  readonly steps: number;
  readonly batchSize: number;
  readonly gradAccum: number;
  readonly lr: number;
  readonly warmupSteps: number;
  readonly decay: DecayKind;
  /** Global gradient-norm clip (0 = off). */
  readonly maxGradNorm: number;
  readonly seed: number;
  readonly evalEvery: number;
  /** Checkpoint every this many steps (0 = only at the end, on cancel and on failure). */
  readonly checkpointEvery: number;
}

export interface StepRecord {
  readonly type: 'step';
  readonly step: number;
  readonly loss: number;
  readonly lr: number;
  readonly gradNorm: number;
  readonly tokens: number;
  readonly ms: number;
  /** The layers whose parameters this step updated (sorted). */
  readonly layers: number[];
}

export interface TrainerCallbacks {
  onStep(record: StepRecord): void;
  /** Called after each IST importance round (before that step's update). */
  onImportance?(record: ImportanceRecord): void;
  /** Called after step `step` when evaluation is due (every evalEvery steps; the caller evaluates at the end). */
  evaluate?(step: number): Promise<void>;
  /** Writes a checkpoint of the state after `completedSteps` steps with `consumed` examples used. */
  checkpoint(completedSteps: number, consumed: number): void;
  /** Throws to stop (cancellation); checked between micro-batches. */
  throwIfCancelled(): void;
}

export class NonFiniteLossError extends Error {
  override name = 'NonFiniteLossError';
  constructor(readonly step: number, readonly loss: number) {
    super(`training loss is ${loss} at step ${step}; stopped before updating with it (the adapter keeps the state after step ${step - 1})`);
  }
}

export interface TrainerProgress {
  /** Completed steps. */
  readonly completedSteps: number;
  /** Examples consumed by the completed steps. */
  readonly consumed: number;
}

/**
 * Runs steps `start.completedSteps` .. settings.steps - 1. `progress()` always describes a consistent state
 * (parameters and optimizer after the completed steps), so a cancel handler may checkpoint it at any await.
 */
export class Trainer {
  private completed: number;
  private consumedAtStep: number;

  constructor(
    private readonly runner: PeftRunner,
    private readonly optimizer: Optimizer,
    private readonly examples: readonly TokenExample[],
    private readonly seq: number,
    private readonly padId: number,
    private readonly settings: TrainerSettings,
    start: TrainerProgress = { completedSteps: 0, consumed: 0 },
    /** Layer selection; without one every layer trains every step. */
    private readonly selector?: LayerSelector,
  ) {
    this.completed = start.completedSteps;
    this.consumedAtStep = start.consumed;
  }

  progress(): TrainerProgress {
    return { completedSteps: this.completed, consumed: this.consumedAtStep };
  }

  /** IST's scoring batch of `step`: scoreBatch training examples drawn without replacement (fewer if the set is smaller). */
  private scoringBatch(selector: LayerSelector, step: number): TrainBatch {
    const n = Math.min(selector.options.scoreBatch, this.examples.length);
    const picks = selector.scoreBatchRng(step).sampleUniformWithoutReplacement(this.examples.length, n);
    return makeBatch(picks.map((i) => this.examples[i] ?? { ids: [], labels: [] }), this.seq, this.padId);
  }

  async run(cb: TrainerCallbacks): Promise<StepRecord[]> {
    const s = this.settings;
    const stream = new ExampleStream(this.examples.length, s.seed, this.consumedAtStep);
    const params = this.runner.parameters();
    const paramLayers = this.runner.parameterLayers();
    const allLayers = [...new Set(paramLayers)].sort((a, b) => a - b);
    const records: StepRecord[] = [];
    for (let step = this.completed; step < s.steps; step++) {
      const t0 = performance.now();
      const selector = this.selector;
      if (selector?.importanceDue(step) === true) {
        cb.throwIfCancelled();
        const batch = this.scoringBatch(selector, step);
        const record = await selector.importanceRound(step, (scale) => this.runner.meanLoss(batch, scale));
        cb.onImportance?.(record);
      }
      const layers = selector === undefined ? allLayers : selector.select(step);
      const chosen = new Set(layers);
      const indices = params.flatMap((_, i) => (chosen.has(paramLayers[i] ?? -1) ? [i] : []));
      const fromLayer = selector === undefined ? Math.min(...layers) : selector.backwardFrom(layers);
      // Only the selected parameters get gradient buffers; the others stay empty and are never read.
      const acc = params.map((p, i) => new Float32Array(chosen.has(paramLayers[i] ?? -1) ? p.length : 0));
      let lossSum = 0;
      let tokens = 0;
      for (let micro = 0; micro < s.gradAccum; micro++) {
        cb.throwIfCancelled();
        const batch = makeBatch(stream.next(s.batchSize).map((i) => this.examples[i] ?? { ids: [], labels: [] }), this.seq, this.padId);
        const { loss, grads } = await this.runner.trainStep(batch, derivedRng(s.seed, RNG_TAGS.dropout, step, micro), fromLayer);
        if (!Number.isFinite(loss)) {
          cb.checkpoint(this.completed, this.consumedAtStep);
          throw new NonFiniteLossError(step, loss);
        }
        lossSum += loss;
        tokens += batch.tokens;
        accumulate(indices.map((i) => acc[i] ?? new Float32Array(0)), indices.map((i) => grads[i] ?? new Float32Array(0)), 1 / s.gradAccum);
      }
      cb.throwIfCancelled();
      const gradNorm = clipGlobalNorm(indices.map((i) => acc[i] ?? new Float32Array(0)), s.maxGradNorm);
      const lr = learningRateAt(step, { peak: s.lr, warmupSteps: s.warmupSteps, totalSteps: s.steps, decay: s.decay });
      this.optimizer.step(params, acc, lr, indices);
      this.completed = step + 1;
      this.consumedAtStep = stream.consumed;
      const record: StepRecord = { type: 'step', step, loss: lossSum / s.gradAccum, lr, gradNorm, tokens, ms: performance.now() - t0, layers };
      records.push(record);
      cb.onStep(record);
      if (s.checkpointEvery > 0 && this.completed % s.checkpointEvery === 0 && this.completed < s.steps) cb.checkpoint(this.completed, this.consumedAtStep);
      if (cb.evaluate !== undefined && s.evalEvery > 0 && this.completed % s.evalEvery === 0 && this.completed < s.steps) await cb.evaluate(step);
      // Lets IPC messages (cancel) be handled between steps.
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
    return records;
  }
}
