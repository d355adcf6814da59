/**
 * The model owner's side of offsite-tuning (DESIGN.md "Offsite-tuning and GradOT"; issue 7): build an emulator
 * from a model and support batches, training-free, and write it as a loadable checkpoint folder.
 *
 *   gradot        statistics pass (g, A, G per middle-layer map), DRD on q/k/v/o (GPT-2: c_attn's q, k, v parts
 *                 and c_proj), SCP on the MLP;
 *   svd           magnitude SVD of the same projections + magnitude channel pruning (no statistics);
 *   uniform-drop  OT-dagger: keep `keepLayers` middle layers (uniformLayerDrop);
 *   ot            OT: the uniform-drop emulator, its kept middle layers then distilled from the full model's
 *                 middle block on the support data (distill.ts; the one method here that trains);
 *   crash         cluster the middle layers by linear CKA of their outputs on the support data, keep each
 *                 cluster's representative and repeat it over the cluster (crashPlan).
 * Adapter layers and embeddings are copied unchanged.
 */
import type { TrainBatch } from '../../data/batches';
import { loadModel, type LoadedModel } from '../../models/model';
import { Rng } from '../../util/random';
import { layerSimilarityMatrix, crashPlan, uniformLayerDrop } from '../layer-drop';
import { collectLayerOutputs, supportLoss } from '../stats/supportPasses';
import { collectSupportStats } from '../stats/supportStats';
import { intermediateSize, layerModules, layerPrefix, middleLayers } from '../stats/modules';
import type { LinearStats } from '../gcs';
import { asOutIn, attentionMaps, magnitudeAttention, magnitudeMlp, weightOnly, type Timer } from './compress';
import { drdAttentionFast, scpMlpFast, svdFastAll } from './fastDrd';
import { SpectrumWorker } from '../../linalg/spectrumWorker';
import { OrtProducts } from '../../linalg/ortProducts';
import { writeEmulatorCheckpoint, type LayerCompression } from './checkpoint';
import { DISTILL_DEFAULTS, distillEmulator, type DistillResult } from './distill';
import { EMULATOR_METHODS, type EmulatorOptions, type EmulatorPhase, type EmulatorResult, type ModuleDiagnostics } from './types';

const DEFAULTS = { attentionRankRatio: 0.5, mlpChannelRatio: 0.5, keepTopRankRatio: 0.05, lambdaAttention: 1, lambdaMlp: 1, similarityTokens: 256 };

interface PhaseTimer extends Timer {
  readonly timings: Record<EmulatorPhase, number>;
  timeAsync<T>(phase: EmulatorPhase, f: () => Promise<T>): Promise<T>;
  timeAny<T>(phase: EmulatorPhase, f: () => T): T;
}

function phaseTimer(): PhaseTimer {
  const timings: Record<EmulatorPhase, number> = { stats: 0, svd: 0, selection: 0, write: 0, distill: 0, evaluate: 0 };
  const timeAny = <T>(phase: EmulatorPhase, f: () => T): T => {
    const t0 = performance.now();
    try {
      return f();
    } finally {
      timings[phase] += (performance.now() - t0) / 1000;
    }
  };
  return {
    timings,
    time: timeAny,
    timeAny,
    async timeAsync(phase, f) {
      const t0 = performance.now();
      try {
        return await f();
      } finally {
        timings[phase] += (performance.now() - t0) / 1000;
      }
    },
  };
}

function keepLayersOf(options: EmulatorOptions, middle: number): number {
  const k = options.keepLayers;
  if (k === undefined || !Number.isInteger(k) || k < 1 || k > middle) {
    throw new Error(`offsite.emulator.keepLayers: ${options.method} needs an integer in [1, ${middle}] (the middle layers), got ${k}`);
  }
  return k;
}

function attentionDiagnostics(prefix: string, layer: number, a: LayerCompression['attention'][number]): ModuleDiagnostics {
  return {
    name: `${prefix}${a.path}`, layer, kind: 'attention', fullRank: a.fullRank, keptRank: a.kept.length, kept: a.kept,
    singularValues: [...a.singularValues], gcs: a.gcs === null ? null : [...a.gcs],
  };
}

/** Builds the emulator of `model` into `dir` (created; files replaced). */
export async function buildEmulator(model: LoadedModel, support: readonly TrainBatch[], options: EmulatorOptions, dir: string): Promise<EmulatorResult> {
  if (!(EMULATOR_METHODS as readonly string[]).includes(options.method)) {
    throw new Error(`offsite.emulator.method: "${options.method}" is not one of ${EMULATOR_METHODS.join(', ')}`);
  }
  const o = {
    attentionRankRatio: options.attentionRankRatio ?? DEFAULTS.attentionRankRatio,
    mlpChannelRatio: options.mlpChannelRatio ?? DEFAULTS.mlpChannelRatio,
    keepTopRankRatio: options.keepTopRankRatio ?? DEFAULTS.keepTopRankRatio,
    lambdaAttention: options.lambdaAttention ?? DEFAULTS.lambdaAttention,
    lambdaMlp: options.lambdaMlp ?? DEFAULTS.lambdaMlp,
    similarityTokens: options.similarityTokens ?? DEFAULTS.similarityTokens,
  };
  const config = model.config;
  const L = config.numLayers;
  const middle = middleLayers(L, options.adapterLayers);
  const [bottom, top] = options.adapterLayers;
  const timer = phaseTimer();
  const pass = { ...(options.dtype !== undefined ? { dtype: options.dtype } : {}), ...(options.session !== undefined ? { session: options.session } : {}) };
  const compressed = new Map<number, LayerCompression>();
  const modules: ModuleDiagnostics[] = [];
  let storedSources = Array.from({ length: L }, (_, i) => i);
  let layerMap = storedSources;
  let fullLoss: number | undefined;
  const mods = layerModules(config);
  const inter = intermediateSize(config);
  const H = config.hiddenSize;

  const mlpDiagnostics = (layer: number, kept: number[], gcs: Float64Array | null): ModuleDiagnostics => ({
    name: `${layerPrefix(config, layer)}mlp`, layer, kind: 'mlp', fullRank: inter, keptRank: kept.length, kept,
    singularValues: [], gcs: gcs === null ? null : [...gcs], fullChannels: inter, keptChannels: kept.length,
  });

  switch (options.method) {
    case 'gradot': {
      const stats = await timer.timeAsync('stats', () => collectSupportStats(model, support, { layers: middle, ...pass }));
      fullLoss = stats.loss;
      const ort = new OrtProducts(options.session);
      const spectra = new SpectrumWorker();
      try {
        const byPathOf = (prefix: string) => (rel: string): LinearStats => {
          const s = stats.maps.get(`${prefix}${rel}`);
          if (s === undefined) throw new Error(`GradOT: no statistics for ${prefix}${rel}`);
          return s;
        };
        const maps = middle.map((l) => attentionMaps(config, byPathOf(layerPrefix(config, l))));
        // All attention SVDs first, pipelined with the spectrum worker (svdFastAll).
        const svds = await timer.timeAsync('svd', () => svdFastAll(maps.flat().map((m) => m.stats), ort, spectra.solve));
        let next = 0;
        for (const [li, l] of middle.entries()) {
          const prefix = layerPrefix(config, l);
          const byPath = byPathOf(prefix);
          const attention = [];
          for (const m of maps[li] ?? []) {
            attention.push(await drdAttentionFast(m, { attentionRankRatio: o.attentionRankRatio, keepTopRankRatio: o.keepTopRankRatio, lambda: o.lambdaAttention }, ort, timer, svds[next++]));
          }
          const mlp = await scpMlpFast({ up: byPath(mods.mlp.up), ...(mods.mlp.gate !== undefined ? { gate: byPath(mods.mlp.gate) } : {}), down: byPath(mods.mlp.down) }, o.mlpChannelRatio, o.lambdaMlp, ort, timer);
          compressed.set(l, { attention, mlp });
          modules.push(...attention.map((a) => attentionDiagnostics(prefix, l, a)), mlpDiagnostics(l, mlp.kept, mlp.gcs));
        }
      } finally {
        await ort.dispose();
        await spectra.dispose();
      }
      break;
    }
    case 'svd': {
      const rng = new Rng(options.seed ?? 0);
      for (const l of middle) {
        const prefix = layerPrefix(config, l);
        const weight = (rel: string, out: number, inF: number) => asOutIn(model.weights.readFloat64(`${prefix}${rel}.weight`), mods.layout, out, inF);
        const shapes = new Map(mods.attention.map((rel) => [rel, shapeOf(model, `${prefix}${rel}.weight`, mods.layout)]));
        const byPath = (rel: string): LinearStats => {
          const [out, inF] = shapes.get(rel) ?? [0, 0];
          return weightOnly(weight(rel, out, inF), out, inF);
        };
        const attention = attentionMaps(config, byPath).map((m) => magnitudeAttention(m, o.attentionRankRatio, rng, timer));
        const mlp = magnitudeMlp({
          up: weight(mods.mlp.up, inter, H),
          ...(mods.mlp.gate !== undefined ? { gate: weight(mods.mlp.gate, inter, H) } : {}),
          down: weight(mods.mlp.down, H, inter),
        }, H, inter, o.mlpChannelRatio, timer);
        compressed.set(l, { attention, mlp });
        modules.push(...attention.map((a) => attentionDiagnostics(prefix, l, a)), mlpDiagnostics(l, mlp.kept, null));
      }
      break;
    }
    case 'uniform-drop':
    case 'ot': {
      const keep = keepLayersOf(options, middle.length);
      const kept = timer.timeAny('selection', () => uniformLayerDrop(middle.length, keep).map((i) => middle[i] as number));
      storedSources = [...Array.from({ length: bottom }, (_, i) => i), ...kept, ...Array.from({ length: top }, (_, i) => L - top + i)];
      layerMap = storedSources.map((_, i) => i);
      break;
    }
    case 'crash': {
      const keep = keepLayersOf(options, middle.length);
      const { outputs, tokens } = await timer.timeAsync('stats', () => collectLayerOutputs(model, support, middle, o.similarityTokens, pass));
      const plan = timer.timeAny('selection', () => crashPlan(layerSimilarityMatrix(outputs, tokens, H), middle.length, keep));
      const reps = plan.representatives.map((i) => middle[i] as number);
      storedSources = [...Array.from({ length: bottom }, (_, i) => i), ...reps, ...Array.from({ length: top }, (_, i) => L - top + i)];
      const storedIndex = (source: number) => storedSources.indexOf(source);
      layerMap = [
        ...Array.from({ length: bottom }, (_, i) => i),
        ...plan.layerMap.map((i) => storedIndex(middle[i] as number)),
        ...Array.from({ length: top }, (_, i) => bottom + reps.length + i),
      ];
      break;
    }
  }

  const written = timer.timeAny('write', () => writeEmulatorCheckpoint(model, {
    method: options.method, adapterLayers: [bottom, top], storedSources, layerMap, compressed,
  }, dir));
  let distilled: DistillResult | undefined;
  if (options.method === 'ot') {
    const settings = { ...DISTILL_DEFAULTS, ...options.distill };
    const kept = keepLayersOf(options, middle.length);
    distilled = await distillEmulator(model, dir, support, {
      teacherLast: L - top - 1, studentLayers: Array.from({ length: kept }, (_, i) => bottom + i),
    }, {
      settings, seed: options.seed ?? 0, measure: options.evaluateLoss ?? true,
      ...(options.session !== undefined ? { session: options.session } : {}),
      onStep: (r) => options.onDistillStep?.(r, settings.steps),
      ...(options.throwIfCancelled !== undefined ? { throwIfCancelled: options.throwIfCancelled } : {}),
    });
    timer.timings.distill += distilled.trainSeconds;
    timer.timings.evaluate += distilled.measureSeconds;
  }
  let loss: { full: number; emulator: number } | undefined;
  if (options.evaluateLoss ?? true) {
    loss = await timer.timeAsync('evaluate', async () => {
      const full = fullLoss ?? await supportLoss(model, support, pass);
      const emulator = loadModel(dir);
      try {
        return { full, emulator: await supportLoss(emulator, support, pass) };
      } finally {
        emulator.close();
      }
    });
  }
  return {
    dir,
    diagnostics: {
      modules, ...(loss !== undefined ? { loss } : {}),
      ...(distilled === undefined ? {} : {
        distillation: {
          steps: distilled.steps, seconds: distilled.trainSeconds,
          ...(distilled.before === undefined ? {} : { before: distilled.before }), ...(distilled.after === undefined ? {} : { after: distilled.after }),
        },
      }),
    },
    timings: timer.timings,
    parameterCount: written.parameterCount,
    fullParameterCount: model.weights.parameterCount(),
  };
}

/** [out, in] of a stored weight. */
function shapeOf(model: LoadedModel, name: string, layout: 'out_in' | 'in_out'): [number, number] {
  const [a, b] = model.weights.spec(name).shape;
  if (a === undefined || b === undefined) throw new Error(`${name}: expected a matrix`);
  return layout === 'out_in' ? [a, b] : [b, a];
}
