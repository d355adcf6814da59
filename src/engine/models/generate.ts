// Autoregressive generation with a KV cache: one prefill pass over the (left-padded) prompts, then one decode
// graph per step shape, reused every step. The cache is a fixed block of `prompt + maxNewTokens - 1` slots
// per layer; unfilled slots are masked out, so the decode graph has static shapes and is built once.
import { GraphBuilder } from '../graph';
import { hostTensor, type HostTensor, type RuntimeSession, type RuntimeSessionOptions } from '../runtime';
import { padBatch } from './batch';
import { buildCausalLm, INPUT_NAMES, pastInputName, presentOutputName, type CausalLmOptions } from './causalLm';
import { openGraphSession } from './logits';
import type { LoadedModel } from './model';
import { chooseToken, seededRandom, type SamplingOptions } from './sampling';

export interface GenerateOptions extends SamplingOptions {
  readonly maxNewTokens: number;
  /** Stop a row when it produces one of these (default: config.json eos_token_id). */
  readonly eosTokenIds?: readonly number[];
  /** Seed for sampling (default 0). */
  readonly seed?: number;
  /** Keep each step's logits [batch * vocab] (tests, scoring). */
  readonly returnLogits?: boolean;
  readonly session?: RuntimeSessionOptions;
  readonly graph?: Pick<CausalLmOptions, 'linearHook' | 'layers'>;
  /** Extra inputs of graphs built with a linearHook that adds inputs (a PEFT adapter's weights), fed every run. */
  readonly feeds?: Readonly<Record<string, HostTensor>>;
}

export interface GenerateResult {
  /** New tokens per row (the EOS token included when one stopped the row). */
  readonly tokens: number[][];
  readonly stopReasons: ('eos' | 'length')[];
  /** With returnLogits: per step, [batch * vocab] logits that chose that step's tokens. */
  readonly stepLogits?: Float32Array[];
}

export async function generate(model: LoadedModel, prompts: readonly (readonly number[])[], options: GenerateOptions): Promise<GenerateResult> {
  const { maxNewTokens } = options;
  if (!Number.isSafeInteger(maxNewTokens) || maxNewTokens < 1) throw new RangeError(`maxNewTokens must be a positive integer, got ${maxNewTokens}`);
  const c = model.config;
  const eos = new Set(options.eosTokenIds ?? c.eosTokenIds);
  const padId = c.padTokenId ?? c.eosTokenIds[0] ?? 0;
  const prompt = padBatch(prompts, 'left', padId);
  const B = prompt.batch;
  const S = prompt.seq;
  const V = c.vocabSize;
  const slots = S + maxNewTokens - 1;
  const { layerCount, kvHeads, headDim: D } = kvCacheShape(model, options.graph);
  const random = seededRandom(options.seed ?? 0);

  const sessions: RuntimeSession[] = [];
  try {
    const prefill = await openStepSession(model, sessions, { batch: B, seq: S, ...options.graph }, options.session);
    const first = await prefill.run(stepFeeds(options.feeds, B, S, prompt.ids, prompt.mask, prompt.positions));
    // Cache [batch, kvHeads, slots, headDim] per layer; slot s of row b holds the token at padded index s.
    const cache = Array.from({ length: layerCount }, () => ({
      key: new Float32Array(B * kvHeads * slots * D), value: new Float32Array(B * kvHeads * slots * D),
    }));
    const writeCache = (result: Awaited<ReturnType<RuntimeSession['run']>>, firstSlot: number, count: number) => {
      cache.forEach((layer, i) => {
        for (const kind of ['key', 'value'] as const) {
          const present = result.get(presentOutputName(i, kind), 'float32', [B, kvHeads, count, D]).data;
          for (let bh = 0; bh < B * kvHeads; bh++) {
            layer[kind].set(present.subarray(bh * count * D, (bh + 1) * count * D), (bh * slots + firstSlot) * D);
          }
        }
      });
    };
    writeCache(first, 0, S);
    const cacheMask = new Int32Array(B * slots);
    const nextPosition = new Array<number>(B).fill(0);
    for (let b = 0; b < B; b++) {
      for (let s = 0; s < S; s++) cacheMask[b * slots + s] = prompt.mask[b * S + s];
      nextPosition[b] = prompt.lengths[b];
    }
    const tokens: number[][] = Array.from({ length: B }, () => []);
    const stopReasons: ('eos' | 'length')[] = new Array<'eos' | 'length'>(B).fill('length');
    const done = new Array<boolean>(B).fill(false);
    const stepLogits: Float32Array[] = [];
    let logits = first.get('logits', 'float32', [B, 1, V]).data;
    let decode: RuntimeSession | undefined;
    for (let step = 0; step < maxNewTokens; step++) {
      if (options.returnLogits) stepLogits.push(Float32Array.from(logits));
      const next = new Array<number>(B).fill(padId);
      for (let b = 0; b < B; b++) {
        if (done[b]) continue;
        const id = chooseToken(logits.subarray(b * V, (b + 1) * V), options, random);
        tokens[b].push(id);
        next[b] = id;
        if (eos.has(id)) {
          done[b] = true;
          stopReasons[b] = 'eos';
        }
      }
      if (done.every(Boolean) || step === maxNewTokens - 1) break;
      decode ??= await openStepSession(model, sessions, { batch: B, seq: 1, kvCache: { pastLength: slots }, ...options.graph }, options.session);
      const mask = new Int32Array(B * (slots + 1));
      for (let b = 0; b < B; b++) {
        mask.set(cacheMask.subarray(b * slots, (b + 1) * slots), b * (slots + 1));
        mask[b * (slots + 1) + slots] = 1;
      }
      const result = await decode.run(stepFeeds(options.feeds, B, 1, next, mask, nextPosition, { cache, kvHeads, slots, headDim: D }));
      const slot = S + step;
      writeCache(result, slot, 1);
      for (let b = 0; b < B; b++) {
        cacheMask[b * slots + slot] = 1;
        nextPosition[b] += 1;
      }
      logits = result.get('logits', 'float32', [B, 1, V]).data;
    }
    return { tokens, stopReasons, ...(options.returnLogits ? { stepLogits } : {}) };
  } finally {
    for (const s of sessions) await s.dispose();
  }
}

/** The KV cache's shape for `model` run with `graph` options: layers run, key/value heads, head size. */
export function kvCacheShape(model: LoadedModel, graph?: Pick<CausalLmOptions, 'layers'>): { layerCount: number; kvHeads: number; headDim: number } {
  const c = model.config;
  // As buildCausalLm: an emulator checkpoint runs its layer_map unless layers are given.
  const layerCount = (graph?.layers ?? c.emulator?.layerMap ?? Array.from({ length: c.numLayers }, (_, i) => i)).length;
  return { layerCount, kvHeads: c.family === 'llama' ? c.numKvHeads : c.numHeads, headDim: c.headDim };
}

const i64 = (a: ArrayLike<number>): BigInt64Array => BigInt64Array.from(Array.from(a), (v) => BigInt(v));

/**
 * Feeds of one prefill or decode run over `rows` x `seq` tokens: `extra` (adapter weights), token ids, attention
 * mask [rows, maskLength] and positions, and with `past` every layer's cached keys and values [rows, kvHeads, slots, headDim].
 */
export function stepFeeds(extra: Readonly<Record<string, HostTensor>> | undefined, rows: number, seq: number,
  ids: ArrayLike<number>, mask: ArrayLike<number>, positions: ArrayLike<number>,
  past?: { cache: readonly { key: Float32Array; value: Float32Array }[]; kvHeads: number; slots: number; headDim: number }): Record<string, HostTensor> {
  const feeds: Record<string, HostTensor> = {
    ...extra,
    [INPUT_NAMES.inputIds]: hostTensor(INPUT_NAMES.inputIds, i64(ids), [rows, seq]),
    [INPUT_NAMES.attentionMask]: hostTensor(INPUT_NAMES.attentionMask, i64(mask), [rows, mask.length / rows]),
    [INPUT_NAMES.positionIds]: hostTensor(INPUT_NAMES.positionIds, i64(positions), [rows, seq]),
  };
  past?.cache.forEach((layer, i) => {
    const dims = [rows, past.kvHeads, past.slots, past.headDim];
    feeds[pastInputName(i, 'key')] = hostTensor(pastInputName(i, 'key'), layer.key, dims);
    feeds[pastInputName(i, 'value')] = hostTensor(pastInputName(i, 'value'), layer.value, dims);
  });
  return feeds;
}

/**
 * Builds the graph (logits of the last position, present keys/values as outputs) and opens a session on it,
 * added to `sessions` for the caller to dispose (shared with beamSearch.ts).
 */
export async function openStepSession(model: LoadedModel, sessions: RuntimeSession[], options: CausalLmOptions, sessionOptions?: RuntimeSessionOptions): Promise<RuntimeSession> {
  const graph = buildCausalLm(model, { ...options, builder: new GraphBuilder(`${model.config.modelType}_generate_s${options.seq}`) });
  const g = graph.builder;
  g.output(g.slice(graph.logits, [options.seq - 1], [options.seq], [1]), 'logits');
  graph.present.forEach((kv, i) => {
    g.output(kv.key, presentOutputName(i, 'key'));
    g.output(kv.value, presentOutputName(i, 'value'));
  });
  const s = await openGraphSession(model, g, `${model.config.modelType} generate s${options.seq}`, sessionOptions);
  sessions.push(s);
  return s;
}
