// The training loop: seeded batches, gradient accumulation (mean of the micro-batch losses and gradients, as
// transformers' Trainer does), global-norm clipping, a learning-rate schedule, the optimizer update, step
// records, periodic evaluation and checkpoints. A non-finite loss or gradient norm, or an update that would make a
// parameter or optimizer state non-finite, stops the run before anything is written with it, keeping (and
// checkpointing) the last good state.
// With a LayerSelector (IST and its baselines) only the selected layers' LoRA parameters get gradients, clipping
// and optimizer updates; the train session differentiates the layers >= the lowest selected one (loraGraph.ts)
// (or the selector's coarser level, to bound the sessions), and IST's importance rounds run before the update of
// every interval-th step.
import { ExampleStream, RNG_TAGS, derivedRng, makeBatch, type TrainBatch } from '../data/batches';
import type { TokenExample } from '../data/examples';
import type { ImportanceRecord, StepRecord } from '../../protocol/metricRecords';
import type { LayerSelector } from '../ist/selector';
import { collectGarbage } from '../runtime/garbage';
import { accumulate, clipGlobalNorm } from './gradients';
import type { PeftRunner } from './runner';
import type { Optimizer } from './optimizer';
import { learningRateAt, type DecayKind } from './schedule';
import { firstNonFinite, minOf } from '../util/arrays';

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

export type { StepRecord } from '../../protocol/metricRecords';

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

/**
 * A non-finite value stopped training at `step` before anything was written with it: the parameters and the
 * optimizer state are those after step `step - 1` (and were checkpointed as such).
 */
export class NonFiniteTrainingError extends Error {
  override name = 'NonFiniteTrainingError';
  constructor(readonly step: number, message: string) {
    super(message);
  }
}

export class NonFiniteLossError extends NonFiniteTrainingError {
  override name = 'NonFiniteLossError';
  constructor(step: number, readonly loss: number) {
    super(step, `training loss is ${loss} at step ${step}; stopped before updating with it (the adapter keeps the state after step ${step - 1})`);
  }
}

/** The global gradient norm was NaN or infinite (clipping cannot repair it: `NaN > max` is false). */
export class NonFiniteGradientError extends NonFiniteTrainingError {
  override name = 'NonFiniteGradientError';
  constructor(step: number, readonly gradNorm: number, loss: number) {
    super(step, `gradient norm is ${gradNorm} at step ${step} (loss ${loss}); stopped before updating with it (the adapter keeps the state after step ${step - 1})`);
  }
}

/** The optimizer's update would have made a parameter or its optimizer state non-finite; it was rolled back. */
export class NonFiniteUpdateError extends NonFiniteTrainingError {
  override name = 'NonFiniteUpdateError';
  constructor(step: number, readonly tensor: string) {
    super(step, `the update of step ${step} made ${tensor} non-finite (learning rate too large?); rolled back (the adapter keeps the state after step ${step - 1})`);
  }
}

/**
 * Copies of the parameters and optimizer state a step updates, so a non-finite update can be undone. The
 * buffers are reused from step to step (adapters are small next to the model; this is a memcpy per step).
 */
class UpdateSnapshot {
  private readonly params = new Map<number, Float32Array>();
  private readonly state = new Map<string, Float32Array>();
  private steps = 0;

  take(params: readonly Float32Array[], indices: readonly number[], optimizer: Optimizer): void {
    for (const i of indices) this.params.set(i, copyInto(this.params.get(i), params[i] ?? new Float32Array(0)));
    const live = optimizer.stateTensors();
    const names = new Set(live.map((t) => t.name));
    for (const name of [...this.state.keys()]) if (!names.has(name)) this.state.delete(name);
    for (const t of live) this.state.set(t.name, copyInto(this.state.get(t.name), t.data));
    this.steps = optimizer.steps;
  }

  restore(params: readonly Float32Array[], indices: readonly number[], optimizer: Optimizer): void {
    for (const i of indices) {
      const saved = this.params.get(i);
      if (saved !== undefined) params[i]?.set(saved);
    }
    optimizer.restore(this.steps, this.state);
  }
}

function copyInto(target: Float32Array | undefined, source: Float32Array): Float32Array {
  if (target?.length !== source.length) return Float32Array.from(source);
  target.set(source);
  return target;
}

/** The first updated parameter or optimizer-state tensor holding a NaN or infinity, described; undefined when all are finite. */
function nonFiniteAfterUpdate(params: readonly Float32Array[], indices: readonly number[], layers: readonly number[], optimizer: Optimizer): string | undefined {
  for (const i of indices) {
    const at = firstNonFinite(params[i] ?? new Float32Array(0));
    if (at >= 0) return `trainable parameter ${i} (layer ${layers[i] ?? '?'}, value ${at})`;
  }
  for (const t of optimizer.stateTensors()) {
    const at = firstNonFinite(t.data);
    if (at >= 0) return `optimizer state ${t.name} (value ${at})`;
  }
  return undefined;
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
    const snapshot = new UpdateSnapshot();
    for (let step = this.completed; step < s.steps; step++) {
      const t0 = performance.now();
      const selector = this.selector;
      if (selector?.importanceDue(step) === true) {
        cb.throwIfCancelled();
        const batch = this.scoringBatch(selector, step);
        const before = selector.scores;
        const record = await selector.importanceRound(step, (scale) => this.runner.meanLoss(batch, scale));
        // A NaN rollout loss would make the layer scores NaN, and every later checkpoint unresumable.
        const badLoss = record.losses.find((l) => !Number.isFinite(l));
        if (badLoss !== undefined || record.scores.some((v) => !Number.isFinite(v))) {
          selector.restoreScores(before);
          cb.checkpoint(this.completed, this.consumedAtStep);
          throw new NonFiniteTrainingError(step, `IST importance round at step ${step}: suppression rollout loss is ${badLoss ?? 'finite, but the scores are not'}; stopped before updating with it (the adapter keeps the state after step ${step - 1})`);
        }
        cb.onImportance?.(record);
      }
      const layers = selector === undefined ? allLayers : selector.select(step);
      const chosen = new Set(layers);
      const indices = params.flatMap((_, i) => (chosen.has(paramLayers[i] ?? -1) ? [i] : []));
      const fromLayer = selector === undefined ? minOf(layers) : selector.backwardFrom(layers);
      // Only the selected parameters get gradient buffers; the others stay empty and are never read.
      const acc = params.map((p, i) => new Float32Array(chosen.has(paramLayers[i] ?? -1) ? p.length : 0));
      let lossSum = 0;
      let tokens = 0;
      for (let micro = 0; micro < s.gradAccum; micro++) {
        cb.throwIfCancelled();
        const batch = makeBatch(stream.next(s.batchSize).map((i) => this.examples[i] ?? { ids: [], labels: [] }), this.seq, this.padId);
        const { loss, grads } = await this.runner.trainStep(batch, derivedRng(s.seed, RNG_TAGS.dropout, step, micro), fromLayer, layers);
        if (!Number.isFinite(loss)) {
          cb.checkpoint(this.completed, this.consumedAtStep);
          throw new NonFiniteLossError(step, loss);
        }
        lossSum += loss;
        tokens += batch.tokens;
        accumulate(indices.map((i) => acc[i] ?? new Float32Array(0)), indices.map((i) => grads[i] ?? new Float32Array(0)), 1 / s.gradAccum);
        // The step's activations are garbage now: freed before the next forward (runtime/garbage.ts).
        collectGarbage();
      }
      cb.throwIfCancelled();
      const gradNorm = clipGlobalNorm(indices.map((i) => acc[i] ?? new Float32Array(0)), s.maxGradNorm);
      // A finite loss can still come with NaN/Inf gradients (overflow in the backward pass); the optimizer would
      // write them into every parameter.
      if (!Number.isFinite(gradNorm)) {
        cb.checkpoint(this.completed, this.consumedAtStep);
        throw new NonFiniteGradientError(step, gradNorm, lossSum / s.gradAccum);
      }
      const lr = learningRateAt(step, { peak: s.lr, warmupSteps: s.warmupSteps, totalSteps: s.steps, decay: s.decay });
      // Finite gradients times a huge learning rate can still overflow float32: update, check, roll back if needed.
      snapshot.take(params, indices, this.optimizer);
      this.optimizer.step(params, acc, lr, indices);
      const poisoned = nonFiniteAfterUpdate(params, indices, paramLayers, this.optimizer);
      if (poisoned !== undefined) {
        snapshot.restore(params, indices, this.optimizer);
        cb.checkpoint(this.completed, this.consumedAtStep);
        throw new NonFiniteUpdateError(step, poisoned);
      }
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
