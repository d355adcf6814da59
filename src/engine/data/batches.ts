// Shuffled, padded training batches. Every random choice derives from (seed, purpose, counters), so a run can
// be resumed from a step count alone and repeats exactly for a seed.
import { padBatch } from '../models/batch';
import { Rng } from '../util/random';
import { IGNORE_INDEX, type TokenExample } from './examples';

/** A generator for (seed, tag, a, b): 32-bit mixing (MurmurHash3 fmix32 steps) of the parts into one seed. */
export function derivedRng(seed: number, tag: number, a = 0, b = 0): Rng {
  let h = (seed >>> 0) ^ Math.imul(Math.floor(seed / 4294967296) >>> 0, 0x27d4eb2d);
  for (const part of [tag, a, b]) {
    h = Math.imul(h ^ (part >>> 0), 0xcc9e2d51);
    h = (h << 15) | (h >>> 17);
    h = Math.imul(h, 0x1b873593) >>> 0;
    h ^= h >>> 16;
  }
  return new Rng(h >>> 0);
}

export const RNG_TAGS = { shuffle: 1, dropout: 2, init: 3, validation: 4 } as const;

/**
 * The training order: epoch e visits the examples in the permutation shuffle(derivedRng(seed, shuffle, e));
 * batches run across epoch ends, so every batch is full. `consumed` examples so far is all the state.
 */
export class ExampleStream {
  private order: number[] = [];
  private epoch = -1;

  constructor(private readonly count: number, private readonly seed: number, private consumedCount = 0) {
    if (count <= 0) throw new Error('ExampleStream: no examples');
  }

  get consumed(): number {
    return this.consumedCount;
  }

  /** Indices of the next `n` examples. */
  next(n: number): number[] {
    const out: number[] = [];
    for (let k = 0; k < n; k++) {
      const e = Math.floor(this.consumedCount / this.count);
      if (e !== this.epoch) {
        this.order = derivedRng(this.seed, RNG_TAGS.shuffle, e).shuffle(Array.from({ length: this.count }, (_, i) => i));
        this.epoch = e;
      }
      out.push(this.order[this.consumedCount % this.count] ?? 0);
      this.consumedCount += 1;
    }
    return out;
  }
}

/** One [batch, seq] block as the training graph takes it. */
export interface TrainBatch {
  readonly batch: number;
  readonly seq: number;
  readonly ids: Int32Array;
  readonly mask: Int32Array;
  readonly positions: Int32Array;
  /** Next-token targets [batch * seq]: targets[t] = labels[t + 1], IGNORE_INDEX at the end and on padding. */
  readonly targets: Int32Array;
  /** Targets that count in the loss. */
  readonly tokens: number;
}

/** Right-pads examples to `seq` (training and scoring both use right padding) and shifts labels to targets. */
export function makeBatch(examples: readonly TokenExample[], seq: number, padId: number): TrainBatch {
  for (const e of examples) {
    if (e.ids.length > seq) throw new Error(`makeBatch: an example has ${e.ids.length} tokens, more than the sequence length ${seq}`);
  }
  const p = padBatch(examples.map((e) => e.ids), 'right', padId, seq);
  const targets = new Int32Array(p.batch * seq).fill(IGNORE_INDEX);
  let tokens = 0;
  examples.forEach((e, b) => {
    for (let t = 0; t + 1 < e.labels.length; t++) {
      const label = e.labels[t + 1] ?? IGNORE_INDEX;
      targets[b * seq + t] = label;
      if (label !== IGNORE_INDEX) tokens += 1;
    }
  });
  return { batch: p.batch, seq, ids: p.ids, mask: p.mask, positions: p.positions, targets, tokens };
}
