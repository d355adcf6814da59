// The graphs a run of a per-layer PEFT method (LoRA, bottleneck adapters: peft/perLayer.ts) needs, on one static
// [batch, seq] bucket each:
//  - train: loss = mean cross-entropy over the kept next-token targets, plus the gradient of every adapter input
//    (autodiff only reaches the adapter inputs: the base weights are initializers, never differentiated);
//  - score: the log-probability of each target token [batch * seq] (0 where the target is ignored), for
//    perplexity, multiple-choice log-likelihoods and IST's suppression rollouts (score graphs built by the runner
//    take the per-layer scale input LAYER_SCALE_INPUT [L], 1 normally).
// Sparse layer training (IST and its baselines): a train graph built with `gradFromLayer` = l differentiates only
// the adapter inputs of layers >= l, so the backward pass stops at layer l (autodiff only emits the nodes on paths
// from the loss to `wrt`; below l nothing is differentiated at all). The runner keeps one train session per
// (batch, seq, l), at most L per bucket; differentiating exactly the selected set would need one session per
// subset (C(L, n) of them), while the extra cost of this scheme is only the small weight-gradient products of the
// unselected layers above l: the activation gradient must pass through those layers anyway to reach layer l.
import { gradients } from '../graph/autodiff';
import type { GraphBuilder } from '../graph/builder';
import { toModelBytes } from '../graph/serialize';
import type { TrainBatch } from '../data/batches';
import { buildCausalLm } from '../models/causalLm';
import { beamSearch } from '../models/beamSearch';
import { generate } from '../models/generate';
import type { LoadedModel } from '../models/model';
import { dropoutMask, LAYER_SCALE_INPUT, type PerLayerAdapter } from '../peft/perLayer';
import { createSession, hostTensor, type HostTensor, type RuntimeSession } from '../runtime';
import type { Rng } from '../util/random';
import { BlockExecutor } from './blockRunner';
import { batchFeeds, declareObjective, gradOutputName, LOGPROB_OUTPUT, LOSS_OUTPUT, meanTargetLoss, type ProviderInfo, type SessionSettings } from './objective';
import type { GenerationRequest, PeftRunner } from './runner';

export { batchFeeds, declareObjective, gradOutputName, LOGPROB_OUTPUT, LOSS_OUTPUT, meanTargetLoss, TARGETS_INPUT, type ProviderInfo, type SessionSettings } from './objective';

export interface PeftGraphOptions {
  readonly batch: number;
  readonly seq: number;
  readonly kind: 'train' | 'score';
  readonly dtype?: 'float32' | 'float64';
  /** Apply the adapter's dropout (train graphs; default true for train). */
  readonly dropout?: boolean;
  /** Train graphs: differentiate only the adapter inputs of layers >= this (default 0: all). */
  readonly gradFromLayer?: number;
  /** Add the per-layer scale input LAYER_SCALE_INPUT [model layers] (default false). */
  readonly layerScale?: boolean;
}

/** Builds the graph; the adapter's modules are created on the first build. */
export function buildPeftGraph(model: LoadedModel, adapter: PerLayerAdapter, o: PeftGraphOptions): GraphBuilder {
  const dtype = o.dtype ?? 'float32';
  const sites: string[] = [];
  const hook = adapter.hook({
    train: o.kind === 'train' && (o.dropout ?? true), dtype,
    ...(o.layerScale === true ? { layerScaleCount: model.config.numLayers } : {}),
  });
  const graph = buildCausalLm(model, {
    batch: o.batch, seq: o.seq, dtype,
    linearHook: (g, site) => {
      sites.push(site.module);
      return hook(g, site);
    },
  });
  adapter.assertMatched(sites);
  const b = graph.builder;
  const loss = declareObjective(b, b.reshape(graph.logits, [o.batch * o.seq, model.config.vocabSize]), o.kind, dtype);
  if (loss !== undefined) {
    const from = o.gradFromLayer ?? 0;
    if (from === 0) {
      gradients(b, loss);
    } else {
      const names = new Set(adapter.trainables().filter((t) => t.layer >= from).map((t) => t.name));
      if (names.size === 0) throw new Error(`${adapter.method} train graph: no adapted module in layers >= ${from}`);
      gradients(b, loss, { wrt: b.trainableInputs.filter((t) => names.has(t.name)) });
    }
  }
  return b;
}

/**
 * Float32 train steps and scoring of a per-layer PEFT model, fed with the adapter's current weights: layer by
 * layer (BlockExecutor) by default, or through monolithic sessions, one per (kind, batch, seq, gradFromLayer),
 * which `session()` always builds (tests compare the two). LoraRunner and BottleneckRunner are this class for
 * their adapter.
 */
export class PeftSessionRunner<A extends PerLayerAdapter> implements PeftRunner {
  private readonly sessions = new Map<string, Promise<RuntimeSession>>();
  private readonly blocks: BlockExecutor | undefined;
  private modulesBuilt = false;
  private graphProvider: ProviderInfo | undefined;

  constructor(readonly model: LoadedModel, readonly adapter: A, private readonly settings: SessionSettings) {
    this.blocks = (settings.execution ?? 'blocks') === 'blocks' ? new BlockExecutor(model, adapter, settings) : undefined;
  }

  get provider(): ProviderInfo | undefined {
    return this.graphProvider ?? this.blocks?.provider;
  }

  /** Creates the adapter's modules (a whole-model graph, not serialised, visits every site in graph order). */
  ensureModules(): void {
    if (this.modulesBuilt || this.adapter.trainables().length > 0) {
      this.modulesBuilt = true;
      return;
    }
    buildPeftGraph(this.model, this.adapter, { kind: 'score', batch: 1, seq: 1 });
    this.modulesBuilt = true;
  }

  /**
   * Creates the adapter's modules and the train sessions of a bucket (LoRA: A Kaiming-uniform from the seed,
   * B = 0), so the first step is not slower than the others and graph errors surface before training.
   */
  async prepare(batch: number, seq: number): Promise<void> {
    this.ensureModules();
    if (this.blocks === undefined) await this.session('train', batch, seq);
    else await this.blocks.prepareTrain(batch, seq);
  }

  /**
   * Builds (once) the graph for a bucket; building the first one creates the adapter's modules. Train sessions
   * differentiate the layers >= gradFromLayer only; score sessions take the per-layer scale input.
   */
  session(kind: 'train' | 'score', batch: number, seq: number, gradFromLayer = 0): Promise<RuntimeSession> {
    const from = kind === 'train' ? gradFromLayer : 0;
    const key = `${kind}|${batch}|${seq}|${from}`;
    let s = this.sessions.get(key);
    if (s === undefined) {
      const b = buildPeftGraph(this.model, this.adapter, { kind, batch, seq, gradFromLayer: from, layerScale: kind === 'score' });
      const label = `${this.model.config.modelType} ${this.adapter.method} ${kind} b${batch} s${seq}${from > 0 ? ` from layer ${from}` : ''}`;
      // Without ORT's memory pattern the arena holds one run's allocations, not those and the pattern's block
      // (GPT-2 small LoRA train graph: peak RSS 4683 -> 4096 MiB; blockRunner.ts open() says more).
      s = createSession({ bytes: toModelBytes(b) }, { executionProvider: this.settings.device, intraOpNumThreads: this.settings.threads, label, memoryPattern: false })
        .then((session) => {
          this.graphProvider ??= session.provider;
          return session;
        });
      this.sessions.set(key, s);
    }
    return s;
  }

  private weightFeeds(dropout: Rng | undefined, tokens: number): Record<string, HostTensor> {
    const feeds: Record<string, HostTensor> = {};
    for (const t of this.adapter.trainables()) feeds[t.name] = hostTensor(t.name, t.data, [...t.dims]);
    const p = this.adapter.dropoutRate;
    if (dropout !== undefined && p > 0) {
      for (const m of this.adapter.dropoutMasks()) feeds[m.name] = hostTensor(m.name, dropoutMask(tokens * m.features, p, dropout), [tokens, m.features]);
    }
    return feeds;
  }

  /**
   * Loss and gradients (in the order of adapter.trainables()) on one batch. With gradFromLayer = l > 0 only
   * tensors of layers >= l get gradients; the others' entries are empty arrays (length 0).
   */
  async trainStep(batch: TrainBatch, dropout: Rng, gradFromLayer = 0, layers?: readonly number[]): Promise<{ loss: number; grads: Float32Array[] }> {
    if (this.blocks !== undefined) {
      this.ensureModules();
      const only = layers === undefined ? undefined : new Set(layers);
      const r = await this.blocks.trainStep(batch, dropout, (l) => l >= gradFromLayer && (only?.has(l) ?? true));
      const grads = this.adapter.trainables().map((t) => {
        const g = r.grads.get(t.name);
        return g instanceof Float32Array ? g : new Float32Array(0);
      });
      return { loss: r.loss, grads };
    }
    const session = await this.session('train', batch.batch, batch.seq, gradFromLayer);
    const result = await session.run({ ...batchFeeds(batch), ...this.weightFeeds(dropout, batch.batch * batch.seq) });
    const loss = result.get(LOSS_OUTPUT, 'float32', []).data[0] ?? Number.NaN;
    const grads = this.adapter.trainables().map((t) =>
      (t.layer < gradFromLayer ? new Float32Array(0) : result.get(gradOutputName(t.name), 'float32', [...t.dims]).data));
    return { loss, grads };
  }

  /** Number of decoder layers (the length of the per-layer scale). */
  get layerCount(): number {
    return this.model.config.numLayers;
  }

  /**
   * log p(target) per position [batch * seq], 0 where the target is ignored, in inference mode (no dropout).
   * `layerScale` [L] multiplies each layer's adapter output (default all 1).
   */
  async tokenLogprobs(batch: TrainBatch, layerScale?: Float32Array): Promise<Float32Array> {
    const L = this.layerCount;
    const scale = layerScale ?? new Float32Array(L).fill(1);
    if (scale.length !== L) throw new Error(`${LAYER_SCALE_INPUT}: ${scale.length} values for a model of ${L} layers`);
    if (this.blocks !== undefined) {
      this.ensureModules();
      const logp = await this.blocks.tokenLogprobs(batch, scale);
      return logp instanceof Float32Array ? logp : Float32Array.from(logp);
    }
    const session = await this.session('score', batch.batch, batch.seq);
    const result = await session.run({ ...batchFeeds(batch), ...this.weightFeeds(undefined, 0), [LAYER_SCALE_INPUT]: hostTensor(LAYER_SCALE_INPUT, scale, [L]) });
    return result.get(LOGPROB_OUTPUT, 'float32', [batch.batch * batch.seq]).data;
  }

  /** Mean cross-entropy over the kept targets (as the train graph's loss), in float64, with the given layer scale. */
  async meanLoss(batch: TrainBatch, layerScale?: Float32Array): Promise<number> {
    return meanTargetLoss(batch, await this.tokenLogprobs(batch, layerScale));
  }

  /**
   * Greedy or beam-search generation through the adapter's inference hook, its weights fed as inputs (sessions
   * are built per call: prompt and cache lengths set the shapes).
   */
  async generate(prompts: readonly (readonly number[])[], options: GenerationRequest): Promise<number[][]> {
    const shared = {
      maxNewTokens: options.maxNewTokens,
      ...(options.eosTokenIds === undefined ? {} : { eosTokenIds: options.eosTokenIds }),
      graph: { linearHook: this.adapter.hook({ train: false }) },
      feeds: this.weightFeeds(undefined, 0),
      session: { executionProvider: this.settings.device, intraOpNumThreads: this.settings.threads },
    };
    const beams = options.numBeams ?? 1;
    // One beam is greedy decoding; generate() keeps it bit-for-bit as before beam search existed.
    return (beams > 1 ? await beamSearch(this.model, prompts, { ...shared, numBeams: beams }) : await generate(this.model, prompts, shared)).tokens;
  }

  /** Parameters in gradient order. */
  parameters(): Float32Array[] {
    return this.adapter.trainables().map((t) => t.data);
  }

  /** The decoder layer of each parameter, in gradient order. */
  parameterLayers(): number[] {
    return this.adapter.trainables().map((t) => t.layer);
  }

  async dispose(): Promise<void> {
    await this.blocks?.dispose();
    const all = [...this.sessions.values()];
    this.sessions.clear();
    for (const s of all) await (await s).dispose();
  }
}
