// Layer-granular execution of a per-layer PEFT model (graphs: blocks.ts). A train step runs embed, every layer's
// forward (keeping the activations only of layers the backward will reach), the head in row chunks (loss and its
// gradient),
// then the backward from the top layer down to exactly the lowest layer with a wanted gradient, and stops:
// layers above it without wanted gradients only pass the input gradient on. Frozen weights are read once and
// fed by reference to every session (ORT CPU tensors share the JavaScript buffer), so memory does not grow with
// the number of layers, shape buckets or truncation points; the sessions are one set per layer shape. With
// `recompute` (activation checkpointing) only each block's input is kept and its forward rerun before its
// backward: one more forward per layer, for activations of one layer at a time; with `recompute: 'pass-through'`
// only at the layers a step passes through (the activations kept are the selected layers'). Sessions open on first use, so a
// run holds only the variants its selections run.
import type { TrainBatch } from '../data/batches';
import { partModelBytes, type GraphPart } from '../graph/serialize';
import type { LoadedModel } from '../models/model';
import { dropoutMask, LAYER_SCALE_INPUT, type PerLayerAdapter } from '../peft/perLayer';
import { createSession, hostTensor, type HostTensor, type RuntimeSession, type TensorData } from '../runtime';
import type { Rng } from '../util/random';
import {
  buildEmbedPart, buildHeadPart, buildScoreBlock, buildTrainBlock, executionLayers, GRAD_HIDDEN_INPUT, GRAD_HIDDEN_OUTPUT,
  headChunkRows, HIDDEN_INPUT, HIDDEN_OUTPUT, layerSignature, LOSS_WEIGHT_INPUT, renameLayer, variantGradName, type BackwardKind, type BlockShape, type FloatType,
  type TrainBlockParts,
} from './blocks';
import { IGNORE_INDEX } from '../data/examples';
import { batchFeeds, LOGPROB_OUTPUT, LOSS_OUTPUT, TARGETS_INPUT, type ProviderInfo, type SessionSettings } from './objective';

type FloatArray = Float32Array | Float64Array;

/** One backward pass's plan: what each executed position computes (pure, for tests and the bench). */
export interface BackwardPlan {
  /** Position of the lowest layer the backward reaches (layers.length: no backward at all). */
  readonly lowest: number;
  /** Per position, top down from the last one to `lowest`: the backward variant run there. */
  readonly kinds: readonly BackwardKind[];
}

/**
 * The variants of a backward over `layers` (stored index per position) when `wanted` layers need adapter
 * gradients: down to the lowest wanted position, 'full' at wanted layers above it, 'input' at the others,
 * 'weights' at the lowest (its input gradient is not needed).
 */
export function planBackward(layers: readonly number[], wanted: (layer: number) => boolean): BackwardPlan {
  const lowest = layers.findIndex(wanted);
  if (lowest < 0) return { lowest: layers.length, kinds: [] };
  const kinds: BackwardKind[] = [];
  for (let p = layers.length - 1; p >= lowest; p--) kinds.push(p === lowest ? 'weights' : wanted(layers[p] ?? -1) ? 'full' : 'input');
  return { lowest, kinds };
}

/** Bytes of the activations each variant reads, per layer of one class (from the block graphs' tensor sizes). */
export interface VariantSaves {
  readonly input: number;
  /** What 'full' keeps beyond 'input' (the adapter modules' inputs). */
  readonly fullExtra: number;
}

/**
 * The variant run at the layers a backward passes through without wanting their adapter gradients. 'input'
 * computes grad.hidden_in only, but it is one more session, and ORT's arena keeps each session's peak working
 * memory for reuse; 'full' is open anyway for the wanted layers and keeps only the adapter modules' inputs more.
 * 'full' is chosen when that extra, over every layer of the class, is less than the arena 'input' would add,
 * estimated as twice the activations it reads (its working set is those and their gradients; measured on GPT-2
 * small, bench `ist`: the input session added ~35 MiB to peak RSS for ~17 MiB read per layer). Only a run whose
 * selections skip layers (IST, random, LISA) passes layers through; the gradients of the wanted layers do not
 * depend on the choice.
 */
export function passThroughKind(saves: VariantSaves, layersInClass: number): 'input' | 'full' {
  return saves.fullExtra * layersInClass < 2 * saves.input ? 'full' : 'input';
}

interface ClassSessions {
  readonly representative: number;
  /** Positions (layers in execution order) of this class. */
  readonly size: number;
  /** The train graphs, built once; their sessions open on first use. */
  parts?: TrainBlockParts;
  forward?: Promise<RuntimeSession>;
  plainForward?: Promise<RuntimeSession>;
  score?: Promise<RuntimeSession>;
  backward: Partial<Record<BackwardKind, Promise<RuntimeSession>>>;
  /** The variant of pass-through layers (passThroughKind). */
  passThrough?: 'input' | 'full';
}

export interface BlockStepResult {
  readonly loss: number;
  /** Gradient per adapter input name, for the wanted layers only. */
  readonly grads: Map<string, FloatArray>;
  /** Positions the backward ran through (0 when no gradient was wanted). */
  readonly depth: number;
}

export class BlockExecutor {
  private readonly weights = new Map<string, HostTensor>();
  private readonly buckets = new Map<string, Map<string, ClassSessions>>();
  private readonly singles = new Map<string, Promise<RuntimeSession>>();
  readonly layers: readonly number[];
  private signatures: string[] | undefined;
  provider: ProviderInfo | undefined;
  /** Rows of one head chunk (default headChunkRows: the logits of a chunk within 32 MiB); tests set a few. */
  headRows: number | undefined;
  /** Overrides passThroughKind for every class (tests compare the two). */
  passThrough: 'input' | 'full' | undefined;

  constructor(readonly model: LoadedModel, readonly adapter: PerLayerAdapter, private readonly settings: SessionSettings,
    readonly dtype: FloatType = 'float32') {
    this.layers = executionLayers(model);
  }

  /** Frozen weight `name`, read from the checkpoint once. */
  private weight(name: string): HostTensor {
    let t = this.weights.get(name);
    if (t === undefined) {
      const spec = this.model.weights.spec(name);
      t = hostTensor(name, this.dtype === 'float64' ? this.model.weights.readFloat64(name) : this.model.weights.readFloat32(name), [...spec.shape]);
      this.weights.set(name, t);
    }
    return t;
  }

  /** Bytes of the frozen weights held (each once). */
  weightBytes(): number {
    let n = 0;
    for (const t of this.weights.values()) n += t.data.byteLength;
    return n;
  }

  /**
   * `arena`: ORT's CPU arena and memory pattern reuse a session's working memory from run to run; without them
   * every tensor of every run comes from the process heap, which on GPT-2 small made a layer's run ~60 ms
   * slower (uniform 1842 -> 2173 ms/step, IST 1865 -> 2510). Each arena keeps its own session's peak, so the
   * train sessions keep theirs and the scoring sessions (IST's rollouts, evaluation: every few steps) do not.
   * The train sessions run without ORT's memory pattern: with it, a session's second run allocates one block for
   * the whole planned run while the arena still holds the first run's allocations, so each arena ends up near
   * twice its working set (GPT-2 small, bench `ist`, 10 steps: the head's arena +157 MiB instead of +79; peak RSS
   * uniform 1181 -> 1053 MiB, IST 1186 -> 1036 MiB, median step time unchanged within the noise).
   */
  private open(part: GraphPart, label: string, arena: boolean): Promise<RuntimeSession> {
    // ORT's extended fusions (QuickGelu from SiLU) have float32 kernels only.
    const level = this.dtype === 'float64' ? { graphOptimizationLevel: 'basic' as const } : {};
    // Each session has its own intra-op pool; a step alternates between several sessions, and threads left
    // spinning by the previous one steal the cores of the next (GPT-2 small on 2 cores: 2450 -> 2050 ms/step).
    return createSession({ bytes: partModelBytes(part) }, {
      executionProvider: this.settings.device, intraOpNumThreads: this.settings.threads, label, allowSpinning: false, ...level, memoryPattern: false, ...(arena ? {} : { memoryArena: false }),
    })
      .then((s) => {
        this.provider ??= s.provider;
        return s;
      });
  }

  /** The adapter's modules must exist (built once through a whole-model graph) before the signatures are taken. */
  private classOf(position: number, shape: BlockShape): ClassSessions {
    this.signatures ??= this.layers.map((l) => layerSignature(this.model, this.adapter, l));
    const key = `${shape.batch}|${shape.seq}`;
    let bucket = this.buckets.get(key);
    if (bucket === undefined) {
      bucket = new Map();
      this.buckets.set(key, bucket);
    }
    const sig = this.signatures[position] ?? '';
    let c = bucket.get(sig);
    if (c === undefined) {
      c = { representative: this.layers[position] ?? 0, size: this.signatures.filter((x) => x === sig).length, backward: {} };
      bucket.set(sig, c);
    }
    return c;
  }

  private label(what: string, s: BlockShape): string {
    return `${this.model.config.modelType} ${this.adapter.method} ${what} b${s.batch} s${s.seq}`;
  }

  /** The train graphs of one layer class, built once, and its pass-through variant. */
  private trainParts(c: ClassSessions, s: BlockShape): TrainBlockParts {
    if (c.parts !== undefined) return c.parts;
    const parts = buildTrainBlock(this.model, this.adapter, c.representative, s);
    c.parts = parts;
    const bytes = this.dtype === 'float64' ? 8 : 4;
    const sizeOf = new Map(parts.forward.outputs.map((t) => [t.name, t.size * bytes]));
    const sum = (names: readonly string[]): number => names.reduce((a, n) => a + (sizeOf.get(n) ?? 0), 0);
    const input = sum(parts.savedBy.input ?? []);
    const full = parts.savedBy.full;
    c.passThrough = full === undefined ? 'input' : this.passThrough ?? passThroughKind({ input, fullExtra: sum(full) - input }, c.size);
    return parts;
  }

  private forwardSession(c: ClassSessions, s: BlockShape, plain: boolean): Promise<RuntimeSession> {
    const parts = this.trainParts(c, s);
    if (plain) return (c.plainForward ??= this.open(parts.plainForward, this.label(`layer ${c.representative} forward (no saves)`, s), true));
    return (c.forward ??= this.open(parts.forward, this.label(`layer ${c.representative} forward`, s), true));
  }

  private backwardSession(c: ClassSessions, s: BlockShape, kind: BackwardKind): Promise<RuntimeSession> {
    const part = this.trainParts(c, s).backward[kind];
    if (part === undefined) throw new Error(`layer ${c.representative}: no '${kind}' backward (the layer has no trainable tensor)`);
    return (c.backward[kind] ??= this.open(part, this.label(`layer ${c.representative} backward ${kind}`, s), true));
  }

  /** The variant run at position p of a plan: pass-through layers run their class's choice. */
  private runKind(c: ClassSessions, s: BlockShape, planned: BackwardKind): BackwardKind {
    this.trainParts(c, s);
    return planned === 'input' ? c.passThrough ?? 'input' : planned;
  }

  private single(what: 'embed' | 'head train' | 'head score', s: BlockShape): Promise<RuntimeSession> {
    const key = `${what}|${s.batch}|${s.seq}`;
    let p = this.singles.get(key);
    if (p === undefined) {
      const part = what === 'embed' ? buildEmbedPart(this.model, s)
        : buildHeadPart(this.model, what === 'head train' ? 'train' : 'score', s, this.headRowsFor(s));
      p = this.open(part, this.label(what, s), what !== 'head score');
      this.singles.set(key, p);
    }
    return p;
  }

  private headRowsFor(s: BlockShape): number {
    const tokens = s.batch * s.seq;
    return Math.min(tokens, this.headRows ?? headChunkRows(this.model, tokens));
  }

  private shape(batch: TrainBatch): BlockShape {
    return { batch: batch.batch, seq: batch.seq, dtype: this.dtype };
  }

  /**
   * Opens the sessions of a bucket that a step with every layer wanted runs (embed, head, forward, 'full' and
   * 'weights'); other variants open on first use.
   */
  async prepareTrain(batch: number, seq: number): Promise<void> {
    const s = { batch, seq, dtype: this.dtype };
    await Promise.all([this.single('embed', s), this.single('head train', s)]);
    for (let p = 0; p < this.layers.length; p++) {
      const c = this.classOf(p, s);
      const kinds = Object.keys(this.trainParts(c, s).backward).filter((k): k is BackwardKind => k === 'full' || k === 'weights');
      await Promise.all([this.forwardSession(c, s, this.settings.recompute === true), ...kinds.map((k) => this.backwardSession(c, s, k))]);
    }
  }

  private cast(data: Float32Array): FloatArray {
    return this.dtype === 'float64' ? Float64Array.from(data) : data;
  }

  /** The adapter's inputs (and, with `dropout`, its masks drawn in dropoutMasks() order, as the monolithic graph's). */
  private adapterFeeds(dropout: Rng | undefined, tokens: number): Map<string, HostTensor> {
    const feeds = new Map<string, HostTensor>();
    for (const t of this.adapter.trainables()) feeds.set(t.name, hostTensor(t.name, this.cast(t.data), [...t.dims]));
    const p = this.adapter.dropoutRate;
    if (dropout !== undefined && p > 0) {
      for (const m of this.adapter.dropoutMasks()) feeds.set(m.name, hostTensor(m.name, this.cast(dropoutMask(tokens * m.features, p, dropout)), [tokens, m.features]));
    }
    return feeds;
  }

  /** Feeds for a session's inputs: `given` by name, then adapter tensors and frozen weights of stored layer l. */
  private feeds(session: RuntimeSession, given: Record<string, HostTensor>, adapter: Map<string, HostTensor>, representative: number, l: number): Record<string, HostTensor> {
    const out: Record<string, HostTensor> = {};
    for (const { name } of session.inputs) {
      const g = given[name];
      if (g !== undefined) { out[name] = g; continue; }
      const own = renameLayer(this.model, name, representative, l);
      out[name] = adapter.get(own) ?? this.weight(own);
    }
    return out;
  }

  private read(result: Awaited<ReturnType<RuntimeSession['run']>>, name: string): FloatArray {
    return result.get(name, this.dtype, undefined).data;
  }

  /**
   * Loss and the gradients of the adapter inputs of the layers for which `wanted(layer)` holds, with the dropout
   * masks drawn from `dropout` (none when undefined).
   */
  async trainStep(batch: TrainBatch, dropout: Rng | undefined, wanted: (layer: number) => boolean): Promise<BlockStepResult> {
    const s = this.shape(batch);
    const recompute = this.settings.recompute === true;
    // Layers whose activations are recomputed before their backward instead of kept.
    const rerun = (planned: BackwardKind): boolean => recompute || (this.settings.recompute === 'pass-through' && planned === 'input');
    const tokens = batch.batch * batch.seq;
    const dims = [tokens, this.model.config.hiddenSize];
    const base = batchFeeds(batch);
    const adapter = this.adapterFeeds(dropout, tokens);
    const layerHas = new Set(this.adapter.trainables().map((t) => t.layer));
    const plan = planBackward(this.layers, (l) => layerHas.has(l) && wanted(l));
    const embed = await this.single('embed', s);
    let hidden = this.read(await embed.run(this.feeds(embed, base, adapter, 0, 0)), HIDDEN_OUTPUT);
    const saved: (Record<string, HostTensor> | undefined)[] = [];
    for (let p = 0; p < this.layers.length; p++) {
      const l = this.layers[p] ?? 0;
      const c = this.classOf(p, s);
      const keep = p >= plan.lowest;
      // Without recompute the forward session runs every layer, fetching only what this layer's backward variant
      // reads (a pass-through layer's 'input' needs no adapter input; a layer below the lowest, nothing): one
      // session, one arena, whatever the selection.
      const session = await this.forwardSession(c, s, recompute);
      const input = hostTensor(HIDDEN_INPUT, hidden, dims);
      const planned = plan.kinds[this.layers.length - 1 - p] ?? 'input';
      const kind = keep ? this.runKind(c, s, planned) : 'input';
      const wants = keep && !rerun(planned) ? this.trainParts(c, s).savedBy[kind] ?? [] : [];
      const result = await session.run(this.feeds(session, { ...base, [HIDDEN_INPUT]: input }, adapter, c.representative, l),
        recompute ? undefined : [HIDDEN_OUTPUT, ...wants]);
      hidden = this.read(result, HIDDEN_OUTPUT);
      // The backward reads the block's input too (e.g. the first norm's gradient).
      if (keep) saved[p] = { [HIDDEN_INPUT]: input, ...this.activations(session, result, wants) };
    }
    const head = await this.runHead('train', s, base, adapter, hidden, plan.kinds.length > 0);
    const loss = head.loss;
    const grads = new Map<string, FloatArray>();
    if (plan.kinds.length === 0) return { loss, grads, depth: 0 };
    let dHidden = head.out;
    for (let k = 0; k < plan.kinds.length; k++) {
      const p = this.layers.length - 1 - k;
      const planned = plan.kinds[k] ?? 'input';
      const l = this.layers[p] ?? 0;
      const c = this.classOf(p, s);
      const kind = this.runKind(c, s, planned);
      const session = await this.backwardSession(c, s, kind);
      const acts = rerun(planned) ? await this.recomputed(c, s, base, saved[p] ?? {}, adapter, l, kind) : saved[p];
      const given: Record<string, HostTensor> = { ...base, ...acts, [GRAD_HIDDEN_INPUT]: hostTensor(GRAD_HIDDEN_INPUT, dHidden, dims) };
      const result = await session.run(this.feeds(session, given, adapter, c.representative, l));
      saved[p] = undefined;
      // A pass-through layer run as 'full' computed its adapter gradients too: they are not wanted.
      if (planned !== 'input') {
        for (const t of this.adapter.trainables()) {
          if (t.layer !== l) continue;
          const g = this.read(result, variantGradName(kind, renameLayer(this.model, t.name, l, c.representative)));
          const prev = grads.get(t.name);
          if (prev === undefined) grads.set(t.name, g);
          else for (let i = 0; i < prev.length; i++) prev[i] = (prev[i] ?? 0) + (g[i] ?? 0);
        }
      }
      if (kind !== 'weights') dHidden = this.read(result, variantGradName(kind, HIDDEN_INPUT));
    }
    return { loss, grads, depth: plan.kinds.length };
  }

  /** Activation checkpointing: the block's forward rerun from its kept input, just before its backward. */
  private async recomputed(c: ClassSessions, s: BlockShape, base: Record<string, HostTensor>, kept: Record<string, HostTensor>,
    adapter: Map<string, HostTensor>, l: number, kind: BackwardKind): Promise<Record<string, HostTensor>> {
    const session = await this.forwardSession(c, s, false);
    const wants = this.trainParts(c, s).savedBy[kind] ?? [];
    const result = await session.run(this.feeds(session, { ...base, ...kept }, adapter, c.representative, l), [HIDDEN_OUTPUT, ...wants]);
    return { ...kept, ...this.activations(session, result, wants) };
  }

  private activations(session: RuntimeSession, result: Awaited<ReturnType<RuntimeSession['run']>>, names: readonly string[]): Record<string, HostTensor> {
    const acts: Record<string, HostTensor> = {};
    for (const name of names) acts[name] = result.get(name, session.outputs.find((o) => o.name === name)?.type === 'float32' ? 'float32' : 'float64', undefined);
    return acts;
  }

  /** log p(target) per position [batch * seq] (0 where ignored), in inference mode, with the per-layer scale [L]. */
  async tokenLogprobs(batch: TrainBatch, layerScale: Float32Array): Promise<FloatArray> {
    const s = this.shape(batch);
    const dims = [batch.batch * batch.seq, this.model.config.hiddenSize];
    const base = batchFeeds(batch);
    const adapter = this.adapterFeeds(undefined, 0);
    const embed = await this.single('embed', s);
    let hidden = this.read(await embed.run(this.feeds(embed, base, adapter, 0, 0)), HIDDEN_OUTPUT);
    const L = this.model.config.numLayers;
    for (let p = 0; p < this.layers.length; p++) {
      const l = this.layers[p] ?? 0;
      const c = this.classOf(p, s);
      c.score ??= this.open(buildScoreBlock(this.model, this.adapter, c.representative, s), this.label(`layer ${c.representative} score`, s), false);
      const session = await c.score;
      // The block graph reads the scale entry of its representative layer: every entry carries layer l's.
      const scale = this.dtype === 'float64' ? new Float64Array(L).fill(layerScale[l] ?? 1) : new Float32Array(L).fill(layerScale[l] ?? 1);
      const given = { ...base, [HIDDEN_INPUT]: hostTensor(HIDDEN_INPUT, hidden, dims), [LAYER_SCALE_INPUT]: hostTensor(LAYER_SCALE_INPUT, scale, [L]) };
      hidden = this.read(await session.run(this.feeds(session, given, adapter, c.representative, l)), HIDDEN_OUTPUT);
    }
    const logp = (await this.runHead('score', s, base, adapter, hidden, false)).out;
    return logp;
  }

  /**
   * The head over the residual stream `hidden` [tokens, H] in row chunks (headChunkRows), so the [tokens, vocab]
   * logits never exist whole: train gives the batch's mean loss and (withGrad) its gradient wrt `hidden`, score
   * the log-probability of each target (`out`). Chunks without a kept target are not run (their rows are 0).
   */
  private async runHead(kind: 'train' | 'score', s: BlockShape, base: Record<string, HostTensor>, adapter: Map<string, HostTensor>,
    hidden: FloatArray, withGrad: boolean): Promise<{ loss: number; out: FloatArray }> {
    const session = await this.single(kind === 'train' ? 'head train' : 'head score', s);
    const H = this.model.config.hiddenSize;
    const tokens = s.batch * s.seq;
    const rows = this.headRowsFor(s);
    const targets = base[TARGETS_INPUT]?.data;
    if (!(targets instanceof BigInt64Array)) throw new Error('head: int64 targets expected');
    const ignored = BigInt(IGNORE_INDEX);
    const keptIn = (t: BigInt64Array): number => t.reduce((n, v) => (v === ignored ? n : n + 1), 0);
    const kept = keptIn(targets);
    const make = (n: number): FloatArray => (this.dtype === 'float64' ? new Float64Array(n) : new Float32Array(n));
    const out = make(kind === 'score' ? tokens : withGrad ? tokens * H : 0);
    let loss = 0;
    for (let r0 = 0; r0 < tokens; r0 += rows) {
      const n = Math.min(rows, tokens - r0);
      let h = hidden.subarray(r0 * H, (r0 + n) * H);
      let t = targets.subarray(r0, r0 + n);
      const here = keptIn(t);
      if (here === 0) continue;
      if (n < rows) {
        // The last chunk, padded with zero rows whose targets are ignored (they add nothing to loss or gradient).
        const padded = make(rows * H);
        padded.set(h);
        h = padded;
        const paddedTargets = new BigInt64Array(rows).fill(ignored);
        paddedTargets.set(t);
        t = paddedTargets;
      }
      const given: Record<string, HostTensor> = { ...base, [HIDDEN_INPUT]: hostTensor(HIDDEN_INPUT, h, [rows, H]), [TARGETS_INPUT]: hostTensor(TARGETS_INPUT, t, [rows]) };
      const weight = here / Math.max(kept, 1);
      if (kind === 'train') given[LOSS_WEIGHT_INPUT] = hostTensor(LOSS_WEIGHT_INPUT, this.dtype === 'float64' ? Float64Array.of(weight) : Float32Array.of(weight), []);
      const result = await session.run(this.feeds(session, given, adapter, 0, 0), kind === 'train' && !withGrad ? [LOSS_OUTPUT] : undefined);
      if (kind === 'score') {
        out.set(this.read(result, LOGPROB_OUTPUT).subarray(0, n), r0);
        continue;
      }
      loss += weight * (this.read(result, LOSS_OUTPUT)[0] ?? Number.NaN);
      if (withGrad) out.set(this.read(result, GRAD_HIDDEN_OUTPUT).subarray(0, n * H), r0 * H);
    }
    return { loss: kept > 0 ? loss : 0, out };
  }

  /** Sessions open (embed, heads and each layer shape's block sessions). */
  sessionCount(): number {
    let n = this.singles.size;
    for (const bucket of this.buckets.values()) {
      for (const c of bucket.values()) n += [c.forward, c.plainForward, c.score, ...Object.values(c.backward)].filter((x) => x !== undefined).length;
    }
    return n;
  }

  async dispose(): Promise<void> {
    const all: Promise<RuntimeSession>[] = [...this.singles.values()];
    for (const bucket of this.buckets.values()) {
      for (const c of bucket.values()) all.push(...[c.forward, c.plainForward, c.score, ...Object.values(c.backward)].filter((x): x is Promise<RuntimeSession> => x !== undefined));
    }
    this.singles.clear();
    this.buckets.clear();
    for (const s of all) await (await s).dispose();
  }
}

export type { TensorData };
