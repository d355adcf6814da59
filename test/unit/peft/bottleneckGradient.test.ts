// Bottleneck adapters (series and parallel) through the linear hook: initialisation, float64 autodiff gradients
// of W_down, b_down, W_up, b_up against central finite differences of the same graph's loss, float32 gradients
// against float64 ones, and that a fresh adapter (W_up = 0) or a layer scale of 0 gives the base model's logits
// bit for bit. Fixtures: the tiny GPT-2 (Conv1D c_fc / c_proj, dropout masks fed) and the tiny LLaMA (up_proj,
// down_proj).
import { strict as assert } from 'node:assert';
import { makeBatch, type TrainBatch } from '../../../src/engine/data/batches';
import { toModelBytes } from '../../../src/engine/graph/serialize';
import { buildCausalLm } from '../../../src/engine/models/causalLm';
import { loadModel, type LoadedModel } from '../../../src/engine/models/model';
import { BottleneckAdapter, type BottleneckSpec } from '../../../src/engine/peft/bottleneck';
import { LAYER_SCALE_INPUT } from '../../../src/engine/peft/perLayer';
import { createSession, hostTensor, type HostTensor } from '../../../src/engine/runtime';
import { batchFeeds, buildPeftGraph, gradOutputName, LOSS_OUTPUT, TARGETS_INPUT } from '../../../src/engine/train/peftGraph';
import { Rng } from '../../../src/engine/util/random';
import { GPT2_DIR, LLAMA_DIR } from './fixtures';

const spec = (o: Partial<BottleneckSpec>): BottleneckSpec => ({
  placement: 'series', bottleneckSize: 3, activation: 'tanh', scaling: 1, dropout: 0, targets: ['c_fc', 'c_proj'], ...o,
});

/** Random (not zero) values for every adapter tensor, so that every gradient is non-trivial (small biases keep ReLU units alive). */
function randomise(adapter: BottleneckAdapter, rng: Rng, std: number): void {
  for (const t of adapter.trainables()) {
    const s = t.dims.length === 1 ? std / 10 : std;
    for (let i = 0; i < t.data.length; i++) t.data[i] = rng.normal() * s;
  }
}

describe('peft: bottleneck adapter module', () => {
  it('initialises W_down Kaiming-uniform within 1/sqrt(d), W_up and both biases to zero; d = out (series) or in (parallel)', () => {
    const model = loadModel(GPT2_DIR);
    try {
      for (const placement of ['series', 'parallel'] as const) {
        const adapter = new BottleneckAdapter(spec({ placement, bottleneckSize: 4, targets: ['c_fc'] }), new Rng(1));
        buildPeftGraph(model, adapter, { kind: 'score', batch: 1, seq: 4 });
        assert.equal(adapter.modules.size, model.config.numLayers);
        const m = adapter.modules.get('transformer.h.1.mlp.c_fc');
        assert.ok(m !== undefined);
        // tiny GPT-2: c_fc 32 -> 128.
        assert.equal(m.adapterFeatures, placement === 'series' ? 128 : 32);
        assert.equal(m.down.length, 4 * m.adapterFeatures);
        assert.equal(m.up.length, 128 * 4);
        const bound = 1 / Math.sqrt(m.adapterFeatures);
        assert.ok(m.down.every((v) => Math.abs(v) <= bound) && m.down.some((v) => Math.abs(v) > bound / 2));
        assert.ok([m.up, m.downBias, m.upBias].every((t) => t.every((v) => v === 0)));
        assert.equal(adapter.parameterCount(), model.config.numLayers * (4 * m.adapterFeatures + 4 + 128 * 4 + 128));
      }
    } finally {
      model.close();
    }
  });

  it('rejects bad settings and targets that match nothing', () => {
    assert.throws(() => new BottleneckAdapter(spec({ bottleneckSize: 0 }), new Rng(1)), /positive integer/);
    assert.throws(() => new BottleneckAdapter(spec({ dropout: 1 }), new Rng(1)), /dropout/);
    const model = loadModel(GPT2_DIR);
    try {
      const adapter = new BottleneckAdapter(spec({ targets: ['down_proj'] }), new Rng(1));
      assert.throws(() => buildPeftGraph(model, adapter, { kind: 'score', batch: 1, seq: 4 }), /match no projection.*c_attn, c_proj, c_fc/);
    } finally {
      model.close();
    }
  });

  const cases = [
    { name: 'GPT-2 series, tanh, c_fc + c_proj, dropout mask fed', dir: GPT2_DIR, spec: spec({ dropout: 0.1 }), rows: [[5, 9, 42, 7, 300, 2], [1, 5, 9, 999]] },
    { name: 'GPT-2 parallel, silu, c_fc + c_proj, scaling 2', dir: GPT2_DIR, spec: spec({ placement: 'parallel', activation: 'silu', scaling: 2 }), rows: [[5, 9, 42, 7, 300, 2], [1, 5, 9, 999]] },
    // ReLU: b_down > 0 so that units are alive (the fixture's down_proj outputs are tiny); no +-h step crosses the kink.
    { name: 'LLaMA series, relu, down_proj', dir: LLAMA_DIR, spec: spec({ activation: 'relu', targets: ['down_proj'] }), rows: [[1, 306, 4997, 526, 29889], [1, 910, 338]] },
    { name: 'LLaMA parallel, tanh, up_proj + down_proj, dropout', dir: LLAMA_DIR, spec: spec({ placement: 'parallel', targets: ['up_proj', 'down_proj'], dropout: 0.2 }), rows: [[1, 306, 4997, 526, 29889], [1, 910, 338]] },
  ];
  for (const c of cases) {
    it(`float64 gradients match central differences (relative error < 1e-6), float32 within 1e-5: ${c.name}`, async () => {
      const model = loadModel(c.dir);
      const seq = 6;
      const rng = new Rng(5);
      const adapter = new BottleneckAdapter(c.spec, rng);
      const b64 = buildPeftGraph(model, adapter, { kind: 'train', batch: 2, seq, dtype: 'float64' });
      const b32 = buildPeftGraph(model, adapter, { kind: 'train', batch: 2, seq });
      const s64 = await createSession({ bytes: toModelBytes(b64) }, { intraOpNumThreads: 1, graphOptimizationLevel: 'basic' });
      const s32 = await createSession({ bytes: toModelBytes(b32) }, { intraOpNumThreads: 1 });
      try {
        randomise(adapter, rng, 0.3);
        if (c.spec.activation === 'relu') for (const m of adapter.ordered()) m.downBias.forEach((v, i) => (m.downBias[i] = Math.abs(v) + 0.01));
        const batch = makeBatch(c.rows.map((ids) => ({ ids, labels: ids })), seq, 0);
        const values = new Map<string, { data: Float64Array; dims: number[] }>();
        for (const t of adapter.trainables()) values.set(t.name, { data: Float64Array.from(t.data), dims: [...t.dims] });
        if (c.spec.dropout > 0) {
          for (const m of adapter.dropoutMasks()) values.set(m.name, { data: Float64Array.from({ length: 2 * seq * m.features }, () => (rng.uniform() < c.spec.dropout ? 0 : 1)), dims: [2 * seq, m.features] });
        }
        const feeds = (dtype: 'float32' | 'float64'): Record<string, HostTensor> => {
          const f: Record<string, HostTensor> = batchFeeds(batch);
          for (const [name, v] of values) f[name] = hostTensor(name, dtype === 'float64' ? v.data : Float32Array.from(v.data), v.dims);
          return f;
        };
        const lossAt = async (): Promise<number> => (await s64.run(feeds('float64'), [LOSS_OUTPUT])).get(LOSS_OUTPUT, 'float64', []).data[0] ?? NaN;
        const analytic = await s64.run(feeds('float64'));
        const single = await s32.run(feeds('float32'));
        let worst = 0;
        let checked = 0;
        let worst32 = 0;
        for (const t of adapter.trainables()) {
          const v = values.get(t.name);
          assert.ok(v !== undefined);
          const grad = analytic.get(gradOutputName(t.name), 'float64', v.dims).data;
          const grad32 = single.get(gradOutputName(t.name), 'float32', v.dims).data;
          // float32 against float64 in relative L2 norm per tensor (as test/unit/graph/ortHarness.ts checkFloat32).
          let num = 0;
          let den = 0;
          grad.forEach((g, i) => {
            num += (g - (grad32[i] ?? NaN)) ** 2;
            den += g * g;
          });
          assert.ok(den > 0, `${t.name}: zero gradient`);
          worst32 = Math.max(worst32, Math.sqrt(num / den));
          for (const i of [0, Math.floor(v.data.length / 2), v.data.length - 1]) {
            const h = 1e-5;
            const orig = v.data[i] ?? 0;
            v.data[i] = orig + h;
            const up = await lossAt();
            v.data[i] = orig - h;
            const down = await lossAt();
            v.data[i] = orig;
            const numeric = (up - down) / (2 * h);
            const got = grad[i] ?? NaN;
            // Relative error as test/unit/graph/ortHarness.ts checkGradients measures it.
            const rel = Math.abs(got - numeric) / Math.max(Math.abs(got), Math.abs(numeric), 1e-3);
            assert.ok(rel < 1e-6, `${t.name}[${i}]: autodiff ${got}, finite difference ${numeric}, relative error ${rel}`);
            worst = Math.max(worst, rel);
            checked++;
          }
        }
        assert.ok(checked >= 3 * 4 * model.config.numLayers);
        assert.ok(worst32 < 1e-5, `float32 vs float64 gradients: worst relative difference ${worst32}`);
        console.log(`      worst relative error: finite differences ${worst.toExponential(2)}, float32 ${worst32.toExponential(2)}`);
      } finally {
        await s64.dispose();
        await s32.dispose();
        model.close();
      }
    });
  }
});

describe('peft: bottleneck adapters leave the base model untouched until trained', () => {
  const seq = 5;
  async function logits(model: LoadedModel, batch: TrainBatch, adapter: BottleneckAdapter | undefined, scale?: Float32Array): Promise<Float32Array> {
    const L = model.config.numLayers;
    const graph = buildCausalLm(model, {
      batch: batch.batch, seq, ...(adapter === undefined ? {} : { linearHook: adapter.hook({ train: false, layerScaleCount: L }) }),
    });
    graph.builder.output(graph.logits, 'logits');
    const session = await createSession({ bytes: toModelBytes(graph.builder) }, { intraOpNumThreads: 1 });
    try {
      const feeds: Record<string, HostTensor> = batchFeeds(batch);
      delete feeds[TARGETS_INPUT];
      if (adapter !== undefined) {
        for (const t of adapter.trainables()) feeds[t.name] = hostTensor(t.name, t.data, [...t.dims]);
        feeds[LAYER_SCALE_INPUT] = hostTensor(LAYER_SCALE_INPUT, scale ?? new Float32Array(L).fill(1), [L]);
      }
      return (await session.run(feeds)).get('logits', 'float32').data;
    } finally {
      await session.dispose();
    }
  }

  for (const dir of [GPT2_DIR, LLAMA_DIR]) {
    for (const placement of ['series', 'parallel'] as const) {
      it(`${dir.endsWith('gpt2') ? 'GPT-2' : 'LLaMA'} ${placement}: a fresh adapter, and any adapter at layer scale 0, give exactly the base logits`, async () => {
        const model = loadModel(dir);
        try {
          const batch = makeBatch([{ ids: [1, 5, 9, 42, 7], labels: [1, 5, 9, 42, 7] }, { ids: [1, 300, 2], labels: [1, 300, 2] }], seq, 0);
          const targets = dir.endsWith('gpt2') ? ['c_attn', 'c_proj', 'c_fc'] : ['q_proj', 'up_proj', 'down_proj'];
          const adapter = new BottleneckAdapter(spec({ placement, bottleneckSize: 4, targets }), new Rng(2));
          buildPeftGraph(model, adapter, { kind: 'score', batch: 2, seq });
          const base = await logits(model, batch, undefined);
          const fresh = await logits(model, batch, adapter);
          assert.ok(Buffer.from(fresh.buffer).equals(Buffer.from(base.buffer)), 'fresh adapter changed the logits');
          // A trained-looking adapter moves the logits unless every layer is scaled by 0.
          assert.ok(adapter.modules.size > 0);
          randomise(adapter, new Rng(3), 0.5);
          const L = model.config.numLayers;
          const trained = await logits(model, batch, adapter);
          assert.ok(trained.some((v, i) => v !== base[i]), 'a non-zero adapter left the logits unchanged');
          const suppressed = await logits(model, batch, adapter, new Float32Array(L));
          assert.ok(Buffer.from(suppressed.buffer).equals(Buffer.from(base.buffer)), 'layer scale 0 did not give the base logits');
        } finally {
          model.close();
        }
      });
    }
  }
});
