// The graphs a LoRA run needs, on one static [batch, seq] bucket each:
//  - train: loss = mean cross-entropy over the kept next-token targets, plus dL/dA, dL/dB of every LoRA module
//    (autodiff only reaches the LoRA inputs: the base weights are initializers, never differentiated);
//  - score: the log-probability of each target token [batch * seq] (0 where the target is ignored), for
//    perplexity, multiple-choice log-likelihoods and IST's suppression rollouts (score graphs built by the runner
//    take a per-layer LoRA scale input [L], 1 normally).
// Sparse layer training (IST and its baselines): a train graph built with `gradFromLayer` = l differentiates only
// the LoRA inputs of layers >= l, so the backward pass stops at layer l (autodiff only emits the nodes on paths
// from the loss to `wrt`; below l nothing is differentiated at all). The runner keeps one train session per
// (batch, seq, l), at most L per bucket; differentiating exactly the selected set would need one session per
// subset (C(L, n) of them), while the extra cost of this scheme is only the small dA/dB products of the unselected
// layers above l: the activation gradient must pass through those layers anyway to reach layer l.
import { gradients } from '../graph/autodiff';
import type { GraphBuilder } from '../graph/builder';
import { crossEntropy } from '../graph/loss';
import { toModelBytes } from '../graph/serialize';
import { IGNORE_INDEX } from '../data/examples';
import type { TrainBatch } from '../data/batches';
import { buildCausalLm, INPUT_NAMES } from '../models/causalLm';
import type { LoadedModel } from '../models/model';
import { dropoutMask, LORA_LAYER_SCALE_INPUT, loraInputNames, type LoraAdapter } from '../peft/lora';
import { createSession, hostTensor, type HostTensor, type RuntimeSession } from '../runtime';
import type { Rng } from '../util/random';
import type { PeftRunner } from './runner';

export const TARGETS_INPUT = 'targets';
export const LOSS_OUTPUT = 'loss';
export const LOGPROB_OUTPUT = 'token_logprob';

export interface LoraGraphOptions {
  readonly batch: number;
  readonly seq: number;
  readonly kind: 'train' | 'score';
  readonly dtype?: 'float32' | 'float64';
  /** Apply LoRA dropout (train graphs; default true for train). */
  readonly dropout?: boolean;
  /** Train graphs: differentiate only the LoRA inputs of layers >= this (default 0: all). */
  readonly gradFromLayer?: number;
  /** Add the per-layer LoRA scale input LORA_LAYER_SCALE_INPUT [model layers] (default false). */
  readonly layerScale?: boolean;
}

/** Builds the graph; the adapter's modules are created on the first build. */
export function buildLoraGraph(model: LoadedModel, lora: LoraAdapter, o: LoraGraphOptions): GraphBuilder {
  const dtype = o.dtype ?? 'float32';
  const sites: string[] = [];
  const hook = lora.hook({
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
  lora.assertMatched(sites);
  const b = graph.builder;
  const n = o.batch * o.seq;
  const logits = b.reshape(graph.logits, [n, model.config.vocabSize]);
  const targets = b.input(TARGETS_INPUT, 'int64', [n]);
  if (o.kind === 'train') {
    const loss = crossEntropy(b, logits, targets, { ignoreIndex: IGNORE_INDEX });
    b.output(loss, LOSS_OUTPUT);
    const from = o.gradFromLayer ?? 0;
    if (from === 0) {
      gradients(b, loss);
    } else {
      const names = new Set(lora.ordered().filter((m) => m.layer >= from).flatMap((m) => {
        const n = loraInputNames(m.path);
        return [n.a, n.b];
      }));
      if (names.size === 0) throw new Error(`LoRA train graph: no adapted module in layers >= ${from}`);
      gradients(b, loss, { wrt: b.trainableInputs.filter((t) => names.has(t.name)) });
    }
  } else {
    b.untaped(() => {
      const logp = b.logSoftmax(logits, 1);
      const keep = b.not(b.equal(targets, IGNORE_INDEX));
      const safe = b.unsqueeze(b.where(keep, targets, 0), [1]);
      const [picked] = b.emit('GatherElements', [logp, safe], [{ dtype, shape: [n, 1] }], { axis: { kind: 'int', value: 1 } });
      b.output(b.mul(b.reshape(picked, [n]), b.cast(keep, dtype)), LOGPROB_OUTPUT);
    });
  }
  return b;
}

export function gradOutputName(inputName: string): string {
  return `grad.${inputName}`;
}

const i64 = (a: Int32Array): BigInt64Array => BigInt64Array.from(a, (v) => BigInt(v));

/** Feeds for the token inputs and targets of a batch. */
export function batchFeeds(batch: TrainBatch): Record<string, HostTensor> {
  const dims = [batch.batch, batch.seq];
  return {
    [INPUT_NAMES.inputIds]: hostTensor(INPUT_NAMES.inputIds, i64(batch.ids), dims),
    [INPUT_NAMES.attentionMask]: hostTensor(INPUT_NAMES.attentionMask, i64(batch.mask), dims),
    [INPUT_NAMES.positionIds]: hostTensor(INPUT_NAMES.positionIds, i64(batch.positions), dims),
    [TARGETS_INPUT]: hostTensor(TARGETS_INPUT, i64(batch.targets), [batch.batch * batch.seq]),
  };
}

export interface SessionSettings {
  readonly device: 'auto' | 'cpu' | 'cuda' | 'webgpu';
  readonly threads: number;
}

export interface ProviderInfo {
  readonly requested: string;
  readonly used: string;
  readonly fallbackReason?: string;
}

/** Float32 sessions for train and score graphs, one per (kind, batch, seq), fed with the adapter's current weights. */
export class LoraRunner implements PeftRunner {
  private readonly sessions = new Map<string, Promise<RuntimeSession>>();
  provider: ProviderInfo | undefined;

  constructor(readonly model: LoadedModel, readonly lora: LoraAdapter, private readonly settings: SessionSettings) {}

  /**
   * Builds (once) the graph for a bucket; building the first one creates the adapter's modules. Train sessions
   * differentiate the layers >= gradFromLayer only; score sessions take the per-layer LoRA scale input.
   */
  session(kind: 'train' | 'score', batch: number, seq: number, gradFromLayer = 0): Promise<RuntimeSession> {
    const from = kind === 'train' ? gradFromLayer : 0;
    const key = `${kind}|${batch}|${seq}|${from}`;
    let s = this.sessions.get(key);
    if (s === undefined) {
      const b = buildLoraGraph(this.model, this.lora, { kind, batch, seq, gradFromLayer: from, layerScale: kind === 'score' });
      const label = `${this.model.config.modelType} lora ${kind} b${batch} s${seq}${from > 0 ? ` from layer ${from}` : ''}`;
      s = createSession({ bytes: toModelBytes(b) }, { executionProvider: this.settings.device, intraOpNumThreads: this.settings.threads, label })
        .then((session) => {
          this.provider ??= session.provider;
          return session;
        });
      this.sessions.set(key, s);
    }
    return s;
  }

  private weightFeeds(dropout: Rng | undefined, tokens: number): Record<string, HostTensor> {
    const feeds: Record<string, HostTensor> = {};
    const { r, dropout: p } = this.lora.spec;
    for (const m of this.lora.ordered()) {
      const names = loraInputNames(m.path);
      feeds[names.a] = hostTensor(names.a, m.a, [r, m.inFeatures]);
      feeds[names.b] = hostTensor(names.b, m.b, [m.outFeatures, r]);
      if (dropout !== undefined && p > 0) feeds[names.mask] = hostTensor(names.mask, dropoutMask(tokens * m.inFeatures, p, dropout), [tokens, m.inFeatures]);
    }
    return feeds;
  }

  /**
   * Loss and gradients (in the order of lora.ordered(): A then B per module) on one batch. With gradFromLayer
   * = l > 0 only modules of layers >= l get gradients; the others' entries are empty arrays (length 0).
   */
  async trainStep(batch: TrainBatch, dropout: Rng, gradFromLayer = 0): Promise<{ loss: number; grads: Float32Array[] }> {
    const session = await this.session('train', batch.batch, batch.seq, gradFromLayer);
    const result = await session.run({ ...batchFeeds(batch), ...this.weightFeeds(dropout, batch.batch * batch.seq) });
    const loss = result.get(LOSS_OUTPUT, 'float32', []).data[0] ?? Number.NaN;
    const grads: Float32Array[] = [];
    for (const m of this.lora.ordered()) {
      if (m.layer < gradFromLayer) {
        grads.push(new Float32Array(0), new Float32Array(0));
        continue;
      }
      const names = loraInputNames(m.path);
      grads.push(result.get(gradOutputName(names.a), 'float32', [this.lora.spec.r, m.inFeatures]).data);
      grads.push(result.get(gradOutputName(names.b), 'float32', [m.outFeatures, this.lora.spec.r]).data);
    }
    return { loss, grads };
  }

  /** Number of decoder layers (the length of the per-layer LoRA scale). */
  get layerCount(): number {
    return this.model.config.numLayers;
  }

  /**
   * log p(target) per position [batch * seq], 0 where the target is ignored, in inference mode (no dropout).
   * `layerScale` [L] multiplies each layer's LoRA output (default all 1).
   */
  async tokenLogprobs(batch: TrainBatch, layerScale?: Float32Array): Promise<Float32Array> {
    const session = await this.session('score', batch.batch, batch.seq);
    const L = this.layerCount;
    const scale = layerScale ?? new Float32Array(L).fill(1);
    if (scale.length !== L) throw new Error(`${LORA_LAYER_SCALE_INPUT}: ${scale.length} values for a model of ${L} layers`);
    const result = await session.run({ ...batchFeeds(batch), ...this.weightFeeds(undefined, 0), [LORA_LAYER_SCALE_INPUT]: hostTensor(LORA_LAYER_SCALE_INPUT, scale, [L]) });
    return result.get(LOGPROB_OUTPUT, 'float32', [batch.batch * batch.seq]).data;
  }

  /** Mean cross-entropy over the kept targets (as the train graph's loss), in float64, with the given layer scale. */
  async meanLoss(batch: TrainBatch, layerScale?: Float32Array): Promise<number> {
    const logp = await this.tokenLogprobs(batch, layerScale);
    let sum = 0;
    let kept = 0;
    batch.targets.forEach((t, i) => {
      if (t === IGNORE_INDEX) return;
      sum -= logp[i] ?? 0;
      kept += 1;
    });
    return kept > 0 ? sum / kept : 0;
  }

  /** Parameters in gradient order. */
  parameters(): Float32Array[] {
    return this.lora.ordered().flatMap((m) => [m.a, m.b]);
  }

  /** The decoder layer of each parameter, in gradient order. */
  parameterLayers(): number[] {
    return this.lora.ordered().flatMap((m) => [m.layer, m.layer]);
  }

  async dispose(): Promise<void> {
    const all = [...this.sessions.values()];
    this.sessions.clear();
    for (const s of all) await (await s).dispose();
  }
}
