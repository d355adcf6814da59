/**
 * GradOT's statistics pass (DESIGN.md "Offsite-tuning and GradOT"; issue 7): one forward/backward pass over the
 * support batches that collects, for every linear map y = W x of the given (middle) layers,
 *   g = dL/dW (autodiff with respect to the frozen initializer),
 *   A = E[x x^T] over tokens (in-graph x^T x, so no [tokens, in] activations leave ORT),
 *   G = E[dy dy^T] over tokens (in-graph dy^T dy of the output-gradient hook dy = dL/dy),
 * with L the mean next-token cross-entropy over the target tokens.
 *
 * Normalisation (kfac.ts module comment): expectations are per input token, over the real (attention_mask = 1)
 * tokens of all batches; x rows of padding tokens are masked out of A. A batch with n_b target tokens has loss
 * L_b = (1/n_b) sum_t l_t, so its hook gives dy = (1/n_b) dl/dy; G uses n_b dy (scale = n_b undoes the mean), i.e.
 * the per-token empirical Fisher factor of the summed loss. Over batches, L = (sum_b n_b L_b) / (sum_b n_b) (the
 * mean over all support target tokens), so g = sum_b n_b g_b / sum_b n_b and loss likewise.
 * All matrices are returned as [out, in] (GPT-2 Conv1D weights [in, out] are transposed), in float64.
 * Support batches of one sequence length are run together (runGroups: their rows concatenated, up to
 * MAX_RUN_TOKENS tokens a run): a run's loss is the mean over its target tokens, so the scales above hold with n_b
 * the run's target count. With several runs the sums are accumulated inside the graph (each run takes the running
 * sums as inputs and returns them updated), so the large [inter, inter] factors of the MLPs never pass through
 * JavaScript loops; a single run has no running-sum inputs.
 */
import type { TrainBatch } from '../../data/batches';
import { gradients, toModelBytes, type GraphBuilder, type Tensor } from '../../graph';
import { crossEntropy } from '../../graph/loss';
import { buildCausalLm, INPUT_NAMES, type FloatType } from '../../models/causalLm';
import type { LoadedModel } from '../../models/model';
import { createSession, hostTensor, type HostTensor, type RuntimeSession, type RuntimeSessionOptions } from '../../runtime';
import type { LinearStats } from '../gcs';
import { symmetricMean } from '../kfac';
import { transpose } from '../../linalg/dense';

export const IGNORE_INDEX = -100;
const TARGETS = 'targets';
const LOSS = 'loss';

/** One linear map's statistics with where it sits. */
export interface LinearMapStats extends LinearStats {
  /** Hugging Face module path, e.g. `transformer.h.2.attn.c_attn`. */
  readonly path: string;
  /** Original layer index. */
  readonly layer: number;
  readonly module: string;
  readonly layout: 'out_in' | 'in_out';
}

export interface SupportStats {
  /** By module path, in graph order. */
  readonly maps: Map<string, LinearMapStats>;
  /** Mean cross-entropy over all support target tokens. */
  readonly loss: number;
  readonly targetTokens: number;
  /** Real (unpadded) input tokens: the count behind A and G. */
  readonly inputTokens: number;
}

export interface SupportStatsOptions {
  /** Layers whose linear maps are measured. */
  readonly layers: readonly number[];
  /** Graph compute type (default float32; float64 for checks). */
  readonly dtype?: FloatType;
  readonly session?: RuntimeSessionOptions;
  /** Tokens of one run at most (default MAX_RUN_TOKENS; batches bigger than this run alone). */
  readonly maxRunTokens?: number;
}

interface Site {
  readonly path: string;
  readonly layer: number;
  readonly module: string;
  readonly layout: 'out_in' | 'in_out';
  readonly inFeatures: number;
  readonly outFeatures: number;
}

const names = {
  grad: (path: string) => `stats.g.${path}`,
  input: (path: string) => `stats.A.${path}`,
  output: (path: string) => `stats.G.${path}`,
  /** The running sum fed back in for output `name`. */
  running: (name: string) => `sum.${name}`,
  gradScale: 'scale.g',
  outputScale: 'scale.G',
};

/** sum_rows (r r^T) of v [rows, d] as a [d, d] graph tensor (Gemm with transA; no 1/n, batches are summed in TS). */
function gram(b: GraphBuilder, v: Tensor): Tensor {
  return b.gemm(v, v, undefined, { transA: true });
}

/** Tokens (rows x seq) of one statistics run at most: bounds the [tokens, vocab] logits and their gradient. */
export const MAX_RUN_TOKENS = 2048;

/** The batches as runs: consecutive-in-order batches of one sequence length, rows concatenated up to `maxTokens`. */
export function runGroups(batches: readonly TrainBatch[], maxTokens = MAX_RUN_TOKENS): TrainBatch[] {
  const bySeq = new Map<number, TrainBatch[][]>();
  for (const b of batches) {
    let groups = bySeq.get(b.seq);
    if (groups === undefined) bySeq.set(b.seq, (groups = [[]]));
    let last = groups[groups.length - 1] as TrainBatch[];
    const rows = last.reduce((n, x) => n + x.batch, 0);
    if (last.length > 0 && (rows + b.batch) * b.seq > maxTokens) groups.push((last = []));
    last.push(b);
  }
  return [...bySeq.values()].flat().map((group) => (group.length === 1 ? group[0] as TrainBatch : concatBatches(group)));
}

function concatBatches(group: readonly TrainBatch[]): TrainBatch {
  const cat = (pick: (b: TrainBatch) => Int32Array): Int32Array => {
    const out = new Int32Array(group.reduce((n, b) => n + pick(b).length, 0));
    let at = 0;
    for (const b of group) {
      out.set(pick(b), at);
      at += pick(b).length;
    }
    return out;
  };
  return {
    batch: group.reduce((n, b) => n + b.batch, 0), seq: (group[0] as TrainBatch).seq,
    ids: cat((b) => b.ids), mask: cat((b) => b.mask), positions: cat((b) => b.positions), targets: cat((b) => b.targets),
    tokens: group.reduce((n, b) => n + b.tokens, 0),
  };
}

function buildStatsGraph(
  model: LoadedModel, batch: number, seq: number, layers: ReadonlySet<number>, dtype: FloatType, running: boolean,
): { bytes: Uint8Array; sites: Site[] } {
  const sites: Site[] = [];
  const captured: { site: Site; x: Tensor; y: Tensor; weight: Tensor }[] = [];
  const graph = buildCausalLm(model, {
    batch, seq, dtype,
    linearHook: (_g, s) => {
      const y = s.base();
      if (layers.has(s.layer)) {
        const site: Site = { path: s.path, layer: s.layer, module: s.module, layout: s.layout, inFeatures: s.inFeatures, outFeatures: s.outFeatures };
        sites.push(site);
        captured.push({ site, x: s.x, y, weight: s.weight });
      }
      return y;
    },
  });
  const b = graph.builder;
  const n = batch * seq;
  const logits = b.reshape(graph.logits, [n, model.config.vocabSize]);
  const loss = crossEntropy(b, logits, b.input(TARGETS, 'int64', [n]), { ignoreIndex: IGNORE_INDEX });
  b.output(loss, LOSS);
  const mask = b.cast(b.reshape(graph.attentionMask, [n, 1]), dtype);
  const gradScale = b.input(names.gradScale, dtype, []);
  const outputScale = b.input(names.outputScale, dtype, []);
  // running + increment, declared as the output `name` (the caller feeds it back as `sum.<name>`).
  const accumulate = (name: string, increment: Tensor): void => {
    b.output(running ? b.add(b.input(names.running(name), dtype, increment.shape), increment) : increment, name);
  };
  for (const c of captured) accumulate(names.input(c.site.path), gram(b, b.mul(c.x, mask)));
  const { grads, hookGrads } = gradients(b, loss, { wrt: captured.map((c) => c.weight), hooks: captured.map((c) => c.y), addOutputs: false });
  for (const c of captured) {
    const g = grads.get(c.weight);
    const dy = hookGrads.get(c.y);
    if (g === undefined || dy === undefined) throw new Error(`stats graph: no gradient for ${c.site.path}`);
    accumulate(names.grad(c.site.path), b.mul(g, gradScale));
    accumulate(names.output(c.site.path), b.mul(gram(b, dy), outputScale));
  }
  return { bytes: toModelBytes(b), sites };
}

/** A stored-layout matrix as [out, in] float64, divided by `divisor` (float32 values convert exactly). */
function asOutIn(stored: Float32Array | Float64Array, s: Site, divisor: number): Float64Array {
  const { outFeatures: m, inFeatures: n } = s;
  if (s.layout === 'out_in') {
    const out = new Float64Array(stored);
    if (divisor !== 1) for (let i = 0; i < out.length; i++) out[i] = (out[i] as number) / divisor;
    return out;
  }
  return transpose(stored, n, m, divisor); // stored [in, out]
}

function feeds(batch: TrainBatch): Record<string, HostTensor> {
  const dims = [batch.batch, batch.seq];
  const i64 = (a: Int32Array) => BigInt64Array.from(a, (v) => BigInt(v));
  return {
    [INPUT_NAMES.inputIds]: hostTensor(INPUT_NAMES.inputIds, i64(batch.ids), dims),
    [INPUT_NAMES.attentionMask]: hostTensor(INPUT_NAMES.attentionMask, i64(batch.mask), dims),
    [INPUT_NAMES.positionIds]: hostTensor(INPUT_NAMES.positionIds, i64(batch.positions), dims),
    [TARGETS]: hostTensor(TARGETS, i64(batch.targets), [batch.batch * batch.seq]),
  };
}

function countTargets(batch: TrainBatch): number {
  let n = 0;
  for (const t of batch.targets) if (t !== IGNORE_INDEX) n += 1;
  return n;
}

/** Runs the statistics pass (see the module comment). */
export async function collectSupportStats(model: LoadedModel, batches: readonly TrainBatch[], options: SupportStatsOptions): Promise<SupportStats> {
  if (batches.length === 0) throw new Error('support statistics: no support batches');
  const dtype = options.dtype ?? 'float32';
  const layerSet = new Set(options.layers);
  const sessions = new Map<string, { session: RuntimeSession; sites: Site[] }>();
  let sites: Site[] | undefined;
  /** Running sums by output name (stored-layout g, A, G), fed back into the next run. */
  const sums = new Map<string, { data: Float32Array | Float64Array; dims: number[] }>();
  let lossSum = 0;
  let targetTokens = 0;
  let inputTokens = 0;
  const zeros = (n: number) => (dtype === 'float64' ? new Float64Array(n) : new Float32Array(n));
  const storedShape = (s: Site) => (s.layout === 'out_in' ? [s.outFeatures, s.inFeatures] : [s.inFeatures, s.outFeatures]);
  const shapes = (s: Site): [string, number[]][] => [
    [names.grad(s.path), storedShape(s)], [names.input(s.path), [s.inFeatures, s.inFeatures]], [names.output(s.path), [s.outFeatures, s.outFeatures]],
  ];
  for (const [bi, batch] of batches.entries()) {
    if (countTargets(batch) === 0) throw new Error(`support batch ${bi}: no target tokens (every target is ${IGNORE_INDEX})`);
  }
  const runs = runGroups(batches, options.maxRunTokens);
  const accumulated = runs.length > 1;
  try {
    for (const [bi, batch] of runs.entries()) {
      const key = `${batch.batch}x${batch.seq}`;
      let entry = sessions.get(key);
      if (entry === undefined) {
        const built = buildStatsGraph(model, batch.batch, batch.seq, layerSet, dtype, accumulated);
        const session = await createSession({ bytes: built.bytes }, {
          label: `${model.config.modelType} GradOT statistics b${batch.batch} s${batch.seq}`,
          ...(dtype === 'float64' ? { graphOptimizationLevel: 'basic' as const } : {}),
          ...options.session,
        });
        entry = { session, sites: built.sites };
        sessions.set(key, entry);
      }
      if (sites === undefined) {
        sites = entry.sites;
        if (sites.length === 0) throw new Error(`support statistics: no linear map in layers [${options.layers.join(', ')}]`);
        if (accumulated) for (const s of sites) for (const [name, shape] of shapes(s)) sums.set(name, { data: zeros(shape.reduce((a, d) => a * d, 1)), dims: shape });
      }
      const n = countTargets(batch);
      let real = 0;
      for (const m of batch.mask) real += m;
      const scalar = (name: string, v: number) => hostTensor(name, dtype === 'float64' ? Float64Array.of(v) : Float32Array.of(v), []);
      const running: Record<string, HostTensor> = {};
      for (const [name, t] of sums) running[names.running(name)] = hostTensor(names.running(name), t.data, t.dims);
      const out = await entry.session.run({
        ...feeds(batch), ...running, [names.gradScale]: scalar(names.gradScale, n), [names.outputScale]: scalar(names.outputScale, n * n),
      });
      const lossValue = out.get(LOSS, dtype, []).data[0] ?? Number.NaN;
      if (!Number.isFinite(lossValue)) throw new Error(`support run ${bi} (${batch.batch} x ${batch.seq} tokens): loss is ${lossValue}`);
      lossSum += n * lossValue;
      targetTokens += n;
      inputTokens += real;
      for (const s of sites) {
        for (const [name, shape] of shapes(s)) {
          if (!out.names.includes(name)) throw new Error(`support run ${bi}: ${s.path} was not in the first run's graph`);
          sums.set(name, { data: out.get(name, dtype, shape).data, dims: shape });
        }
      }
    }
  } finally {
    for (const { session } of sessions.values()) await session.dispose();
  }
  // kfacFactor's E[r r^T] = sum / count, straight from the graph's sums (no float64 accumulator copy).
  if (inputTokens === 0) throw new Error('KFAC: no rows were accumulated');
  const factor = (name: string, dim: number): Float64Array => symmetricMean(sums.get(name)?.data ?? new Float64Array(dim * dim), dim, inputTokens);
  const maps = new Map<string, LinearMapStats>();
  for (const s of sites ?? []) {
    const gSum = sums.get(names.grad(s.path))?.data ?? new Float64Array(s.outFeatures * s.inFeatures);
    // [out, in] float64 in one pass each (transposing GPT-2's [in, out] Conv1D layout on the way).
    const g = asOutIn(gSum, s, targetTokens);
    const weight = asOutIn(model.weights.readFloat32(`${s.path}.weight`), s, 1);
    maps.set(s.path, {
      path: s.path, layer: s.layer, module: s.module, layout: s.layout,
      outFeatures: s.outFeatures, inFeatures: s.inFeatures, weight, grad: g,
      inputFactor: factor(names.input(s.path), s.inFeatures),
      outputFactor: factor(names.output(s.path), s.outFeatures),
    });
  }
  return { maps, loss: lossSum / targetTokens, targetTokens, inputTokens };
}
