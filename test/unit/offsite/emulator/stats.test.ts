// The GradOT statistics pass against the definitions: g = dL/dW vs central finite differences of the mean
// support loss, A = E[x x^T] and G = E[(n_b dy)(n_b dy)^T] over real tokens vs direct sums of captured
// activations and output gradients (float64 graphs, tiny fixtures).
import { strict as assert } from 'node:assert';
import type { TrainBatch } from '../../../../src/engine/data/batches';
import { loadModel, type LoadedModel } from '../../../../src/engine/models/model';
import { collectSupportStats, type SupportStats } from '../../../../src/engine/offsite/stats';
import { transpose } from '../../../../src/engine/linalg/dense';
import { hostTensor } from '../../../../src/engine/runtime';
import { feeds, FIXTURE_GPT2, FIXTURE_LLAMA, maxAbs, probeSession, randomBatches } from './support';

function targetCount(b: TrainBatch): number {
  return b.targets.reduce((a, t) => a + (t === -100 ? 0 : 1), 0);
}

/** Mean loss over all target tokens with the weight of `sitePath` (stored layout) replaced by `w`. */
async function lossWith(model: LoadedModel, batches: readonly TrainBatch[], sitePath: string, w: Float64Array): Promise<number> {
  const first = batches[0] as TrainBatch;
  const { session, shape } = await probeSession(model, first.batch, first.seq, sitePath, false);
  try {
    let sum = 0;
    let count = 0;
    for (const b of batches) {
      const out = await session.run({ ...feeds(b), w: hostTensor('w', w, shape) });
      const n = targetCount(b);
      sum += n * (out.get('loss', 'float64', []).data[0] as number);
      count += n;
    }
    return sum / count;
  } finally {
    await session.dispose();
  }
}

/** Checks g at stored-layout entries against central differences (step h) of the mean loss. */
async function checkGradient(model: LoadedModel, batches: readonly TrainBatch[], stats: SupportStats, sitePath: string, entries: readonly [number, number][]): Promise<void> {
  const st = stats.maps.get(sitePath);
  assert.ok(st, `no statistics for ${sitePath}`);
  const stored = model.weights.readFloat64(`${sitePath}.weight`);
  const cols = st.layout === 'out_in' ? st.inFeatures : st.outFeatures;
  const h = 1e-5;
  for (const [o, i] of entries) {
    // Entry (o, i) of W [out, in] is stored at [o, i] (torch Linear) or [i, o] (GPT-2 Conv1D).
    const at = st.layout === 'out_in' ? o * cols + i : i * cols + o;
    const plus = Float64Array.from(stored);
    const minus = Float64Array.from(stored);
    plus[at] = (plus[at] as number) + h;
    minus[at] = (minus[at] as number) - h;
    const fd = ((await lossWith(model, batches, sitePath, plus)) - (await lossWith(model, batches, sitePath, minus))) / (2 * h);
    const g = st.grad[o * st.inFeatures + i] as number;
    assert.ok(Math.abs(fd - g) <= 1e-7 + 1e-5 * Math.abs(fd), `${sitePath} g[${o}, ${i}] = ${g}, finite differences ${fd}`);
  }
  // The entries checked must not all be ~0 (else the check proves little).
  assert.ok(entries.some(([o, i]) => Math.abs(st.grad[o * st.inFeatures + i] as number) > 1e-6), `${sitePath}: gradients checked are all ~0`);
}

/** A and G from captured x and dy of every batch, computed directly. */
async function checkFactors(model: LoadedModel, batches: readonly TrainBatch[], stats: SupportStats, sitePath: string): Promise<void> {
  const st = stats.maps.get(sitePath);
  assert.ok(st);
  const first = batches[0] as TrainBatch;
  const { session, shape } = await probeSession(model, first.batch, first.seq, sitePath, true);
  const inF = st.inFeatures;
  const outF = st.outFeatures;
  const a = new Float64Array(inF * inF);
  const g = new Float64Array(outF * outF);
  let tokens = 0;
  try {
    const w = model.weights.readFloat64(`${sitePath}.weight`);
    for (const b of batches) {
      const out = await session.run({ ...feeds(b), w: hostTensor('w', w, shape) });
      const x = out.get('x', 'float64', [b.batch * b.seq, inF]).data;
      const dy = out.get('dy', 'float64', [b.batch * b.seq, outF]).data;
      const n = targetCount(b);
      for (let t = 0; t < b.batch * b.seq; t++) {
        if (b.mask[t] !== 1) continue;
        tokens += 1;
        for (let i = 0; i < inF; i++) for (let j = 0; j < inF; j++) a[i * inF + j] = (a[i * inF + j] as number) + (x[t * inF + i] as number) * (x[t * inF + j] as number);
        for (let i = 0; i < outF; i++) for (let j = 0; j < outF; j++) g[i * outF + j] = (g[i * outF + j] as number) + n * n * (dy[t * outF + i] as number) * (dy[t * outF + j] as number);
      }
    }
  } finally {
    await session.dispose();
  }
  assert.equal(tokens, stats.inputTokens);
  const errA = maxAbs(a.map((v, k) => v / tokens - (st.inputFactor[k] as number)));
  const errG = maxAbs(g.map((v, k) => v / tokens - (st.outputFactor[k] as number)));
  assert.ok(errA <= 1e-10 * Math.max(1, maxAbs(st.inputFactor)), `${sitePath}: A differs by ${errA}`);
  assert.ok(errG <= 1e-10 * Math.max(1e-12, maxAbs(st.outputFactor)), `${sitePath}: G differs by ${errG}`);
  assert.ok(maxAbs(st.outputFactor) > 0, `${sitePath}: G is zero`);
}

describe('offsite emulator: GradOT statistics pass', () => {
  it('GPT-2 (fixture, float64): covers the middle layers; g matches finite differences; A and G match their definitions', async () => {
    const model = loadModel(FIXTURE_GPT2);
    try {
      // Two batches of one shape, with padding, so the per-batch weighting and masking are exercised.
      const batches = randomBatches(11, 2, 3, 6, 1000);
      const stats = await collectSupportStats(model, batches, { layers: [1, 2, 3], dtype: 'float64', session: { intraOpNumThreads: 1 } });
      assert.deepEqual([...stats.maps.keys()].filter((p) => p.includes('.h.2.')),
        ['transformer.h.2.attn.c_attn', 'transformer.h.2.attn.c_proj', 'transformer.h.2.mlp.c_fc', 'transformer.h.2.mlp.c_proj']);
      assert.equal(stats.maps.size, 12);
      assert.equal(stats.targetTokens, batches.reduce((s, b) => s + targetCount(b), 0));
      const cAttn = stats.maps.get('transformer.h.2.attn.c_attn');
      assert.ok(cAttn);
      assert.deepEqual([cAttn.outFeatures, cAttn.inFeatures], [96, 32]);
      // weight is returned as [out, in]: the stored Conv1D [in, out] transposed.
      assert.deepEqual([...cAttn.weight.slice(0, 5)], [...transpose(model.weights.readFloat64('transformer.h.2.attn.c_attn.weight'), 32, 96).slice(0, 5)]);
      await checkGradient(model, batches, stats, 'transformer.h.2.attn.c_attn', [[3, 5], [70, 1]]);
      await checkGradient(model, batches, stats, 'transformer.h.3.mlp.c_proj', [[4, 100], [31, 7]]);
      await checkFactors(model, batches, stats, 'transformer.h.1.mlp.c_fc');
    } finally {
      model.close();
    }
  });

  it('GPT-2 (fixture, float64): one run per batch (sums accumulated in the graph) matches the batches run together', async () => {
    const model = loadModel(FIXTURE_GPT2);
    try {
      const batches = randomBatches(13, 2, 3, 6, 1000);
      const opts = { layers: [2], dtype: 'float64' as const, session: { intraOpNumThreads: 1 } };
      const together = await collectSupportStats(model, batches, opts);
      const apart = await collectSupportStats(model, batches, { ...opts, maxRunTokens: 1 });
      assert.ok(Math.abs(together.loss - apart.loss) <= 1e-12 * Math.abs(together.loss));
      assert.deepEqual([together.targetTokens, together.inputTokens], [apart.targetTokens, apart.inputTokens]);
      for (const [p, t] of together.maps) {
        const a = apart.maps.get(p);
        assert.ok(a, p);
        for (const k of ['grad', 'inputFactor', 'outputFactor', 'weight'] as const) {
          const scale = Math.max(maxAbs(t[k]), 1e-300);
          assert.ok(maxAbs(t[k].map((v, i) => v - (a[k][i] as number))) <= 1e-10 * scale, `${p} ${k}`);
        }
      }
    } finally {
      model.close();
    }
  });

  it('LLaMA (fixture, float64): g matches finite differences; A and G match their definitions', async () => {
    const model = loadModel(FIXTURE_LLAMA);
    try {
      const batches = randomBatches(12, 2, 2, 5, 32000);
      const stats = await collectSupportStats(model, batches, { layers: [1], dtype: 'float64', session: { intraOpNumThreads: 1 } });
      assert.deepEqual([...stats.maps.keys()], ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj']
        .map((m) => `model.layers.1.${m.endsWith('proj') && ['gate_proj', 'up_proj', 'down_proj'].includes(m) ? 'mlp' : 'self_attn'}.${m}`));
      await checkGradient(model, batches, stats, 'model.layers.1.self_attn.v_proj', [[2, 9]]);
      await checkGradient(model, batches, stats, 'model.layers.1.mlp.down_proj', [[5, 40], [0, 3]]);
      await checkFactors(model, batches, stats, 'model.layers.1.self_attn.o_proj');
    } finally {
      model.close();
    }
  });
});
