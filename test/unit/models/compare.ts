// Helpers to compare logits of padded batches on their real (unpadded) positions.
import type { PaddedBatch } from '../../../src/engine/models/batch';

export function batchRows(b: PaddedBatch): { ids: number[][]; mask: number[][]; positions: number[][] } {
  const rows = (a: Int32Array) => Array.from({ length: b.batch }, (_, i) => [...a.subarray(i * b.seq, (i + 1) * b.seq)]);
  return { ids: rows(b.ids), mask: rows(b.mask), positions: rows(b.positions) };
}

interface Comparison { maxAbs: number; argmaxMismatches: number; compared: number }

export function compareLogits(actual: ArrayLike<number>, expected: (b: number, s: number) => ArrayLike<number>, b: PaddedBatch, vocab: number): Comparison {
  let maxAbs = 0;
  let argmaxMismatches = 0;
  let compared = 0;
  for (let i = 0; i < b.batch; i++) {
    for (let s = 0; s < b.seq; s++) {
      if (!b.mask[i * b.seq + s]) continue;
      const exp = expected(i, s);
      let am = 0;
      let ae = 0;
      const base = (i * b.seq + s) * vocab;
      for (let v = 0; v < vocab; v++) {
        maxAbs = Math.max(maxAbs, Math.abs(actual[base + v] - exp[v]));
        if (actual[base + v] > actual[base + am]) am = v;
        if (exp[v] > exp[ae]) ae = v;
      }
      if (am !== ae) argmaxMismatches += 1;
      compared += 1;
    }
  }
  return { maxAbs, argmaxMismatches, compared };
}
