// Beam search with a KV cache, as transformers' beam search decodes (num_beams > 1, do_sample false), which is
// what the IST / LLM-Adapters commonsense_evaluate.py runs (num_beams=4, max_new_tokens=32; its temperature /
// top_p / top_k are sampling warpers, unused without do_sample). Semantics followed:
// - each step, every live beam's log-softmax is added to the beam's sum; the 2 * numBeams best (beam, token)
//   candidates of a prompt are taken in score order;
// - an EOS candidate among the first numBeams becomes a finished hypothesis scored sum / t^lengthPenalty, t its
//   new-token count with the EOS (transformers >= 4.36 counts generated tokens only, not the prompt); the first
//   numBeams non-EOS candidates are the next beams;
// - a prompt keeps its numBeams best hypotheses and is done (earlyStopping false, transformers' default) once it
//   has numBeams of them and the worst is at least the best candidate's sum / t^lengthPenalty;
// - at maxNewTokens the live beams become hypotheses too (scored over maxNewTokens); the best hypothesis wins.
// The search itself (searchBeams) is model-agnostic: it asks an `advance` callback for the next logits after
// reordering the rows; beamSearch() provides it with one prefill and a batch of prompts * numBeams cached rows.
import type { HostTensor, RuntimeSession, RuntimeSessionOptions } from '../runtime';
import { padBatch } from './batch';
import { presentOutputName, type CausalLmOptions } from './causalLm';
import { kvCacheShape, openStepSession, stepFeeds } from './generate';
import type { LoadedModel } from './model';

export interface BeamSearchSettings {
  readonly numBeams: number;
  readonly maxNewTokens: number;
  readonly eosTokenIds: readonly number[];
  /** Exponent of the length in the hypothesis score sum / length^p (transformers' length_penalty, default 1). */
  readonly lengthPenalty?: number;
  /**
   * transformers' early_stopping: false (default) stops a prompt when no live beam can beat its worst kept
   * hypothesis at the current length; true as soon as numBeams hypotheses are finished; 'never' bounds with
   * the longest possible length (exact for lengthPenalty > 0).
   */
  readonly earlyStopping?: boolean | 'never';
}

/** A finished hypothesis of one prompt: its new tokens (the EOS included when it ended with one). */
export interface Hypothesis {
  readonly tokens: readonly number[];
  readonly sumLogprob: number;
  /** sumLogprob / length^lengthPenalty. */
  readonly score: number;
  readonly eos: boolean;
}

/** A live beam: the tokens so far, their summed log-probability and its row in the current logits. */
export interface LiveBeam {
  readonly tokens: readonly number[];
  readonly sumLogprob: number;
  readonly row: number;
}

/** Extending beam `beam` (an index into the prompt's live beams) with `token`. */
export interface Candidate {
  readonly beam: number;
  readonly token: number;
  readonly sumLogprob: number;
}

export interface BeamOutput extends Hypothesis {
  readonly stopReason: 'eos' | 'length';
}

/**
 * Computes the rows of the next step: row r continues row parents[r] of the previous logits (prompt p's single
 * prefill row p on the first call) with tokens[r]; -1 in both marks an unused row. Resolves to the next
 * logits [rows * vocab], rows = prompts * numBeams, row p * numBeams + j holding prompt p's beam j.
 */
export type BeamAdvance = (parents: Int32Array, tokens: Int32Array) => Promise<Float32Array>;

/** log softmax of one logits row, in float64 (the sums over 32 steps keep their precision). */
export function logSoftmax(row: ArrayLike<number>): Float64Array {
  let max = -Infinity;
  for (let i = 0; i < row.length; i++) if (row[i] > max) max = row[i];
  let z = 0;
  for (let i = 0; i < row.length; i++) z += Math.exp(row[i] - max);
  const lse = max + Math.log(z);
  const out = new Float64Array(row.length);
  for (let i = 0; i < row.length; i++) out[i] = row[i] - lse;
  return out;
}

export function normalisedScore(sumLogprob: number, length: number, lengthPenalty: number): number {
  return sumLogprob / length ** lengthPenalty;
}

/**
 * The `count` best extensions of the live beams, best first; ties go to the lower beam, then the lower token
 * (a fixed order, so runs repeat). logprobs[i] is beam i's next-token log-softmax.
 */
export function topCandidates(beams: readonly LiveBeam[], logprobs: readonly Float64Array[], count: number): Candidate[] {
  // A small sorted list: the vocabulary is scanned once per beam and nearly every entry fails the threshold test.
  const best: Candidate[] = [];
  beams.forEach((beam, i) => {
    const row = logprobs[i];
    for (let token = 0; token < row.length; token++) {
      const sum = beam.sumLogprob + row[token];
      if (best.length === count && !(sum > best[count - 1].sumLogprob)) continue;
      let at = best.length;
      while (at > 0 && sum > best[at - 1].sumLogprob) at--;
      best.splice(at, 0, { beam: i, token, sumLogprob: sum });
      if (best.length > count) best.pop();
    }
  });
  return best;
}

/** transformers' split of the ranked candidates: EOS ones ranked below numBeams finish, the first numBeams others continue. */
export function splitCandidates(
  ranked: readonly Candidate[], eos: ReadonlySet<number>, numBeams: number,
): { continuing: Candidate[]; finishing: Candidate[] } {
  const continuing: Candidate[] = [];
  const finishing: Candidate[] = [];
  for (let rank = 0; rank < ranked.length && continuing.length < numBeams; rank++) {
    const c = ranked[rank];
    if (!eos.has(c.token)) continuing.push(c);
    else if (rank < numBeams) finishing.push(c);
  }
  return { continuing, finishing };
}

/**
 * Keeps the numBeams best hypotheses, best first: a new one enters when there is room or it beats the worst
 * (an equal score does not displace it, as transformers' BeamHypotheses.add). Returns the new list.
 */
export function addHypothesis(kept: readonly Hypothesis[], hyp: Hypothesis, numBeams: number): Hypothesis[] {
  if (kept.length >= numBeams && !(hyp.score > kept[kept.length - 1].score)) return [...kept];
  const out = [...kept];
  let at = out.length;
  while (at > 0 && hyp.score > out[at - 1].score) at--;
  out.splice(at, 0, hyp);
  if (out.length > numBeams) out.pop();
  return out;
}

/**
 * Whether a prompt's search is over after step `length` (new tokens so far), given its best candidate's summed
 * log-probability this step (transformers' BeamHypotheses.is_done).
 */
export function isDone(kept: readonly Hypothesis[], bestSumLogprob: number, length: number, settings: BeamSearchSettings): boolean {
  if (kept.length < settings.numBeams) return false;
  const stopping = settings.earlyStopping ?? false;
  if (stopping === true) return true;
  const p = settings.lengthPenalty ?? 1;
  // With a positive penalty a longer beam divides its (negative) sum by more, so 'never' bounds at the longest.
  const bound = stopping === 'never' && p > 0 ? settings.maxNewTokens : length;
  return kept[kept.length - 1].score >= normalisedScore(bestSumLogprob, bound, p);
}

interface PromptState {
  live: LiveBeam[];
  kept: Hypothesis[];
  done: boolean;
}

/**
 * Beam search over `prompts` prompts given the logits after each prompt [prompts * vocab] and `advance` for
 * the following steps. Returns the best hypothesis per prompt.
 */
export async function searchBeams(
  firstLogits: Float32Array, prompts: number, vocabSize: number, settings: BeamSearchSettings, advance: BeamAdvance,
): Promise<BeamOutput[]> {
  const K = settings.numBeams;
  const T = settings.maxNewTokens;
  if (!Number.isSafeInteger(K) || K < 1) throw new RangeError(`numBeams must be a positive integer, got ${K}`);
  if (!Number.isSafeInteger(T) || T < 1) throw new RangeError(`maxNewTokens must be a positive integer, got ${T}`);
  if (firstLogits.length !== prompts * vocabSize) throw new RangeError(`first logits: ${firstLogits.length} values for ${prompts} prompts x ${vocabSize} tokens`);
  const p = settings.lengthPenalty ?? 1;
  const eos = new Set(settings.eosTokenIds);
  const states: PromptState[] = Array.from({ length: prompts }, (_, b) => ({ live: [{ tokens: [], sumLogprob: 0, row: b }], kept: [], done: false }));
  let logits = firstLogits;
  for (let t = 1; t <= T; t++) {
    const parents = new Int32Array(prompts * K).fill(-1);
    const tokens = new Int32Array(prompts * K).fill(-1);
    states.forEach((state, b) => {
      if (state.done) return;
      const logprobs = state.live.map((beam) => logSoftmax(logits.subarray(beam.row * vocabSize, (beam.row + 1) * vocabSize)));
      const ranked = topCandidates(state.live, logprobs, 2 * K);
      const { continuing, finishing } = splitCandidates(ranked, eos, K);
      for (const c of finishing) {
        const hyp = { tokens: [...state.live[c.beam].tokens, c.token], sumLogprob: c.sumLogprob, score: normalisedScore(c.sumLogprob, t, p), eos: true };
        state.kept = addHypothesis(state.kept, hyp, K);
      }
      const previous = state.live;
      state.live = continuing.map((c, j) => {
        parents[b * K + j] = previous[c.beam].row;
        tokens[b * K + j] = c.token;
        return { tokens: [...previous[c.beam].tokens, c.token], sumLogprob: c.sumLogprob, row: b * K + j };
      });
      state.done = state.live.length === 0 || isDone(state.kept, ranked[0].sumLogprob, t, settings);
    });
    if (t === T || states.every((s) => s.done)) break;
    // A finished prompt's rows still run (the batch keeps its shape) but continue nothing.
    states.forEach((state, b) => {
      if (!state.done) return;
      parents.fill(-1, b * K, (b + 1) * K);
      tokens.fill(-1, b * K, (b + 1) * K);
    });
    logits = await advance(parents, tokens);
  }
  return states.map((state) => {
    let kept = state.kept;
    if (!state.done) {
      for (const beam of state.live) {
        kept = addHypothesis(kept, { tokens: beam.tokens, sumLogprob: beam.sumLogprob, score: normalisedScore(beam.sumLogprob, beam.tokens.length, p), eos: false }, K);
      }
    }
    const best = kept[0];
    if (best === undefined) throw new Error('beam search: a prompt ended without a hypothesis');
    return { ...best, stopReason: best.eos ? 'eos' : 'length' };
  });
}

/**
 * Copies row parents[r] of `source` (rows of `block` values) to row r of `target`; -1 leaves row r as it is.
 * target may be source: rows that are read after being overwritten are saved first.
 */
export function gatherRows(source: Float32Array, target: Float32Array, block: number, parents: Int32Array): void {
  const inPlace = source === target;
  const saved = new Map<number, Float32Array>();
  if (inPlace) {
    const overwritten = new Set<number>();
    parents.forEach((p, r) => { if (p >= 0 && p !== r) overwritten.add(r); });
    parents.forEach((p, r) => { if (p >= 0 && p !== r && overwritten.has(p) && !saved.has(p)) saved.set(p, source.slice(p * block, (p + 1) * block)); });
  }
  parents.forEach((p, r) => {
    if (p < 0 || (inPlace && p === r)) return;
    target.set(saved.get(p) ?? source.subarray(p * block, (p + 1) * block), r * block);
  });
}

export interface BeamSearchOptions extends Omit<BeamSearchSettings, 'eosTokenIds'> {
  /** Hypotheses end at these (default: config.json eos_token_id). */
  readonly eosTokenIds?: readonly number[];
  readonly session?: RuntimeSessionOptions;
  readonly graph?: Pick<CausalLmOptions, 'linearHook' | 'layers'>;
  /** Extra inputs of graphs built with a linearHook that adds inputs (a PEFT adapter's weights), fed every run. */
  readonly feeds?: Readonly<Record<string, HostTensor>>;
}

export interface BeamSearchResult {
  /** The best hypothesis's new tokens per prompt (the EOS included when it ended with one). */
  readonly tokens: number[][];
  readonly stopReasons: ('eos' | 'length')[];
  /** Its length-normalised score, and its summed log-probability. */
  readonly scores: number[];
  readonly sumLogprobs: number[];
}

/**
 * Beam search on a model: one prefill over the left-padded prompts, then one decode graph over prompts *
 * numBeams rows with a KV cache of `prompt + maxNewTokens - 1` slots (as generate()), whose rows are gathered
 * to follow each step's surviving beams.
 */
export async function beamSearch(model: LoadedModel, prompts: readonly (readonly number[])[], options: BeamSearchOptions): Promise<BeamSearchResult> {
  const K = options.numBeams;
  const T = options.maxNewTokens;
  if (!Number.isSafeInteger(K) || K < 1) throw new RangeError(`numBeams must be a positive integer, got ${K}`);
  if (!Number.isSafeInteger(T) || T < 1) throw new RangeError(`maxNewTokens must be a positive integer, got ${T}`);
  const c = model.config;
  const eosTokenIds = options.eosTokenIds ?? c.eosTokenIds;
  const padId = c.padTokenId ?? c.eosTokenIds[0] ?? 0;
  const prompt = padBatch(prompts, 'left', padId);
  const B = prompt.batch;
  const S = prompt.seq;
  const R = B * K;
  const V = c.vocabSize;
  const slots = S + T - 1;
  const { layerCount, kvHeads, headDim: D } = kvCacheShape(model, options.graph);
  const block = kvHeads * slots * D;

  const sessions: RuntimeSession[] = [];
  try {
    const prefill = await openStepSession(model, sessions, { batch: B, seq: S, ...options.graph }, options.session);
    const first = await prefill.run(stepFeeds(options.feeds, B, S, prompt.ids, prompt.mask, prompt.positions));
    // Per layer [rows, kvHeads, slots, headDim]: B prefill rows until the first step expands them to R beam rows.
    let cache = Array.from({ length: layerCount }, (_, i) => {
      const layer = { key: new Float32Array(B * block), value: new Float32Array(B * block) };
      for (const kind of ['key', 'value'] as const) {
        const present = first.get(presentOutputName(i, kind), 'float32', [B, kvHeads, S, D]).data;
        for (let bh = 0; bh < B * kvHeads; bh++) layer[kind].set(present.subarray(bh * S * D, (bh + 1) * S * D), bh * slots * D);
      }
      return layer;
    });
    let expanded = false;
    // The cache mask of prompt b: its prompt mask, then 1 for each generated slot (all beams of a prompt share it).
    const cacheMask = new Int32Array(B * slots);
    for (let b = 0; b < B; b++) for (let s = 0; s < S; s++) cacheMask[b * slots + s] = prompt.mask[b * S + s];
    let decode: RuntimeSession | undefined;
    let step = 0;
    const advance: BeamAdvance = async (parents, tokens) => {
      if (!expanded) {
        cache = cache.map((layer) => {
          const next = { key: new Float32Array(R * block), value: new Float32Array(R * block) };
          gatherRows(layer.key, next.key, block, parents);
          gatherRows(layer.value, next.value, block, parents);
          return next;
        });
        expanded = true;
      } else {
        for (const layer of cache) {
          gatherRows(layer.key, layer.key, block, parents);
          gatherRows(layer.value, layer.value, block, parents);
        }
      }
      decode ??= await openStepSession(model, sessions, { batch: R, seq: 1, kvCache: { pastLength: slots }, ...options.graph }, options.session);
      const slot = S + step;
      const mask = new Int32Array(R * (slots + 1));
      const positions = new Int32Array(R);
      for (let r = 0; r < R; r++) {
        const b = Math.floor(r / K);
        mask.set(cacheMask.subarray(b * slots, (b + 1) * slots), r * (slots + 1));
        mask[r * (slots + 1) + slots] = 1;
        positions[r] = prompt.lengths[b] + step;
      }
      const ids = tokens.map((t) => (t < 0 ? padId : t));
      const result = await decode.run(stepFeeds(options.feeds, R, 1, ids, mask, positions, { cache, kvHeads, slots, headDim: D }));
      cache.forEach((layer, i) => {
        for (const kind of ['key', 'value'] as const) {
          const present = result.get(presentOutputName(i, kind), 'float32', [R, kvHeads, 1, D]).data;
          for (let rh = 0; rh < R * kvHeads; rh++) layer[kind].set(present.subarray(rh * D, (rh + 1) * D), (rh * slots + slot) * D);
        }
      });
      for (let b = 0; b < B; b++) cacheMask[b * slots + slot] = 1;
      step += 1;
      return result.get('logits', 'float32', [R, 1, V]).data;
    };
    const out = await searchBeams(first.get('logits', 'float32', [B, 1, V]).data, B, V, { ...options, eosTokenIds }, advance);
    return {
      tokens: out.map((o) => [...o.tokens]),
      stopReasons: out.map((o) => o.stopReason),
      scores: out.map((o) => o.score),
      sumLogprobs: out.map((o) => o.sumLogprob),
    };
  } finally {
    for (const s of sessions) await s.dispose();
  }
}
