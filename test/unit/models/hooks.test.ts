// The PEFT attachment point: linearHook sees every projection with its Hugging Face path, and a LoRA-style
// delta added through it equals the reference run with the merged weight W + s B A. Also: float64 graphs,
// layer selection (layer-drop emulators), and checkpoint/config mismatches caught at load time.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { toModelBytes, type GraphBuilder, type Tensor } from '../../../src/engine/graph';
import { padBatch, type PaddedBatch } from '../../../src/engine/models/batch';
import { buildCausalLm, type CausalLmOptions } from '../../../src/engine/models/causalLm';
import type { LinearSite } from '../../../src/engine/models/layers';
import { loadModel, type LoadedModel } from '../../../src/engine/models/model';
import { writeSafetensors } from '../../../src/engine/models/safetensorsWriter';
import { createSession, hostTensor } from '../../../src/engine/runtime';
import { batchRows, compareLogits } from './compare';
import { FIXTURES } from './fixturePaths';
import { reference, rng, TINY_CONFIGS, writeTinyModel } from './tinyModels';

async function run64(model: LoadedModel, batch: PaddedBatch, options: Omit<CausalLmOptions, 'batch' | 'seq' | 'dtype'>): Promise<Float64Array> {
  const graph = buildCausalLm(model, { batch: batch.batch, seq: batch.seq, dtype: 'float64', ...options });
  graph.builder.output(graph.logits, 'logits');
  const session = await createSession({ bytes: toModelBytes(graph.builder) }, { intraOpNumThreads: 1, graphOptimizationLevel: 'basic' });
  try {
    const dims = [batch.batch, batch.seq];
    const i64 = (a: Int32Array) => BigInt64Array.from(a, (v) => BigInt(v));
    const out = await session.run({
      input_ids: hostTensor('input_ids', i64(batch.ids), dims),
      attention_mask: hostTensor('attention_mask', i64(batch.mask), dims),
      position_ids: hostTensor('position_ids', i64(batch.positions), dims),
    });
    return out.get('logits', 'float64', [batch.batch, batch.seq, model.config.vocabSize]).data;
  } finally {
    await session.dispose();
  }
}

const ROWS = [[3, 7, 11, 2, 19], [4, 9, 1]];

describe('models: linear hook (PEFT attachment), float64 graphs, layer selection', () => {
  it('visits every projection with module, layer and Hugging Face path', () => {
    const seen: string[] = [];
    for (const dir of [FIXTURES.gpt2, FIXTURES.llama]) {
      const model = loadModel(dir);
      try {
        buildCausalLm(model, {
          batch: 1, seq: 3,
          linearHook: (_g, site) => {
            seen.push(`${site.layer}:${site.module}:${site.path}:${site.layout}:${site.inFeatures}x${site.outFeatures}`);
            return site.base();
          },
        });
      } finally {
        model.close();
      }
    }
    assert.equal(seen.length, 5 * 4 + 2 * 7);
    assert.deepEqual(seen.slice(0, 4), [
      '0:c_attn:transformer.h.0.attn.c_attn:in_out:32x96', '0:c_proj:transformer.h.0.attn.c_proj:in_out:32x32',
      '0:c_fc:transformer.h.0.mlp.c_fc:in_out:32x128', '0:c_proj:transformer.h.0.mlp.c_proj:in_out:128x32',
    ]);
    assert.deepEqual(seen.slice(20, 27).map((s) => s.split(':')[1]), ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj']);
    assert.equal(seen[33], '1:down_proj:model.layers.1.mlp.down_proj:out_in:64x16');
  });

  for (const [name, targets] of [['qwen2', ['q_proj', 'v_proj', 'down_proj']], ['gpt2Untied', ['c_attn', 'c_fc']], ['opt', ['k_proj', 'fc1']]] as const) {
    it(`${name}: a LoRA delta through the hook equals the merged weight W + s B A (float64 graph)`, async () => {
      const model = loadModel(writeTinyModel(TINY_CONFIGS[name], { seed: 7 }));
      try {
        const rank = 2;
        const scale = 0.5;
        const random = rng(99);
        const merged = new Map<string, Float64Array>();
        const hook = (g: GraphBuilder, site: LinearSite): Tensor => {
          if (!(targets as readonly string[]).includes(site.module)) return site.base();
          const a = Array.from({ length: rank * site.inFeatures }, () => random() - 0.5);
          const b = Array.from({ length: site.outFeatures * rank }, () => random() - 0.5);
          // Reference: W' = W + s B A in the stored layout ([out, in], or [in, out] for Conv1D).
          const w = model.checkpoint.readFloat64(`${site.path}.weight`);
          const wNew = Float64Array.from(w);
          for (let o = 0; o < site.outFeatures; o++) {
            for (let i = 0; i < site.inFeatures; i++) {
              let d = 0;
              for (let r = 0; r < rank; r++) d += b[o * rank + r] * a[r * site.inFeatures + i];
              wNew[site.layout === 'out_in' ? o * site.inFeatures + i : i * site.outFeatures + o] += scale * d;
            }
          }
          merged.set(`${site.path}.weight`, wNew);
          const A = g.constant('float64', [rank, site.inFeatures], a);
          const B = g.constant('float64', [site.outFeatures, rank], b);
          const delta = g.gemm(g.gemm(site.x, A, undefined, { transB: true }), B, undefined, { transB: true, alpha: scale });
          return g.add(site.base(), delta);
        };
        const batch = padBatch(ROWS, 'left', 0);
        const ours = await run64(model, batch, { linearHook: hook });
        assert.ok(merged.size >= 2 * targets.length);
        const expected = reference(model, batchRows(batch), merged);
        const cmp = compareLogits(ours, (b, s) => expected[b][s], batch, model.config.vocabSize);
        assert.ok(cmp.maxAbs < 1e-7, `max abs ${cmp.maxAbs}`);
        // And the delta matters: without it the logits differ.
        const plain = reference(model, batchRows(batch));
        assert.ok(compareLogits(ours, (b, s) => plain[b][s], batch, model.config.vocabSize).maxAbs > 1e-3);
      } finally {
        model.close();
      }
    });
  }

  it('layers option: running layers [1, 1] equals a checkpoint whose layer 0 is a copy of layer 1', async () => {
    const config = TINY_CONFIGS.llamaBias;
    const model = loadModel(writeTinyModel(config, { seed: 3 }));
    const copyDir = writeTinyModel(config, { seed: 3 });
    const copy = model.checkpoint.names().map((n) => {
      const source = n.replace(/^model\.layers\.0\./, 'model.layers.1.');
      const info = model.checkpoint.info(source);
      return { name: n, dtype: 'F32' as const, shape: info.shape, data: model.checkpoint.readFloat64(source) };
    });
    writeSafetensors(path.join(copyDir, 'model.safetensors'), copy);
    const twin = loadModel(copyDir);
    try {
      const batch = padBatch(ROWS, 'right', 0);
      const dropped = await run64(model, batch, { layers: [1, 1] });
      const expected = reference(twin, batchRows(batch));
      assert.ok(compareLogits(dropped, (b, s) => expected[b][s], batch, config.vocab_size).maxAbs < 1e-7);
      assert.throws(() => buildCausalLm(model, { batch: 1, seq: 2, layers: [2] }), /layer 2 is not in 0\.\.1/);
    } finally {
      model.close();
      twin.close();
    }
  });

  it('load-time checks name the file and tensor: missing tensor, wrong shape, shape vs config', () => {
    const dir = writeTinyModel(TINY_CONFIGS.opt);
    const file = path.join(dir, 'model.safetensors');
    const model = loadModel(dir);
    const all = model.checkpoint.names().map((n) => ({ name: n, dtype: 'F32' as const, shape: model.checkpoint.info(n).shape, data: model.checkpoint.readFloat64(n) }));
    model.close();
    writeSafetensors(file, all.filter((t) => t.name !== 'model.decoder.layers.1.fc2.bias'));
    assert.throws(() => loadModel(dir), (e: Error) => e.message.includes(file) && e.message.includes("'model.decoder.layers.1.fc2.bias'") && /missing/.test(e.message));
    writeSafetensors(file, all.map((t) => (t.name === 'model.decoder.layers.0.fc1.weight' ? { ...t, shape: [t.shape[1], t.shape[0]] } : t)));
    assert.throws(() => loadModel(dir), (e: Error) => e.message.includes(file) && e.message.includes("'model.decoder.layers.0.fc1.weight'") &&
      e.message.includes('stored shape [16, 40] but config.json implies [40, 16]'));
    // A config that disagrees with the checkpoint (ffn_dim) is caught the same way.
    writeSafetensors(file, all);
    fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ ...TINY_CONFIGS.opt, ffn_dim: 41 }));
    assert.throws(() => loadModel(dir), /fc1\.weight': stored shape \[40, 16\] but config\.json implies \[41, 16\]/);
  });

  it('accepts checkpoints saved without the base-model prefix (e.g. the original gpt2 repo)', async () => {
    const dir = writeTinyModel(TINY_CONFIGS.gpt2Untied, { seed: 5 });
    const model = loadModel(dir);
    const batch = padBatch(ROWS, 'right', 0);
    const expected = reference(model, batchRows(batch));
    const stripped = model.checkpoint.names().map((n) => ({
      name: n.replace(/^transformer\./, ''), dtype: 'F32' as const, shape: model.checkpoint.info(n).shape, data: model.checkpoint.readFloat64(n),
    }));
    model.close();
    writeSafetensors(path.join(dir, 'model.safetensors'), stripped);
    const reloaded = loadModel(dir);
    try {
      assert.ok(!reloaded.checkpoint.has('transformer.wte.weight'));
      const ours = await run64(reloaded, batch, {});
      assert.ok(compareLogits(ours, (b, s) => expected[b][s], batch, 30).maxAbs < 1e-7);
    } finally {
      reloaded.close();
    }
  });
});

