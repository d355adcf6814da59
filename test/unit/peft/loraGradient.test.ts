// LoRA through the linear hook: gradients of the LoRA-wrapped model's loss w.r.t. A and B (autodiff graph,
// float64) against central finite differences of the same graph's loss, on the tiny GPT-2 (Conv1D, c_attn /
// c_proj / c_fc, with dropout masks fed) and the tiny LLaMA (q_proj, v_proj, down_proj).
import { strict as assert } from 'node:assert';
import { makeBatch } from '../../../src/engine/data/batches';
import { toModelBytes } from '../../../src/engine/graph/serialize';
import { loadModel } from '../../../src/engine/models/model';
import { kaimingUniformBound, LoraAdapter, loraInputNames, loraScaling } from '../../../src/engine/peft/lora';
import { batchFeeds, buildLoraGraph, gradOutputName, LOSS_OUTPUT } from '../../../src/engine/train/loraGraph';
import { createSession, hostTensor, type HostTensor } from '../../../src/engine/runtime';
import { Rng } from '../../../src/engine/util/random';
import { GPT2_DIR, LLAMA_DIR } from './fixtures';

describe('peft: LoRA module', () => {
  it('scaling is alpha / r, or alpha / sqrt(r) with rsLoRA', () => {
    assert.equal(loraScaling({ r: 8, alpha: 16 }), 2);
    assert.equal(loraScaling({ r: 16, alpha: 16, rsLora: true }), 4);
  });

  it('initialises A Kaiming-uniform within 1/sqrt(in) and B to zero (as PEFT)', () => {
    assert.ok(Math.abs(kaimingUniformBound(64) - 1 / 8) < 1e-15);
    const model = loadModel(GPT2_DIR);
    try {
      const lora = new LoraAdapter({ r: 4, alpha: 8, dropout: 0, targets: ['c_attn'] }, new Rng(1));
      buildLoraGraph(model, lora, { kind: 'score', batch: 1, seq: 4 });
      assert.equal(lora.modules.size, 5);
      const m = lora.modules.get('transformer.h.2.attn.c_attn');
      assert.ok(m !== undefined);
      assert.equal(m.a.length, 4 * 32);
      assert.equal(m.b.length, 96 * 4);
      assert.ok(m.b.every((v) => v === 0));
      const bound = 1 / Math.sqrt(32);
      assert.ok(m.a.every((v) => Math.abs(v) <= bound) && m.a.some((v) => Math.abs(v) > bound / 2));
    } finally {
      model.close();
    }
  });

  it('targets that match no projection are an error naming the model modules', () => {
    const model = loadModel(GPT2_DIR);
    try {
      const lora = new LoraAdapter({ r: 2, alpha: 4, dropout: 0, targets: ['q_proj'] }, new Rng(1));
      assert.throws(() => buildLoraGraph(model, lora, { kind: 'score', batch: 1, seq: 4 }), /match no projection.*c_attn, c_proj, c_fc/);
    } finally {
      model.close();
    }
  });

  const cases = [
    { name: 'GPT-2 (Conv1D c_attn, c_proj, c_fc; dropout mask fed)', dir: GPT2_DIR, targets: ['c_attn', 'c_proj', 'c_fc'], dropout: 0.1, rows: [[5, 9, 42, 7, 300, 2], [1, 5, 9, 999]] },
    { name: 'LLaMA (q_proj, v_proj, down_proj)', dir: LLAMA_DIR, targets: ['q_proj', 'v_proj', 'down_proj'], dropout: 0, rows: [[1, 306, 4997, 526, 29889], [1, 910, 338]] },
  ];
  for (const c of cases) {
    it(`float64 autodiff gradients of A and B match central differences: ${c.name}`, async () => {
      const model = loadModel(c.dir);
      try {
        const rng = new Rng(5);
        const lora = new LoraAdapter({ r: 2, alpha: 4, dropout: c.dropout, targets: c.targets }, rng);
        const seq = 6;
        const b = buildLoraGraph(model, lora, { kind: 'train', batch: 2, seq, dtype: 'float64' });
        const session = await createSession({ bytes: toModelBytes(b) }, { intraOpNumThreads: 1, graphOptimizationLevel: 'basic' });
        try {
          const batch = makeBatch(c.rows.map((ids) => ({ ids, labels: ids })), seq, 0);
          const weights = new Map<string, { data: Float64Array; dims: number[] }>();
          for (const m of lora.ordered()) {
            const names = loraInputNames(m.path);
            // B random (not zero) so that dL/dA is not trivially zero.
            weights.set(names.a, { data: Float64Array.from(m.a), dims: [2, m.inFeatures] });
            weights.set(names.b, { data: Float64Array.from({ length: m.b.length }, () => rng.normal() * 0.3), dims: [m.outFeatures, 2] });
            if (c.dropout > 0) weights.set(names.mask, { data: Float64Array.from({ length: 2 * seq * m.inFeatures }, () => (rng.uniform() < c.dropout ? 0 : 1)), dims: [2 * seq, m.inFeatures] });
          }
          const feeds = (): Record<string, HostTensor> => {
            const f: Record<string, HostTensor> = batchFeeds(batch);
            for (const [name, w] of weights) f[name] = hostTensor(name, w.data, w.dims);
            return f;
          };
          const lossAt = async (): Promise<number> => (await session.run(feeds(), [LOSS_OUTPUT])).get(LOSS_OUTPUT, 'float64', []).data[0] ?? NaN;
          const analytic = await session.run(feeds());
          let checked = 0;
          for (const m of lora.ordered().filter((_, i) => i % 3 === 0)) {
            for (const which of ['a', 'b'] as const) {
              const name = loraInputNames(m.path)[which];
              const w = weights.get(name);
              assert.ok(w !== undefined);
              const grad = analytic.get(gradOutputName(name), 'float64', w.dims).data;
              for (const i of [0, Math.floor(w.data.length / 2), w.data.length - 1]) {
                const h = 1e-5;
                const orig = w.data[i] ?? 0;
                w.data[i] = orig + h;
                const up = await lossAt();
                w.data[i] = orig - h;
                const down = await lossAt();
                w.data[i] = orig;
                const numeric = (up - down) / (2 * h);
                const got = grad[i] ?? NaN;
                assert.ok(Math.abs(got - numeric) <= 1e-7 + 1e-5 * Math.abs(numeric), `${name}[${i}]: autodiff ${got}, finite difference ${numeric}`);
                checked++;
              }
            }
          }
          assert.ok(checked >= 12);
        } finally {
          await session.dispose();
        }
      } finally {
        model.close();
      }
    });
  }
});
