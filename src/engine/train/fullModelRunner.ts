// Full-parameter training of a causal LM (every checkpoint weight trainable: the built-in lab's pretraining).
// The graphs take every weight as an input (causalLm.ts `weightInputs`), so autodiff returns a gradient for each
// and the trainer's optimizer updates the host copies in place; the same host copies feed the score graph.
// Tied embeddings are one input used twice (Gather and the LM head), so their gradient is the sum of both uses.
import { gradients } from '../graph/autodiff';
import { toModelBytes } from '../graph/serialize';
import type { TrainBatch } from '../data/batches';
import { buildCausalLm } from '../models/causalLm';
import type { LoadedModel } from '../models/model';
import { expectedWeights, type WeightSpec } from '../models/weights';
import { createSession, hostTensor, type HostTensor, type RuntimeSession } from '../runtime';
import type { Rng } from '../util/random';
import { batchFeeds, declareObjective, gradOutputName, LOGPROB_OUTPUT, LOSS_OUTPUT, meanTargetLoss, type ProviderInfo, type SessionSettings } from './objective';
import type { PeftRunner } from './runner';

/** The decoder layer a weight belongs to (`.layers.{l}.` / `.h.{l}.`), or -1 for embeddings, final norm and head. */
export function weightLayer(name: string): number {
  const m = /\.(?:layers|h)\.(\d+)\./.exec(name);
  return m === null ? -1 : Number(m[1]);
}

export class FullModelRunner implements PeftRunner {
  private readonly sessions = new Map<string, Promise<RuntimeSession>>();
  private readonly specs: WeightSpec[];
  private readonly values: Float32Array[];
  provider: ProviderInfo | undefined;

  /** Starts from the model's stored weights (read once into float32 host copies). */
  constructor(readonly model: LoadedModel, private readonly settings: SessionSettings) {
    if (model.config.emulator !== undefined) throw new Error(`${model.dir}: full-parameter training of an emulator checkpoint is not supported`);
    // Tied heads have no lm_head tensor of their own: expectedWeights lists only what the checkpoint stores.
    this.specs = expectedWeights(model.config);
    this.values = this.specs.map((s) => model.weights.readFloat32(s.name));
  }

  get layerCount(): number {
    return this.model.config.numLayers;
  }

  /** The weights in gradient order, as named tensors (to save a checkpoint). */
  namedWeights(): { name: string; shape: readonly number[]; data: Float32Array }[] {
    return this.specs.map((s, i) => ({ name: s.name, shape: s.shape, data: this.values[i] ?? new Float32Array(0) }));
  }

  parameters(): Float32Array[] {
    return this.values;
  }

  /** Embeddings count as layer 0 and the final norm and head as the last layer (only layer selection reads this). */
  parameterLayers(): number[] {
    const last = this.layerCount - 1;
    return this.specs.map((s) => {
      const l = weightLayer(s.name);
      return l >= 0 ? l : s.name.includes('embed') || s.name.includes('wte') || s.name.includes('wpe') ? 0 : last;
    });
  }

  parameterCount(): number {
    return this.values.reduce((a, v) => a + v.length, 0);
  }

  private session(kind: 'train' | 'score', batch: number, seq: number): Promise<RuntimeSession> {
    const key = `${kind}|${batch}|${seq}`;
    let s = this.sessions.get(key);
    if (s === undefined) {
      const graph = buildCausalLm(this.model, { batch, seq, weightInputs: kind === 'train' ? 'trainable' : 'frozen' });
      const b = graph.builder;
      const loss = declareObjective(b, b.reshape(graph.logits, [batch * seq, this.model.config.vocabSize]), kind, 'float32');
      if (loss !== undefined) gradients(b, loss);
      const label = `${this.model.config.modelType} full ${kind} b${batch} s${seq}`;
      s = createSession({ bytes: toModelBytes(b) }, { executionProvider: this.settings.device, intraOpNumThreads: this.settings.threads, label })
        .then((session) => {
          this.provider ??= session.provider;
          return session;
        });
      this.sessions.set(key, s);
    }
    return s;
  }

  private weightFeeds(): Record<string, HostTensor> {
    const feeds: Record<string, HostTensor> = {};
    this.specs.forEach((s, i) => {
      feeds[s.name] = hostTensor(s.name, this.values[i] ?? new Float32Array(0), [...s.shape]);
    });
    return feeds;
  }

  /** Loss and the gradient of every weight; the model has no dropout, and `gradFromLayer` is not used. */
  async trainStep(batch: TrainBatch, _dropout: Rng): Promise<{ loss: number; grads: Float32Array[] }> {
    const session = await this.session('train', batch.batch, batch.seq);
    const result = await session.run({ ...batchFeeds(batch), ...this.weightFeeds() });
    const loss = result.get(LOSS_OUTPUT, 'float32', []).data[0] ?? Number.NaN;
    const grads = this.specs.map((s) => result.get(gradOutputName(s.name), 'float32', [...s.shape]).data);
    return { loss, grads };
  }

  async tokenLogprobs(batch: TrainBatch, layerScale?: Float32Array): Promise<Float32Array> {
    if (layerScale !== undefined && layerScale.some((v) => v !== 1)) throw new Error('full-parameter training has no PEFT output to scale');
    const session = await this.session('score', batch.batch, batch.seq);
    const result = await session.run({ ...batchFeeds(batch), ...this.weightFeeds() });
    return result.get(LOGPROB_OUTPUT, 'float32', [batch.batch * batch.seq]).data;
  }

  async meanLoss(batch: TrainBatch, layerScale?: Float32Array): Promise<number> {
    return meanTargetLoss(batch, await this.tokenLogprobs(batch, layerScale));
  }

  generate(): Promise<number[][]> {
    return Promise.reject(new Error('generation during full-parameter training is not supported: save the weights and load them as a model'));
  }

  async dispose(): Promise<void> {
    const all = [...this.sessions.values()];
    this.sessions.clear();
    for (const s of all) await (await s).dispose();
  }
}

