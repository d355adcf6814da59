/**
 * Forward-only passes over the support batches: the mean next-token cross-entropy of a model (full or emulator;
 * diagnostics' privacy gap), and the residual-stream output of chosen layers on the real tokens (CRaSh's layer
 * similarity).
 */
import type { TrainBatch } from '../../data/batches';
import { toModelBytes } from '../../graph';
import { crossEntropy } from '../../graph/loss';
import { buildCausalLm, INPUT_NAMES, type FloatType } from '../../models/causalLm';
import type { LoadedModel } from '../../models/model';
import { createSession, hostTensor, type HostTensor, type RuntimeSession, type RuntimeSessionOptions } from '../../runtime';
import { IGNORE_INDEX } from './supportStats';

export interface PassOptions {
  readonly dtype?: FloatType;
  readonly session?: RuntimeSessionOptions;
}

function tokenFeeds(batch: TrainBatch): Record<string, HostTensor> {
  const dims = [batch.batch, batch.seq];
  const i64 = (a: Int32Array) => BigInt64Array.from(a, (v) => BigInt(v));
  return {
    [INPUT_NAMES.inputIds]: hostTensor(INPUT_NAMES.inputIds, i64(batch.ids), dims),
    [INPUT_NAMES.attentionMask]: hostTensor(INPUT_NAMES.attentionMask, i64(batch.mask), dims),
    [INPUT_NAMES.positionIds]: hostTensor(INPUT_NAMES.positionIds, i64(batch.positions), dims),
  };
}

async function withSessions<T>(
  build: (batch: TrainBatch) => Uint8Array, label: string, options: PassOptions,
  body: (session: (batch: TrainBatch) => Promise<RuntimeSession>) => Promise<T>,
): Promise<T> {
  const sessions = new Map<string, RuntimeSession>();
  const get = async (batch: TrainBatch): Promise<RuntimeSession> => {
    const key = `${batch.batch}x${batch.seq}`;
    let s = sessions.get(key);
    if (s === undefined) {
      s = await createSession({ bytes: build(batch) }, {
        label: `${label} b${batch.batch} s${batch.seq}`,
        ...(options.dtype === 'float64' ? { graphOptimizationLevel: 'basic' as const } : {}),
        ...options.session,
      });
      sessions.set(key, s);
    }
    return s;
  };
  try {
    return await body(get);
  } finally {
    for (const s of sessions.values()) await s.dispose();
  }
}

/** Mean cross-entropy over all target tokens of the batches (each batch's mean weighted by its target count). */
export async function supportLoss(model: LoadedModel, batches: readonly TrainBatch[], options: PassOptions = {}): Promise<number> {
  const dtype = options.dtype ?? 'float32';
  const build = (batch: TrainBatch): Uint8Array => {
    const graph = buildCausalLm(model, { batch: batch.batch, seq: batch.seq, dtype });
    const b = graph.builder;
    const n = batch.batch * batch.seq;
    const loss = crossEntropy(b, b.reshape(graph.logits, [n, model.config.vocabSize]), b.input('targets', 'int64', [n]), { ignoreIndex: IGNORE_INDEX });
    b.output(loss, 'loss');
    return toModelBytes(b);
  };
  return withSessions(build, `${model.config.modelType} support loss`, options, async (session) => {
    let sum = 0;
    let count = 0;
    for (const batch of batches) {
      let n = 0;
      for (const t of batch.targets) if (t !== IGNORE_INDEX) n += 1;
      if (n === 0) continue;
      const out = await (await session(batch)).run({
        ...tokenFeeds(batch),
        targets: hostTensor('targets', BigInt64Array.from(batch.targets, (v) => BigInt(v)), [batch.batch * batch.seq]),
      });
      sum += n * (out.get('loss', dtype, []).data[0] ?? Number.NaN);
      count += n;
    }
    if (count === 0) throw new Error('support loss: the batches have no target tokens');
    return sum / count;
  });
}

/**
 * The residual stream after each of `layers` (original layer indices, full model) on the first `maxTokens` real
 * tokens of the batches: one Float64Array [tokens, hidden] per layer, same tokens for all.
 */
export async function collectLayerOutputs(
  model: LoadedModel, batches: readonly TrainBatch[], layers: readonly number[], maxTokens: number, options: PassOptions = {},
): Promise<{ outputs: Float64Array[]; tokens: number }> {
  const dtype = options.dtype ?? 'float32';
  const H = model.config.hiddenSize;
  const build = (batch: TrainBatch): Uint8Array => {
    const graph = buildCausalLm(model, { batch: batch.batch, seq: batch.seq, dtype });
    layers.forEach((l, i) => {
      const t = graph.layerOutputs[l];
      if (t === undefined) throw new Error(`layer outputs: layer ${l} is not in the model`);
      graph.builder.output(t, `layer_output.${i}`);
    });
    return toModelBytes(graph.builder);
  };
  return withSessions(build, `${model.config.modelType} layer outputs`, options, async (session) => {
    const rows: number[][] = layers.map(() => []);
    let tokens = 0;
    for (const batch of batches) {
      if (tokens >= maxTokens) break;
      const out = await (await session(batch)).run(tokenFeeds(batch));
      const data = layers.map((_, i) => out.get(`layer_output.${i}`, dtype, [batch.batch * batch.seq, H]).data);
      for (let t = 0; t < batch.batch * batch.seq && tokens < maxTokens; t++) {
        if (batch.mask[t] !== 1) continue;
        data.forEach((d, i) => {
          const r = rows[i] as number[];
          for (let j = 0; j < H; j++) r.push(d[t * H + j] as number);
        });
        tokens += 1;
      }
    }
    return { outputs: rows.map((r) => Float64Array.from(r)), tokens };
  });
}
