// The `offsite` task (DESIGN.md "Offsite-tuning and GradOT"; issue 7): for one config,
//   emulator          build the emulator (buildEmulator) into <run>/emulator/ (written under a temporary name, renamed;
//                     method ot distils it there, so a cancelled distillation reruns from its start);
//   zeroShot          evaluate the full model and the emulator with the untouched adapter (= the models themselves);
//   gradientsBefore   adapter-gradient agreement, emulator vs full model, on held-out data, before tuning;
//   tuneEmulator      tune the adapter layers on the emulator with the Trainer (values in offsite-adapter.safetensors);
//   emulatorFinetuned evaluate emulator + adapter;
//   plugIn            copy the adapter into the full model (written to <run>/adapter/), evaluate;
//   gradientsAfter    the gradient agreement with the tuned adapter;
//   fullFinetune      (offsite.fullFinetune) tune the same adapter layers, from the same start, on the full model.
// Each step's outputs are recorded in offsite-state.json once written (pipeline/stepState.ts); a rerun in the same
// run folder (peft-lab run --resume) skips the recorded steps. A cancelled tuning step restarts from its start.
// Metric: multiple-choice accuracy for llm-adapters eval data with answer choices, perplexity otherwise.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseDiagnosticsFile, type AdapterDiagnostic, type DiagnosticsFile } from '../../protocol/diagnostics';
import type { OffsiteEvaluation, OffsiteGradientStep, OffsiteSteps, OffsiteTuneStep } from '../../protocol/resumeFiles';
import type { OffsiteSummary, RunSummary } from '../../protocol/runFiles';
import { RUN_FILES } from '../../protocol/runFolder';
import type { OffsiteConfig } from '../config/types';
import { makeBatch, type TrainBatch } from '../data/batches';
import type { TokenExample } from '../data/examples';
import { loadModel, type LoadedModel } from '../models/model';
import { buildEmulator, type EmulatorDiagnostics } from '../offsite/emulator';
import { OffsiteAdapter, type AdapterSpec } from '../offsite/pipeline/adapter';
import { gradientAgreement, heldOutBatches, heldOutGradients } from '../offsite/pipeline/gradientAgreement';
import { StepState } from '../offsite/pipeline/stepState';
import { writeJsonAtomic } from '../runs/atomic';
import { createOptimizer } from '../train/optimizer';
import { NonFiniteTrainingError, Trainer, type StepRecord } from '../train/trainer';
import { maxBy } from '../util/arrays';
import { TaskCancelled, TaskError, type RunContext } from './context';
import { dropMetricRecords } from './runRecord';
import { ADAPTER_DIR, evaluateSetup, loadTaskData, type TaskData } from './tuneSetup';

export const EMULATOR_DIR = RUN_FILES.emulator;
export const DIAGNOSTICS_FILE = RUN_FILES.diagnostics;
/** Adapter values after tuning on the emulator, by full-model module path (for resuming the later steps). */
export const OFFSITE_ADAPTER_VALUES = RUN_FILES.offsiteAdapterValues;

export type OffsiteMetric = OffsiteSummary['metric'];

// The recorded step outputs' shapes live with offsite-state.json's schema.
type Evaluation = OffsiteEvaluation;
type GradientStep = OffsiteGradientStep;
type TuneStep = OffsiteTuneStep;

/** The settings the recorded steps depend on (evaluation cadence, batch size of evaluation and fullFinetune excluded). */
export function offsiteFingerprint(config: OffsiteConfig): string {
  const { evalEvery: _e, checkpointEvery: _c, evalBatchSize: _b, evalGenerationTokens: _g, evalBeams: _n, ...train } = config.train;
  const { fullFinetune: _f, ...offsite } = config.offsite;
  return JSON.stringify({ task: 'offsite', model: config.model, data: config.data, ...loraSettings(config), train, offsite });
}

/**
 * The run folder's offsite-state.json (empty when there is none), checked readable and written with this config's
 * settings; throws a TaskError at `resume` otherwise. The worker calls it before it writes anything into the folder.
 */
export function openOffsiteState(config: OffsiteConfig, runDir: string): StepState {
  try {
    return StepState.open(runDir, offsiteFingerprint(config));
  } catch (e) {
    throw new TaskError(e instanceof Error ? e.message : String(e), 'resume');
  }
}

/** The peft block's LoRA settings, used when adapterPeft is lora. */
function loraSettings(config: OffsiteConfig): Pick<AdapterSpec, 'lora'> {
  const p = config.peft;
  if (config.offsite.adapterPeft !== 'lora' || p.method !== 'lora') return {};
  return { lora: { r: p.r, alpha: p.alpha, dropout: p.dropout, rsLora: p.rsLora } };
}

// A loop, not Math.max(...): a spread of ~125k examples overflows the call stack.
const longest = (examples: readonly TokenExample[]): number => maxBy(examples, (e) => e.ids.length);

/** `examples` in batches of `batchSize` rows at one length (a shorter last batch has its own shape). */
function supportBatches(examples: readonly TokenExample[], batchSize: number, padId: number): TrainBatch[] {
  const seq = longest(examples);
  const out: TrainBatch[] = [];
  for (let i = 0; i < examples.length; i += batchSize) out.push(makeBatch(examples.slice(i, i + batchSize), seq, padId));
  return out;
}

/** A task-level error from an engine error: `offsite.x.y: ...` messages get their JSON path as `where`. */
function asTaskError(e: unknown, fallbackWhere: string): TaskError {
  if (e instanceof TaskError) return e;
  const message = e instanceof Error ? e.message : String(e);
  const key = /^(offsite(?:\.[A-Za-z]+)+):/.exec(message)?.[1];
  return new TaskError(message, key !== undefined ? `$.${key}` : fallbackWhere);
}

/** diagnostics.json from the emulator's modules and losses and, once measured, the adapters' gradient agreement. */
export function offsiteDiagnostics(emulator: EmulatorDiagnostics, heldOut: { full: number; emulator: number } | undefined, before?: GradientStep, after?: GradientStep): DiagnosticsFile {
  const adapters: AdapterDiagnostic[] = before === undefined || after === undefined ? [] : before.names.map((name, i) => ({
    name, cosineBefore: before.cosine[i] ?? Number.NaN, cosineAfter: after.cosine[i] ?? Number.NaN,
    relErrorBefore: before.relError[i] ?? Number.NaN, relErrorAfter: after.relError[i] ?? Number.NaN,
  }));
  const modules = emulator.modules.map(({ gcs, ...m }) => ({ ...m, kept: [...m.kept], singularValues: [...m.singularValues], ...(gcs === null ? {} : { gcs: [...gcs] }) }));
  const support = emulator.loss;
  return {
    adapters, modules,
    loss: {
      ...(support === undefined ? {} : { full: support.full, emulator: support.emulator, privacyGap: support.emulator - support.full, data: 'support' }),
      ...(heldOut === undefined ? {} : { heldOutFull: heldOut.full, heldOutEmulator: heldOut.emulator }),
    },
  };
}

/** What the steps share: the config, the run's context and step state, the data, the full model. */
interface OffsiteRun {
  readonly config: OffsiteConfig;
  readonly ctx: RunContext;
  readonly state: StepState;
  readonly data: TaskData;
  readonly full: LoadedModel;
  readonly settings: { device: OffsiteConfig['runtime']['device']; threads: number };
  readonly info: { baseModel: string; modelFamily: string };
}

/** The step result of `emulator`, as offsite-state.json records it. */
type EmulatorStep = NonNullable<OffsiteSteps['emulator']>;

/** The two adapters (emulator and full model, same layers and start), their evaluation and the metric. */
interface OffsiteAdapters {
  readonly emulator: OffsiteAdapter;
  readonly full: OffsiteAdapter;
  /** The adapters' common starting values (LoRA: A from the seed, B = 0; full: dW = 0). */
  readonly start: ReturnType<OffsiteAdapter['snapshot']>;
  readonly trainSeq: number;
  readonly metric: OffsiteMetric;
  evaluate(adapter: OffsiteAdapter): Promise<Evaluation>;
}

/** Step `emulator`: build (and for method ot distil) the emulator into <run>/emulator/, atomically. */
async function buildEmulatorStep(run: OffsiteRun, emulatorDir: string): Promise<EmulatorStep> {
  const { config, ctx, data, full } = run;
  const o = config.offsite;
  return (await run.state.run('emulator', async () => {
    ctx.progress(0.02, `building the ${o.emulator.method} emulator`);
    // A cancelled attempt's distillation records are replaced by the rerun's.
    if (o.emulator.method === 'ot') dropMetricRecords(ctx.runDir, (r) => r.type === 'distill');
    const supportFile = o.emulator.supportData ?? config.data.train;
    const support = supportBatches(data.read(supportFile, o.emulator.supportExamples, '$.offsite.emulator.supportData'), config.train.batchSize, data.padId);
    const tmp = path.join(ctx.runDir, `.${EMULATOR_DIR}.${process.pid}.tmp`);
    fs.rmSync(tmp, { recursive: true, force: true });
    let result;
    try {
      result = await buildEmulator(full, support, {
        method: o.emulator.method, adapterLayers: o.adapterLayers, attentionRankRatio: o.emulator.attentionRankRatio,
        mlpChannelRatio: o.emulator.mlpChannelRatio, keepTopRankRatio: o.emulator.keepTopRankRatio, lambdaAttention: o.emulator.lambdaAttention,
        lambdaMlp: o.emulator.lambdaMlp, keepLayers: o.emulator.keepLayers, seed: config.train.seed,
        session: { executionProvider: run.settings.device, intraOpNumThreads: run.settings.threads },
        distill: o.emulator.distill,
        // OT's distillation (the one emulator that trains): progress within 0.02..0.08 and a loss curve.
        onDistillStep: (r, steps) => {
          ctx.emitMetric({ type: 'distill', step: r.step, loss: r.loss, lr: r.lr, gradNorm: r.gradNorm, ms: r.ms });
          ctx.progress(0.02 + (0.06 * (r.step + 1)) / steps, `ot emulator: distillation step ${r.step + 1}/${steps} loss ${r.loss.toFixed(4)}`);
        },
        throwIfCancelled: () => ctx.throwIfCancelled(),
      }, tmp);
    } catch (e) {
      fs.rmSync(tmp, { recursive: true, force: true });
      if (e instanceof TaskCancelled) throw e;
      if (e instanceof NonFiniteTrainingError) throw new TaskError(`ot emulator distillation: ${e.message}`, '$.offsite.emulator.distill');
      throw asTaskError(e, 'emulator');
    }
    fs.rmSync(emulatorDir, { recursive: true, force: true });
    fs.renameSync(tmp, emulatorDir);
    const { timings } = result;
    // OT's distillation is part of its compression (GradOT's is statistics + SVD + selection + write).
    const compressionSeconds = timings.stats + timings.svd + timings.selection + timings.write + timings.distill;
    ctx.log('info', `${o.emulator.method} emulator: ${result.parameterCount} of ${result.fullParameterCount} parameters, compressed in ${compressionSeconds.toFixed(2)} s` +
      (o.emulator.method === 'ot' ? ` (distillation ${timings.distill.toFixed(2)} s)` : ''));
    const d = result.diagnostics.distillation;
    if (d?.before !== undefined && d.after !== undefined) {
      ctx.log('info', `ot distillation, ${d.steps} steps on the support data: objective ${d.before.total.toFixed(4)} -> ${d.after.total.toFixed(4)} ` +
        `(hidden-state NMSE ${d.before.kd.toFixed(4)} -> ${d.after.kd.toFixed(4)}, LM loss ${d.before.lm.toFixed(4)} -> ${d.after.lm.toFixed(4)})`);
    }
    ctx.artifact(emulatorDir, 'emulator');
    return { parameterCount: result.parameterCount, fullParameterCount: result.fullParameterCount, timings, compressionSeconds, diagnostics: result.diagnostics };
  })).value;
}

/** The adapter on the emulator and on the full model, built from the same start (so both are their base models). */
async function prepareAdapters(run: OffsiteRun, emulator: LoadedModel, opened: { close(): Promise<void> | void }[]): Promise<OffsiteAdapters> {
  const { config, ctx, data } = run;
  const o = config.offsite;
  const t = config.train;
  const spec: AdapterSpec = { peft: o.adapterPeft, adapterLayers: o.adapterLayers, ...loraSettings(config), seed: t.seed };
  const trainSeq = longest(data.train);
  const emuAdapter = new OffsiteAdapter(emulator, spec, run.settings);
  opened.push({ close: () => emuAdapter.dispose() });
  const fullAdapter = new OffsiteAdapter(run.full, spec, run.settings);
  opened.push({ close: () => fullAdapter.dispose() });
  await emuAdapter.build(t.batchSize, trainSeq);
  await fullAdapter.build(t.batchSize, trainSeq);
  const start = emuAdapter.snapshot();
  fullAdapter.assign(start, 'the emulator adapter');
  ctx.log('info', `adapter (${o.adapterPeft}) on layers [${o.adapterLayers.join(', ')}]: ${emuAdapter.groups().length} linear maps, ${emuAdapter.parameterCount()} trainable values`);
  const evalSetup = (adapter: OffsiteAdapter): Parameters<typeof evaluateSetup>[0] => ({
    runner: adapter.runner, evalExamples: data.evalExamples, evalSeq: data.evalExamples === undefined ? 0 : longest(data.evalExamples),
    choices: data.choices, tokenizer: data.tokenizer, padId: data.padId,
  });
  const metric: OffsiteMetric = data.choices !== undefined && data.tokenizer !== undefined ? 'accuracy' : 'perplexity';
  return { emulator: emuAdapter, full: fullAdapter, start, trainSeq, metric, evaluate: (adapter) => evaluateSetup(evalSetup(adapter), config) };
}

/** Step `zeroShot`: the full model and the emulator with the untouched adapter. */
async function evaluateZeroShot(run: OffsiteRun, a: OffsiteAdapters): Promise<{ full: Evaluation; emulator: Evaluation }> {
  return (await run.state.run('zeroShot', async () => {
    run.ctx.progress(0.1, 'zero-shot evaluation of the full model and the emulator');
    return { full: await a.evaluate(a.full), emulator: await a.evaluate(a.emulator) };
  })).value;
}

/** Steps `gradientsBefore` / `gradientsAfter`: adapter-gradient agreement, emulator vs full model, on held-out data. */
async function measureGradientAgreement(run: OffsiteRun, a: OffsiteAdapters, step: 'gradientsBefore' | 'gradientsAfter', progress: number): Promise<GradientStep> {
  const { config, data } = run;
  const diagExamples = (data.evalExamples ?? []).slice(0, config.offsite.diagnosticExamples);
  const diagBatches = heldOutBatches(diagExamples, config.train.batchSize, Math.max(a.trainSeq, longest(diagExamples)), data.padId);
  return (await run.state.run(step, async () => {
    run.ctx.progress(progress, `adapter gradients on held-out data, emulator vs full model (${step === 'gradientsBefore' ? 'before' : 'after'} tuning)`);
    const ge = await heldOutGradients(a.emulator, diagBatches, config.train.seed);
    const gf = await heldOutGradients(a.full, diagBatches, config.train.seed);
    const names = a.full.groups().map((g) => g.name);
    const pairs = names.map((_, i) => gradientAgreement(ge[i] ?? [], gf[i] ?? []));
    return { names, cosine: pairs.map((p) => p.cosine), relError: pairs.map((p) => p.relError) };
  })).value;
}

/** Tunes `adapter` with the Trainer on the training data (phase 'emulator' or 'full'); restarts from its start. */
async function tuneAdapter(run: OffsiteRun, a: OffsiteAdapters, adapter: OffsiteAdapter, phase: 'emulator' | 'full', progressFrom: number, progressTo: number): Promise<TuneStep> {
  const { ctx, data } = run;
  const t = run.config.train;
  // A cancelled attempt's step records of this phase are replaced by the rerun's.
  dropMetricRecords(ctx.runDir, (r) => r.phase === phase);
  const optimizer = createOptimizer(t.optimizer, t.weightDecay);
  const trainer = new Trainer(adapter.runner, optimizer, data.train, a.trainSeq, data.padId, {
    steps: t.steps, batchSize: t.batchSize, gradAccum: t.gradAccum, lr: t.lr, warmupSteps: t.warmupSteps, decay: t.decay,
    maxGradNorm: t.maxGradNorm, seed: t.seed, evalEvery: t.evalEvery, checkpointEvery: 0,
  });
  const steps: StepRecord[] = [];
  try {
    await trainer.run({
      onStep: (r) => {
        steps.push(r);
        ctx.emitMetric({ ...r, phase });
        ctx.progress(progressFrom + ((progressTo - progressFrom) * (r.step + 1)) / t.steps, `${phase}: step ${r.step + 1}/${t.steps} loss ${r.loss.toFixed(4)}`);
      },
      evaluate: async (step) => ctx.emitMetric({ type: 'eval', phase, step, ...(await a.evaluate(adapter)) }),
      checkpoint: () => undefined,
      throwIfCancelled: () => ctx.throwIfCancelled(),
    });
  } catch (e) {
    if (e instanceof NonFiniteTrainingError) throw new TaskError(`${phase} tuning: ${e.message}`, `offsite ${phase} tuning step ${e.step}`);
    throw e;
  }
  const first = steps[0];
  const last = steps[steps.length - 1];
  return {
    steps: steps.length, ...(first === undefined ? {} : { firstLoss: first.loss }), ...(last === undefined ? {} : { finalLoss: last.loss }),
    msPerStep: steps.length > 0 ? steps.reduce((x, r) => x + r.ms, 0) / steps.length : 0,
  };
}

/** Step `tuneEmulator`: the adapter layers tuned on the emulator; their values kept for resuming the later steps. */
async function tuneOnEmulator(run: OffsiteRun, a: OffsiteAdapters): Promise<TuneStep> {
  const valuesFile = path.join(run.ctx.runDir, OFFSITE_ADAPTER_VALUES);
  const tuned = await run.state.run('tuneEmulator', async () => {
    const r = await tuneAdapter(run, a, a.emulator, 'emulator', 0.2, 0.7);
    const tmp = `${valuesFile}.${process.pid}.tmp`;
    a.emulator.saveValues(tmp);
    fs.renameSync(tmp, valuesFile);
    return r;
  });
  if (tuned.skipped) a.emulator.loadValues(valuesFile);
  return tuned.value;
}

/** Step `emulatorFinetuned`: emulator + tuned adapter. */
async function evaluateEmulatorFinetuned(run: OffsiteRun, a: OffsiteAdapters): Promise<Evaluation> {
  return (await run.state.run('emulatorFinetuned', async () => {
    run.ctx.progress(0.72, 'evaluating emulator + adapter');
    return a.evaluate(a.emulator);
  })).value;
}

/** Step `plugIn`: the tuned adapter copied into the full model, written to <run>/adapter/, evaluated. */
async function plugIntoFullModel(run: OffsiteRun, a: OffsiteAdapters, adapterDir: string): Promise<Evaluation> {
  const { ctx } = run;
  a.full.copyFrom(a.emulator);
  return (await run.state.run('plugIn', async () => {
    ctx.progress(0.78, 'plugging the adapter into the full model');
    const tmp = path.join(ctx.runDir, `.${ADAPTER_DIR}.${process.pid}.tmp`);
    fs.rmSync(tmp, { recursive: true, force: true });
    a.full.export(tmp, run.info);
    fs.rmSync(adapterDir, { recursive: true, force: true });
    fs.renameSync(tmp, adapterDir);
    ctx.artifact(adapterDir, 'adapter');
    return a.evaluate(a.full);
  })).value;
}

/** Step `fullFinetune` (offsite.fullFinetune): the upper bound, the same adapter layers tuned on the full model from the same start. */
async function finetuneFullModel(run: OffsiteRun, a: OffsiteAdapters): Promise<{ tune: TuneStep; evaluation: Evaluation }> {
  a.full.assign(a.start, 'the starting values');
  return (await run.state.run('fullFinetune', async () => {
    const tuneRecord = await tuneAdapter(run, a, a.full, 'full', 0.86, 0.98);
    return { tune: tuneRecord, evaluation: await a.evaluate(a.full) };
  })).value;
}

const mean = (xs: readonly number[]): number => (xs.length > 0 ? xs.reduce((a, b) => a + b, 0) / xs.length : Number.NaN);

/** The four offsite numbers (and full FT), the gap and the mean gradient cosines, for summary.json. */
function offsiteTable(config: OffsiteConfig, emu: EmulatorStep, metric: OffsiteMetric, r: {
  zeroShot: { full: Evaluation; emulator: Evaluation }; emulatorFinetuned: Evaluation; plugIn: Evaluation; fullFinetuned?: Evaluation; before: GradientStep; after: GradientStep;
}): OffsiteSummary {
  const o = config.offsite;
  const value = (e: Evaluation): number => (metric === 'accuracy' ? e.evalAccuracy : e.evalPerplexity) ?? Number.NaN;
  const plugValue = value(r.plugIn);
  const emuFtValue = value(r.emulatorFinetuned);
  return {
    metric, fullZeroShot: value(r.zeroShot.full), emulatorZeroShot: value(r.zeroShot.emulator), emulatorFinetuned: emuFtValue, plugIn: plugValue,
    ...(r.fullFinetuned === undefined ? {} : { fullFinetuned: value(r.fullFinetuned) }),
    gap: metric === 'accuracy' ? plugValue - emuFtValue : emuFtValue - plugValue,
    gapDefinition: metric === 'accuracy' ? 'plugIn - emulatorFinetuned (accuracy; larger = more privacy)' : 'emulatorFinetuned - plugIn (perplexity, lower is better; larger = more privacy)',
    method: o.emulator.method, adapterPeft: o.adapterPeft, adapterLayers: o.adapterLayers,
    compressionSeconds: emu.compressionSeconds, emulatorParameters: emu.parameterCount, fullParameters: emu.fullParameterCount,
    meanCosineBefore: mean(r.before.cosine), meanCosineAfter: mean(r.after.cosine),
  };
}

export async function runOffsite(config: OffsiteConfig, ctx: RunContext): Promise<Partial<RunSummary>> {
  const o = config.offsite;
  if (config.data.eval === undefined) throw new TaskError('the offsite task needs data.eval: held-out data for the evaluations and the gradient diagnostics', '$.data.eval');
  if (o.adapterPeft === 'lora' && config.peft.method !== 'lora') {
    throw new TaskError(`offsite adapterPeft "lora" uses the peft block's LoRA settings; peft.method is "${config.peft.method}"`, '$.peft.method');
  }
  const state = openOffsiteState(config, ctx.runDir);
  if (state.completed.length > 0) ctx.log('info', `resuming: steps ${state.completed.join(', ')} already done`);
  ctx.progress(0, `loading ${config.model}`);
  let full: LoadedModel;
  try {
    full = loadModel(config.model);
  } catch (e) {
    throw new TaskError(e instanceof Error ? e.message : String(e), '$.model');
  }
  const opened: { close(): Promise<void> | void }[] = [{ close: () => full.close() }];
  try {
    const run: OffsiteRun = {
      config, ctx, state, full, data: loadTaskData(full, config.data, ctx),
      settings: { device: config.runtime.device, threads: config.runtime.threads }, info: { baseModel: config.model, modelFamily: full.config.family },
    };
    const emulatorDir = path.join(ctx.runDir, EMULATOR_DIR);
    const emu = await buildEmulatorStep(run, emulatorDir);
    const diagnosticsFile = path.join(ctx.runDir, DIAGNOSTICS_FILE);
    const writeDiagnostics = (d: DiagnosticsFile): void => writeJsonAtomic(diagnosticsFile, parseDiagnosticsFile(d, diagnosticsFile));
    writeDiagnostics(offsiteDiagnostics(emu.diagnostics, undefined));
    ctx.throwIfCancelled();

    const emulator = loadModel(emulatorDir);
    opened.push({ close: () => emulator.close() });
    const a = await prepareAdapters(run, emulator, opened);
    const zeroShot = await evaluateZeroShot(run, a);
    ctx.throwIfCancelled();
    const before = await measureGradientAgreement(run, a, 'gradientsBefore', 0.15);
    ctx.throwIfCancelled();
    const tuned = await tuneOnEmulator(run, a);
    ctx.throwIfCancelled();
    const emulatorFinetuned = await evaluateEmulatorFinetuned(run, a);
    ctx.throwIfCancelled();
    const adapterDir = path.join(ctx.runDir, ADAPTER_DIR);
    const plugIn = await plugIntoFullModel(run, a, adapterDir);
    const after = await measureGradientAgreement(run, a, 'gradientsAfter', 0.84);
    writeDiagnostics(offsiteDiagnostics(emu.diagnostics, { full: zeroShot.full.evalLoss ?? Number.NaN, emulator: zeroShot.emulator.evalLoss ?? Number.NaN }, before, after));
    ctx.artifact(diagnosticsFile, 'diagnostics');
    ctx.throwIfCancelled();
    const fullRun = o.fullFinetune ? await finetuneFullModel(run, a) : undefined;

    const offsite = offsiteTable(config, emu, a.metric, { zeroShot, emulatorFinetuned, plugIn, before, after, ...(fullRun === undefined ? {} : { fullFinetuned: fullRun.evaluation }) });
    ctx.log('info', `offsite ${a.metric}: full zero-shot ${offsite.fullZeroShot.toFixed(4)}, emulator zero-shot ${offsite.emulatorZeroShot.toFixed(4)}, ` +
      `emulator fine-tuned ${offsite.emulatorFinetuned.toFixed(4)}, plug-in ${offsite.plugIn.toFixed(4)}, gap ${offsite.gap.toFixed(4)}`);
    const provider = a.full.provider ?? a.emulator.provider;
    return {
      ...(provider === undefined ? {} : { device: { requested: provider.requested, used: provider.used, ...(provider.fallbackReason === undefined ? {} : { fallbackReason: provider.fallbackReason }) } }),
      metrics: {
        compressionSeconds: emu.compressionSeconds, trainableParams: a.emulator.parameterCount(), steps: tuned.steps,
        ...(emu.timings.distill === undefined || o.emulator.method !== 'ot' ? {} : { distillSeconds: emu.timings.distill }),
        ...(tuned.firstLoss === undefined ? {} : { firstLoss: tuned.firstLoss }),
        ...(tuned.finalLoss === undefined ? {} : { finalLoss: tuned.finalLoss }),
        msPerStep: tuned.msPerStep,
        ...(fullRun?.tune.finalLoss === undefined ? {} : { fullFinetuneFinalLoss: fullRun.tune.finalLoss }),
      },
      offsite,
      adapter: adapterDir,
      emulator: emulatorDir,
      diagnostics: diagnosticsFile,
    };
  } catch (e) {
    if (e instanceof TaskCancelled) throw e;
    throw asTaskError(e, 'task offsite');
  } finally {
    for (const r of opened.reverse()) await r.close();
  }
}
