/**
 * OT: the original offsite-tuning emulator (Xiao, Lin, Han 2023, "Offsite-Tuning: Transfer Learning without Full
 * Model", section 3.3 and the authors' offsite_tuning/utils.py `get_kd_loss`): the uniformly layer-dropped emulator
 * (OT-dagger) whose kept middle layers are then distilled from the full model's middle block on the support data.
 * Only the kept middle layers train (full-parameter); embeddings, adapter layers, final norm and head stay frozen.
 *
 * Objective, per support batch (the authors' form; their runs use lm_weight 1, kd_weight 30, our default lmWeight
 * is 0, see DISTILL_DEFAULTS):
 *   L = lmWeight * CE(emulator logits, next tokens) + kdWeight * KD,
 *   KD = sum_t m_t ||s_t - h_t||^2 / sum_t m_t ||h_t||^2,
 * s_t = the emulator's residual stream after its last kept middle layer, h_t = the full model's after its last
 * middle layer (the input of the top adapter), m_t = 1 on real tokens. Both middle blocks see the same input: the
 * bottom adapter layers are the same frozen weights in both models. This is the authors' normalised MSE
 * mean((h - s)^2) / mean(h^2) (teacher statistics, no gradient through them), restricted to the non-padding tokens
 * (their blocks are packed, ours are padded; padding states would only add noise).
 *
 * Gradients: the student graph is the ordinary causal-LM graph with the checkpoint weights as inputs (as
 * full-parameter training builds it) plus the KD terms (Sub, Mul, ReduceSum), differentiated by the graph's
 * autodiff with respect to the middle weights only: no new gradient rule. The teacher target comes from a
 * separate frozen forward session of the full model, computed per batch.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { TrainBatch } from '../../data/batches';
import { IGNORE_INDEX, type TokenExample } from '../../data/examples';
import { gradients } from '../../graph/autodiff';
import { GraphBuilder } from '../../graph/builder';
import { partModelBytes, type GraphPart } from '../../graph/serialize';
import { extractPart } from '../../graph/split';
import type { Tensor } from '../../graph/tensor';
import { buildCausalLm, type FloatType } from '../../models/causalLm';
import { isStoredDtype } from '../../models/dtype';
import { loadModel, type LoadedModel } from '../../models/model';
import { writeSafetensors, type TensorToWrite } from '../../models/safetensorsWriter';
import { expectedWeights } from '../../models/weights';
import { createSession, hostTensor, type HostTensor, type RuntimeSession, type RuntimeSessionOptions } from '../../runtime';
import { AdamW, type Optimizer } from '../../train/optimizer';
import { batchFeeds, declareObjective, gradOutputName, LOSS_OUTPUT } from '../../train/objective';
import type { PeftRunner } from '../../train/runner';
import { Trainer, type StepRecord } from '../../train/trainer';
import { layerPrefix } from '../stats/modules';

/** `offsite.emulator.distill`: the distillation run of method "ot". */
export interface DistillSettings {
  readonly steps: number;
  readonly lr: number;
  readonly batchSize: number;
  readonly lmWeight: number;
  readonly kdWeight: number;
  readonly warmupSteps: number;
  readonly weightDecay: number;
  /** Global gradient-norm clip (0 = off). */
  readonly maxGradNorm: number;
}

/**
 * Small defaults for the lab and the fixtures. kdWeight 30 and weight decay 0.1 are the authors'
 * (scripts/distill_emulator). lmWeight defaults to 0, not their 1: they distil on a pretraining corpus (the Pile),
 * here the support data defaults to the downstream task's training data, and an LM term there fine-tunes the
 * emulator on the task itself (measured on the lab model, 50 steps: the emulator's support loss fell from 14.06 to
 * 7.80, far below the full model's 14.87) instead of making it imitate the full model (KD alone: 14.93). Their
 * lr 1e-4 with 2000 warm-up steps is for billion-parameter models; a few dozen steps on a small one need more.
 */
export const DISTILL_DEFAULTS: DistillSettings = { steps: 50, lr: 1e-3, batchSize: 8, lmWeight: 0, kdWeight: 30, warmupSteps: 5, weightDecay: 0.1, maxGradNorm: 1 };

const TEACHER_OUTPUT = 'teacher_hidden';
const TARGET_INPUT = 'distill_target';
/** m_t / sum_t m_t ||h_t||^2 per token [tokens, 1]: the KD mask and normaliser in one input. */
const KD_WEIGHT_INPUT = 'distill_kd_weight';
const TOTAL_OUTPUT = 'distill_loss';
const KD_OUTPUT = 'distill_kd';

/** Where the two middle blocks end: indices into each model's executed layers. */
export interface DistillPlan {
  /** Position (in the full model's layers) of the last middle layer: L - top - 1. */
  readonly teacherLast: number;
  /** Stored emulator layers that train (the kept middle layers), ascending; the last one ends the student's middle. */
  readonly studentLayers: readonly number[];
}

export interface DistillLosses {
  /** lmWeight * lm + kdWeight * kd. */
  readonly total: number;
  /** NaN from a train step without an LM term (lmWeight 0). */
  readonly lm: number;
  readonly kd: number;
}

type FloatArray = Float32Array | Float64Array;

interface Sessions {
  teacher: Promise<RuntimeSession>;
  train?: Promise<RuntimeSession>;
  score?: Promise<RuntimeSession>;
}

/**
 * The distillation objective's sessions for a teacher (the full model) and a student (the written uniform-drop
 * emulator), per batch shape. `values` hold the student's weights (the middle ones are updated in place).
 */
export class DistillObjective {
  private readonly sessions = new Map<string, Sessions>();
  private readonly specs;
  private readonly trainableNames: ReadonlySet<string>;
  readonly values: Map<string, FloatArray>;

  constructor(readonly teacher: LoadedModel, readonly student: LoadedModel, readonly plan: DistillPlan,
    private readonly weights: { readonly lm: number; readonly kd: number }, private readonly session: RuntimeSessionOptions = {},
    readonly dtype: FloatType = 'float32') {
    this.specs = expectedWeights(student.config);
    const prefixes = plan.studentLayers.map((l) => layerPrefix(student.config, l));
    this.trainableNames = new Set(this.specs.filter((s) => prefixes.some((p) => s.name.startsWith(p))).map((s) => s.name));
    if (this.trainableNames.size === 0) throw new Error('OT distillation: the emulator has no middle layer to train');
    this.values = new Map(this.specs.map((s) => [s.name, dtype === 'float64' ? student.weights.readFloat64(s.name) : student.weights.readFloat32(s.name)]));
  }

  /** Names of the trained weights, in checkpoint order. */
  get trainable(): string[] {
    return this.specs.filter((s) => this.trainableNames.has(s.name)).map((s) => s.name);
  }

  private open(part: GraphPart, label: string): Promise<RuntimeSession> {
    // ORT's extended fusions have float32 kernels only (as in train/blockRunner.ts).
    const level = this.dtype === 'float64' ? { graphOptimizationLevel: 'basic' as const } : {};
    return createSession({ bytes: partModelBytes(part) }, { ...this.session, ...level, label });
  }

  private sessionsFor(batch: number, seq: number): Sessions {
    const key = `${batch}|${seq}`;
    let s = this.sessions.get(key);
    if (s === undefined) {
      s = { teacher: this.open(this.teacherPart(batch, seq), `ot teacher b${batch} s${seq}`) };
      this.sessions.set(key, s);
    }
    return s;
  }

  /** The full model up to its last middle layer (frozen initializers): the residual stream there. */
  private teacherPart(batch: number, seq: number): GraphPart {
    const layers = Array.from({ length: this.plan.teacherLast + 1 }, (_, i) => i);
    const g = buildCausalLm(this.teacher, { batch, seq, dtype: this.dtype, layers });
    const b = g.builder;
    const out = b.output(g.layerOutputs[this.plan.teacherLast] as Tensor, TEACHER_OUTPUT);
    return extractPart(b, `${b.graphName}_teacher`, b.nodes, [out]);
  }

  /** The student's objective (and, for 'train', its gradient wrt the middle weights). */
  private studentPart(kind: 'train' | 'score', batch: number, seq: number): GraphPart {
    const H = this.student.config.hiddenSize;
    const b = new GraphBuilder(`${this.student.config.modelType}_ot_${kind}`);
    const g = buildCausalLm(this.student, { batch, seq, dtype: this.dtype, builder: b, weightInputs: 'frozen' });
    const middleOut = g.layerOutputs[(this.student.config.emulator?.layerMap ?? []).lastIndexOf(this.plan.studentLayers.at(-1) ?? -1)];
    if (middleOut === undefined) throw new Error('OT distillation: the last kept middle layer is not executed by the emulator');
    const target = b.input(TARGET_INPUT, this.dtype, [batch * seq, H]);
    const weight = b.input(KD_WEIGHT_INPUT, this.dtype, [batch * seq, 1]);
    const diff = b.sub(middleOut, target);
    const kd = b.reduceSum(b.mul(b.mul(diff, diff), weight), [0, 1], false);
    // Without an LM term the train graph stops at the middle block (the head and top layers are pruned).
    const withLm = kind === 'score' || this.weights.lm !== 0;
    const lm = withLm ? declareObjective(b, b.reshape(g.logits, [batch * seq, this.student.config.vocabSize]), 'train', this.dtype) as Tensor : undefined;
    const kdTerm = b.mul(kd, this.weights.kd);
    const total = lm === undefined ? kdTerm : b.add(b.mul(lm, this.weights.lm), kdTerm);
    const outputs = [b.output(total, TOTAL_OUTPUT), b.output(kd, KD_OUTPUT), ...(lm === undefined ? [] : [b.tensorNamed(LOSS_OUTPUT)])];
    if (kind === 'train') {
      const wrt = b.inputs.filter((t) => this.trainableNames.has(t.name));
      const r = gradients(b, total, { wrt, addOutputs: false });
      for (const t of wrt) outputs.push(b.named(r.grads.get(t) ?? b.zeros(t.dtype, t.shape), gradOutputName(t.name)));
    }
    return extractPart(b, b.graphName, b.nodes, outputs);
  }

  private studentSession(kind: 'train' | 'score', batch: number, seq: number): Promise<RuntimeSession> {
    const s = this.sessionsFor(batch, seq);
    s[kind] ??= this.open(this.studentPart(kind, batch, seq), `ot student ${kind} b${batch} s${seq}`);
    return s[kind];
  }

  /** The teacher's middle output for `batch` and the per-token KD weights m_t / sum m ||h||^2. */
  async target(batch: TrainBatch): Promise<{ target: FloatArray; kdWeight: FloatArray }> {
    const session = await this.sessionsFor(batch.batch, batch.seq).teacher;
    const r = await session.run(only(session, batchFeeds(batch)));
    const H = this.teacher.config.hiddenSize;
    const tokens = batch.batch * batch.seq;
    const target = r.get(TEACHER_OUTPUT, this.dtype, [tokens, H]).data as FloatArray;
    let energy = 0;
    for (let t = 0; t < tokens; t++) {
      if (batch.mask[t] !== 1) continue;
      for (let h = 0; h < H; h++) energy += (target[t * H + h] as number) ** 2;
    }
    const kdWeight = this.dtype === 'float64' ? new Float64Array(tokens) : new Float32Array(tokens);
    for (let t = 0; t < tokens; t++) kdWeight[t] = batch.mask[t] === 1 && energy > 0 ? 1 / energy : 0;
    return { target, kdWeight };
  }

  private feeds(batch: TrainBatch, t: { target: FloatArray; kdWeight: FloatArray }): Record<string, HostTensor> {
    const feeds: Record<string, HostTensor> = { ...batchFeeds(batch) };
    for (const s of this.specs) feeds[s.name] = hostTensor(s.name, this.values.get(s.name) ?? new Float32Array(0), [...s.shape]);
    feeds[TARGET_INPUT] = hostTensor(TARGET_INPUT, t.target, [batch.batch * batch.seq, this.student.config.hiddenSize]);
    feeds[KD_WEIGHT_INPUT] = hostTensor(KD_WEIGHT_INPUT, t.kdWeight, [batch.batch * batch.seq, 1]);
    return feeds;
  }

  private static losses(r: { readonly names: readonly string[]; get(name: string, type: FloatType, dims: number[]): { data: ArrayLike<number> } }, dtype: FloatType): DistillLosses {
    const one = (name: string): number => (r.names.includes(name) ? r.get(name, dtype, []).data[0] ?? Number.NaN : Number.NaN);
    return { total: one(TOTAL_OUTPUT), kd: one(KD_OUTPUT), lm: one(LOSS_OUTPUT) };
  }

  /** The objective and its gradient wrt each trained weight (in `trainable` order) on one batch. */
  async lossAndGradients(batch: TrainBatch): Promise<DistillLosses & { grads: FloatArray[] }> {
    const t = await this.target(batch);
    const session = await this.studentSession('train', batch.batch, batch.seq);
    const r = await session.run(only(session, this.feeds(batch, t)));
    const shapes = new Map(this.specs.map((s) => [s.name, [...s.shape]]));
    const grads = this.trainable.map((name) => r.get(gradOutputName(name), this.dtype, shapes.get(name) ?? []).data as FloatArray);
    return { ...DistillObjective.losses(r, this.dtype), grads };
  }

  /** The objective on one batch (no gradient). */
  async losses(batch: TrainBatch): Promise<DistillLosses> {
    const t = await this.target(batch);
    const session = await this.studentSession('score', batch.batch, batch.seq);
    return DistillObjective.losses(await session.run(only(session, this.feeds(batch, t))), this.dtype);
  }

  /** Token-weighted means over `batches` (each batch's losses are means over its tokens). */
  async meanLosses(batches: readonly TrainBatch[]): Promise<DistillLosses> {
    let total = 0;
    let lm = 0;
    let kd = 0;
    let weight = 0;
    for (const b of batches) {
      const l = await this.losses(b);
      total += l.total * b.tokens;
      lm += l.lm * b.tokens;
      kd += l.kd * b.tokens;
      weight += b.tokens;
    }
    return weight > 0 ? { total: total / weight, lm: lm / weight, kd: kd / weight } : { total: Number.NaN, lm: Number.NaN, kd: Number.NaN };
  }

  async dispose(): Promise<void> {
    const all = [...this.sessions.values()].flatMap((s) => [s.teacher, s.train, s.score]);
    this.sessions.clear();
    for (const s of all) if (s !== undefined) await (await s).dispose();
  }
}

/** The feeds a session takes (it refuses others; a pruned graph may not read every weight). */
function only(session: RuntimeSession, feeds: Record<string, HostTensor>): Record<string, HostTensor> {
  const out: Record<string, HostTensor> = {};
  for (const s of session.inputs) {
    const t = feeds[s.name];
    if (t !== undefined) out[s.name] = t;
  }
  return out;
}

/** The Trainer's view of the objective (float32): the parameters are the middle weights, updated in place. */
class DistillRunner implements PeftRunner {
  private readonly names: string[];

  constructor(private readonly objective: DistillObjective) {
    this.names = objective.trainable;
  }

  get layerCount(): number {
    return this.objective.student.config.numLayers;
  }

  parameters(): Float32Array[] {
    return this.names.map((n) => this.objective.values.get(n) as Float32Array);
  }

  parameterLayers(): number[] {
    return this.names.map((n) => this.objective.plan.studentLayers.find((l) => n.startsWith(layerPrefix(this.objective.student.config, l))) ?? 0);
  }

  async trainStep(batch: TrainBatch): Promise<{ loss: number; grads: Float32Array[] }> {
    const r = await this.objective.lossAndGradients(batch);
    return { loss: r.total, grads: r.grads as Float32Array[] };
  }

  tokenLogprobs(): Promise<Float32Array> {
    return Promise.reject(new Error('OT distillation scores the distillation objective, not token log-probabilities'));
  }

  async meanLoss(batch: TrainBatch): Promise<number> {
    return (await this.objective.losses(batch)).total;
  }

  generate(): Promise<number[][]> {
    return Promise.reject(new Error('OT distillation does not generate'));
  }

  dispose(): Promise<void> {
    return this.objective.dispose();
  }
}

/**
 * AdamW with weight decay on the matrices only: the authors' run_clm.py (transformers' example) exempts biases and
 * LayerNorm weights (no_decay = ["bias", "layer_norm.weight"]); vectors is the same rule for every family's names.
 */
export class MatrixDecayAdamW implements Optimizer {
  readonly kind = 'adamw';
  private readonly decayed: AdamW;
  private readonly plain = new AdamW({ weightDecay: 0 });

  constructor(private readonly isMatrix: readonly boolean[], weightDecay: number) {
    this.decayed = new AdamW({ weightDecay });
  }

  get steps(): number {
    return this.decayed.steps;
  }

  step(params: readonly Float32Array[], grads: readonly Float32Array[], lr: number, indices?: readonly number[]): void {
    const which = indices ?? params.map((_, i) => i);
    this.decayed.step(params, grads, lr, which.filter((i) => this.isMatrix[i] === true));
    this.plain.step(params, grads, lr, which.filter((i) => this.isMatrix[i] !== true));
  }

  stateBytes(): number {
    return this.decayed.stateBytes() + this.plain.stateBytes();
  }

  /** Disjoint names: each parameter index has its state in one of the two. */
  stateTensors(): { name: string; data: Float32Array }[] {
    return [...this.decayed.stateTensors(), ...this.plain.stateTensors()];
  }

  restore(steps: number, tensors: ReadonlyMap<string, Float32Array>): void {
    const part = (matrix: boolean) => new Map([...tensors].filter(([name]) => (this.isMatrix[Number(/^adamw\.(\d+)\./.exec(name)?.[1] ?? -1)] === true) === matrix));
    this.decayed.restore(steps, part(true));
    this.plain.restore(steps, part(false));
  }
}

/** The examples a right-padded batch was made from (makeBatch's inverse: labels[t + 1] = targets[t]). */
export function examplesOfBatches(batches: readonly TrainBatch[]): TokenExample[] {
  const out: TokenExample[] = [];
  for (const b of batches) {
    for (let r = 0; r < b.batch; r++) {
      const row = r * b.seq;
      let n = 0;
      while (n < b.seq && b.mask[row + n] === 1) n += 1;
      if (n === 0) continue;
      const ids = Array.from(b.ids.subarray(row, row + n));
      // labels[0] never reaches a target; the ids' first token stands in for it.
      const labels = [ids[0] ?? 0, ...Array.from(b.targets.subarray(row, row + n - 1))];
      out.push({ ids, labels: labels.map((v) => (v === IGNORE_INDEX ? IGNORE_INDEX : v)) });
    }
  }
  return out;
}

export interface DistillOptions {
  readonly settings: DistillSettings;
  readonly seed: number;
  readonly session?: RuntimeSessionOptions;
  /** Measure the objective over the support batches before and after (default true). */
  readonly measure?: boolean;
  onStep?(record: StepRecord): void;
  throwIfCancelled?(): void;
}

export interface DistillResult {
  readonly steps: number;
  /** The objective over the support data before / after distillation (absent when not measured). */
  readonly before?: DistillLosses;
  readonly after?: DistillLosses;
  readonly firstLoss?: number;
  readonly finalLoss?: number;
  /** Wall seconds of the training steps (the compression time of OT). */
  readonly trainSeconds: number;
  /** Wall seconds of the before/after measurements. */
  readonly measureSeconds: number;
}

/**
 * Distils the middle layers of the emulator folder `dir` (written by the uniform-drop plan) from `teacher` on the
 * support batches and rewrites its model.safetensors with the trained middle weights (float32; every other
 * tensor keeps its stored values and dtype). The folder is the caller's temporary one: a failure leaves it
 * half-done, never a published emulator.
 */
export async function distillEmulator(teacher: LoadedModel, dir: string, support: readonly TrainBatch[], plan: DistillPlan, o: DistillOptions): Promise<DistillResult> {
  const s = o.settings;
  const student = loadModel(dir);
  let objective: DistillObjective | undefined;
  let trained: TensorToWrite[];
  let result: Omit<DistillResult, 'trainSeconds'> & { trainSeconds: number };
  try {
    objective = new DistillObjective(teacher, student, plan, { lm: s.lmWeight, kd: s.kdWeight }, o.session);
    const measure = o.measure ?? true;
    let measureSeconds = 0;
    const measured = async (): Promise<DistillLosses | undefined> => {
      if (!measure || objective === undefined) return undefined;
      const t0 = performance.now();
      const r = await objective.meanLosses(support);
      measureSeconds += (performance.now() - t0) / 1000;
      return r;
    };
    const before = await measured();
    const examples = examplesOfBatches(support);
    const seq = Math.max(1, ...support.map((b) => b.seq));
    const t0 = performance.now();
    const runner = new DistillRunner(objective);
    const shapes = new Map(expectedWeights(student.config).map((w) => [w.name, w.shape]));
    const optimizer = new MatrixDecayAdamW(objective.trainable.map((n) => (shapes.get(n)?.length ?? 0) >= 2), s.weightDecay);
    const trainer = new Trainer(runner, optimizer, examples, seq, 0, {
      steps: s.steps, batchSize: s.batchSize, gradAccum: 1, lr: s.lr, warmupSteps: Math.min(s.warmupSteps, s.steps), decay: 'cosine',
      maxGradNorm: s.maxGradNorm, seed: o.seed, evalEvery: 0, checkpointEvery: 0,
    });
    const records = await trainer.run({
      onStep: (r) => o.onStep?.(r),
      checkpoint: () => undefined,
      throwIfCancelled: () => o.throwIfCancelled?.(),
    });
    const trainSeconds = (performance.now() - t0) / 1000;
    const after = await measured();
    result = {
      steps: records.length, trainSeconds, measureSeconds,
      ...(before === undefined ? {} : { before }), ...(after === undefined ? {} : { after }),
      ...(records[0] === undefined ? {} : { firstLoss: records[0].loss }),
      ...(records.at(-1) === undefined ? {} : { finalLoss: (records.at(-1) as StepRecord).loss }),
    };
    // Every tensor of the checkpoint, the trained ones replaced, read before the file is replaced.
    const values = objective.values;
    const byStored = new Map(objective.trainable.map((name) => [student.weights.storedName(name), name]));
    trained = student.checkpoint.names().map((stored): TensorToWrite => {
      const name = byStored.get(stored);
      const info = student.checkpoint.info(stored);
      if (name !== undefined) return { name: stored, dtype: 'F32', shape: info.shape, data: values.get(name) ?? new Float32Array(0) };
      return { name: stored, dtype: isStoredDtype(info.dtype) ? info.dtype : 'F32', shape: info.shape, data: student.checkpoint.readFloat32(stored) };
    });
  } finally {
    await objective?.dispose();
    student.close();
  }
  writeSafetensors(path.join(dir, 'model.safetensors'), trained, { format: 'pt' });
  if (!fs.existsSync(path.join(dir, 'config.json'))) throw new Error(`${dir}: the emulator folder lost its config.json`);
  return result;
}
