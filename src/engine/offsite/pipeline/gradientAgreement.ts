// Gradient preservation of an emulator (diagnostics.json `adapters`): for every adapter parameter group, the
// gradient of the mean held-out loss on the emulator, g_e, against the one on the full model, g_f, both with the
// same adapter values:
//   cosine   = <g_e, g_f> / (|g_e| |g_f|)        (1 when both are 0; 0 when exactly one is)
//   relError = |g_e - g_f| / |g_f|               (0 when both are 0; |g_e| / 1e-30 when only g_f is)
// in float64 over the group's concatenated tensors (LoRA: A then B; full: dW).
import { makeBatch } from '../../data/batches';
import { IGNORE_INDEX, type TokenExample } from '../../data/examples';
import { Rng } from '../../util/random';
import type { OffsiteAdapter } from './adapter';

export interface GradientAgreement {
  readonly cosine: number;
  readonly relError: number;
}

/** Cosine similarity and relative norm error of `emulator` against `full` (equal lengths). */
export function gradientAgreement(emulator: ArrayLike<number>, full: ArrayLike<number>): GradientAgreement {
  if (emulator.length !== full.length) throw new Error(`gradient agreement: ${emulator.length} vs ${full.length} values`);
  let dot = 0;
  let ee = 0;
  let ff = 0;
  let dd = 0;
  for (let i = 0; i < full.length; i++) {
    const e = emulator[i] as number;
    const f = full[i] as number;
    dot += e * f;
    ee += e * e;
    ff += f * f;
    dd += (e - f) * (e - f);
  }
  const ne = Math.sqrt(ee);
  const nf = Math.sqrt(ff);
  const cosine = ne === 0 && nf === 0 ? 1 : ne === 0 || nf === 0 ? 0 : Math.max(-1, Math.min(1, dot / (ne * nf)));
  const relError = nf === 0 ? (ne === 0 ? 0 : ne / 1e-30) : Math.sqrt(dd) / nf;
  return { cosine, relError };
}

/**
 * The held-out batches the gradients are averaged over: `examples` in batches of `batchSize` rows at length
 * `seq` (the training bucket, so no new session is needed); a short last batch is filled with rows whose targets
 * are all ignored, which change neither the loss nor its gradient.
 */
export function heldOutBatches(examples: readonly TokenExample[], batchSize: number, seq: number, padId: number): ReturnType<typeof makeBatch>[] {
  const batches = [];
  for (let start = 0; start < examples.length; start += batchSize) {
    const rows = examples.slice(start, start + batchSize).map((e) => ({ ids: e.ids.slice(0, seq), labels: e.labels.slice(0, seq) }));
    const filler = rows[0];
    while (filler !== undefined && rows.length < batchSize) rows.push({ ids: filler.ids, labels: filler.ids.map(() => IGNORE_INDEX) });
    batches.push(makeBatch(rows, seq, padId));
  }
  return batches;
}

const keptTargets = (targets: Int32Array): number => targets.reduce((n, t) => n + (t === IGNORE_INDEX ? 0 : 1), 0);

/**
 * Per parameter group (adapter.groups() order), the gradient of the mean loss over all kept targets of the
 * batches (each batch's mean-loss gradient weighted by its kept targets), concatenated in float64. LoRA dropout
 * masks come from `seed` in the same order on every model, so the emulator and the full model see the same masks.
 */
export async function heldOutGradients(adapter: OffsiteAdapter, batches: readonly ReturnType<typeof makeBatch>[], seed: number): Promise<Float64Array[]> {
  const groups = adapter.groups();
  const sums = groups.map((g) => new Float64Array(g.tensors.reduce((n, t) => n + t.length, 0)));
  let total = 0;
  for (const [k, batch] of batches.entries()) {
    const kept = keptTargets(batch.targets);
    if (kept === 0) continue;
    const { grads } = await adapter.runner.trainStep(batch, new Rng(seed + k));
    let p = 0;
    groups.forEach((g, gi) => {
      const sum = sums[gi] as Float64Array;
      let offset = 0;
      for (const t of g.tensors) {
        const grad = grads[p++];
        if (grad === undefined || grad.length !== t.length) throw new Error(`gradient diagnostics: no gradient for ${g.name}`);
        for (let i = 0; i < grad.length; i++) sum[offset + i] = (sum[offset + i] as number) + kept * (grad[i] as number);
        offset += t.length;
      }
    });
    total += kept;
  }
  if (total === 0) throw new Error('gradient diagnostics: the held-out examples have no target token');
  for (const s of sums) for (let i = 0; i < s.length; i++) s[i] = (s[i] as number) / total;
  return sums;
}
