// Padding a batch of token-id rows of different lengths to one [batch, seq] block, with the attention mask and
// position ids the Hugging Face models expect for it.

import { maxBy } from '../util/arrays';

export type PaddingSide = 'left' | 'right';

export interface PaddedBatch {
  readonly batch: number;
  readonly seq: number;
  /** Row-major [batch, seq]. */
  readonly ids: Int32Array;
  /** 1 for real tokens, 0 for padding. */
  readonly mask: Int32Array;
  /** Per row: 0, 1, 2, ... over real tokens (as `cumsum(mask) - 1`), 1 on padding as transformers' generate does. */
  readonly positions: Int32Array;
  readonly lengths: readonly number[];
  readonly side: PaddingSide;
}

export function padBatch(rows: readonly (readonly number[])[], side: PaddingSide, padId: number, seq?: number): PaddedBatch {
  if (rows.length === 0) throw new Error('padBatch: empty batch');
  const longest = maxBy(rows, (r) => r.length);
  if (longest === 0) throw new Error('padBatch: every row is empty');
  const S = seq ?? longest;
  if (S < longest) throw new Error(`padBatch: sequence length ${S} is shorter than the longest row (${longest})`);
  const B = rows.length;
  const ids = new Int32Array(B * S).fill(padId);
  const mask = new Int32Array(B * S);
  rows.forEach((row, b) => {
    const start = side === 'left' ? S - row.length : 0;
    row.forEach((id, i) => {
      if (!Number.isSafeInteger(id) || id < 0) throw new Error(`padBatch: row ${b} token ${i} is ${id}, not a token id`);
      ids[b * S + start + i] = id;
      mask[b * S + start + i] = 1;
    });
  });
  return { batch: B, seq: S, ids, mask, positions: positionIdsFromMask(mask, B, S), lengths: rows.map((r) => r.length), side };
}

/** position = cumsum(mask) - 1 on real tokens, 1 on padding (transformers GenerationMixin's convention). */
export function positionIdsFromMask(mask: Int32Array, batch: number, seq: number): Int32Array {
  const out = new Int32Array(batch * seq);
  for (let b = 0; b < batch; b++) {
    let count = 0;
    for (let s = 0; s < seq; s++) {
      const i = b * seq + s;
      if (mask[i]) {
        out[i] = count;
        count += 1;
      } else {
        out[i] = 1;
      }
    }
  }
  return out;
}
