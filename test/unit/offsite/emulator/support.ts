// Shared helpers for the emulator tests: support batches of pre-tokenized ids, and a float64 loss graph whose
// one linear weight is a run-time input (for finite differences) or whose layer input/output gradient are outputs.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { makeBatch, type TrainBatch } from '../../../../src/engine/data/batches';
import { gradients, toModelBytes } from '../../../../src/engine/graph';
import { crossEntropy } from '../../../../src/engine/graph/loss';
import { buildCausalLm } from '../../../../src/engine/models/causalLm';
import type { LoadedModel } from '../../../../src/engine/models/model';
import { createSession, hostTensor, type HostTensor, type RuntimeSession } from '../../../../src/engine/runtime';
import { Rng } from '../../../../src/engine/util/random';

export const MODELS_ROOT = path.resolve(__dirname, '../../../../../shared/fixtures/models');
export const FIXTURE_GPT2 = path.join(MODELS_ROOT, 'tiny-random-gpt2');
export const FIXTURE_LLAMA = path.join(MODELS_ROOT, 'tiny-random-llama');

/** `count` batches of `batchSize` random rows (lengths in [minLen, seq]) of ids below `vocab`, full next-token labels. */
export function randomBatches(seed: number, count: number, batchSize: number, seq: number, vocab: number, minLen = 2): TrainBatch[] {
  const rng = new Rng(seed);
  return Array.from({ length: count }, () => makeBatch(Array.from({ length: batchSize }, () => {
    const len = minLen + rng.uniformInt(seq - minLen + 1);
    const ids = Array.from({ length: len }, () => rng.uniformInt(vocab));
    return { ids, labels: ids };
  }), seq, 0));
}

export function tmpDir(tag: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `peft-emulator-${tag}-`));
}

export function feeds(batch: TrainBatch): Record<string, HostTensor> {
  const dims = [batch.batch, batch.seq];
  const i64 = (a: Int32Array) => BigInt64Array.from(a, (v) => BigInt(v));
  return {
    input_ids: hostTensor('input_ids', i64(batch.ids), dims),
    attention_mask: hostTensor('attention_mask', i64(batch.mask), dims),
    position_ids: hostTensor('position_ids', i64(batch.positions), dims),
    targets: hostTensor('targets', i64(batch.targets), [batch.batch * batch.seq]),
  };
}

/**
 * A float64 loss session for one batch shape, where the weight of module `sitePath` (stored layout) is the input
 * `w` and, when `capture`, the site's input x and dL/dy are outputs `x` and `dy`.
 */
export async function probeSession(model: LoadedModel, batch: number, seq: number, sitePath: string, capture: boolean): Promise<{ session: RuntimeSession; shape: readonly number[] }> {
  let shape: readonly number[] = [];
  const hooked: { y?: import('../../../../src/engine/graph').Tensor } = {};
  const graph = buildCausalLm(model, {
    batch, seq, dtype: 'float64',
    linearHook: (g, site) => {
      if (site.path !== sitePath) return site.base();
      shape = site.weight.shape;
      const w = g.input('w', 'float64', site.weight.shape);
      const y = g.gemm(site.x, w, site.bias, { transB: site.layout === 'out_in' });
      if (capture) {
        g.output(site.x, 'x');
        hooked.y = y;
      }
      return y;
    },
  });
  const b = graph.builder;
  const n = batch * seq;
  const loss = crossEntropy(b, b.reshape(graph.logits, [n, model.config.vocabSize]), b.input('targets', 'int64', [n]), { ignoreIndex: -100 });
  b.output(loss, 'loss');
  if (capture && hooked.y !== undefined) {
    const { hookGrads } = gradients(b, loss, { wrt: [], hooks: [hooked.y], addOutputs: false });
    const dy = hookGrads.get(hooked.y);
    if (dy !== undefined) b.output(dy, 'dy');
  }
  const session = await createSession({ bytes: toModelBytes(b) }, { graphOptimizationLevel: 'basic', intraOpNumThreads: 1 });
  return { session, shape };
}

export function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] as number));
  return m;
}
