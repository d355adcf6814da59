// Emulator building end to end on tiny models: the written folder reloads through loadModel + buildCausalLm,
// ratios 1.0 reproduce the full model, budgets (rank, channels, keepTopRankRatio, parameter count) hold, GradOT's
// emulator is worse than the full model on the support data, and the layer-dropping methods run the layers
// their plan says (checked against the full model run with the same layer list).
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { TrainBatch } from '../../../../src/engine/data/batches';
import { computeLogits, loadModel, padBatch, type LoadedModel } from '../../../../src/engine/models';
import { channelBudget, factorizedParamCount, mlpParamCount, rankBudget } from '../../../../src/engine/offsite';
import { buildEmulator, type EmulatorOptions, type EmulatorResult } from '../../../../src/engine/offsite/emulator';
import { intermediateSize, layerModules, layerPrefix, mlpHasBias } from '../../../../src/engine/offsite/stats';
import { writeTinyModel } from '../../models/tinyModels';
import { FIXTURE_GPT2, maxAbs, randomBatches, tmpDir } from './support';

const SESSION = { intraOpNumThreads: 1 };
const ROWS = [[5, 17, 400, 3, 99, 12], [7, 8, 600]];

const TINY_LLAMA4 = {
  model_type: 'llama', vocab_size: 64, hidden_size: 16, intermediate_size: 24, num_hidden_layers: 4, num_attention_heads: 2,
  num_key_value_heads: 1, rope_theta: 10000, rms_norm_eps: 1e-6, tie_word_embeddings: false,
};

async function logitsOf(model: LoadedModel, rows: readonly (readonly number[])[], layers?: readonly number[]): Promise<Float32Array> {
  const batch = padBatch(rows, 'right', 0);
  const { logits } = await computeLogits(model, batch, { session: SESSION, ...(layers !== undefined ? { graph: { layers } } : {}) });
  return logits;
}

async function build(model: LoadedModel, support: readonly TrainBatch[], options: EmulatorOptions, tag: string): Promise<EmulatorResult> {
  return buildEmulator(model, support, { session: SESSION, ...options }, path.join(tmpDir(tag), 'emulator'));
}

function diff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  return maxAbs(Array.from(a, (v, i) => v - (b[i] as number)));
}

/** The parameter count the budgets imply: the full model minus the middle layers' compressed weights plus their budgets. */
function budgetParamCount(model: LoadedModel, middle: readonly number[], attentionRatio: number, mlpRatio: number): number {
  const c = model.config;
  const mods = layerModules(c);
  const H = c.hiddenSize;
  const inter = intermediateSize(c);
  const size = (name: string) => model.weights.spec(name).shape.reduce((a, d) => a * d, 1);
  let n = model.weights.parameterCount();
  for (const l of middle) {
    const p = layerPrefix(c, l);
    const mlpNames = [mods.mlp.up, mods.mlp.down, ...(mods.mlp.gate !== undefined ? [mods.mlp.gate] : [])];
    for (const rel of [...mods.attention, ...mlpNames]) n -= size(`${p}${rel}.weight`);
    if (mlpHasBias(c)) for (const rel of mlpNames) n -= size(`${p}${rel}.bias`);
    // Attention: every map [out, in] factorized at round(ratio * min(out, in)); GPT-2's c_attn counts as 3 [H, H] maps.
    for (const rel of mods.attention) {
      const [a, b] = model.weights.spec(`${p}${rel}.weight`).shape as [number, number];
      const maps: [number, number][] = c.family === 'gpt2' && rel === 'attn.c_attn' ? [[H, H], [H, H], [H, H]] : [[a, b]];
      for (const [o, i] of maps) n += factorizedParamCount(o, i, rankBudget(Math.min(o, i), attentionRatio, 0).kept);
    }
    n += mlpParamCount(H, channelBudget(inter, mlpRatio), { gated: mods.mlp.gate !== undefined, bias: mlpHasBias(c) });
  }
  return n;
}

describe('offsite emulator: building, writing, reloading', () => {
  let gpt2: LoadedModel;
  let llama: LoadedModel;
  let gpt2Support: TrainBatch[];
  let llamaSupport: TrainBatch[];
  before(() => {
    gpt2 = loadModel(FIXTURE_GPT2);
    llama = loadModel(writeTinyModel(TINY_LLAMA4, { seed: 5 }));
    gpt2Support = randomBatches(21, 2, 4, 8, 1000);
    llamaSupport = randomBatches(22, 2, 4, 8, 64);
  });
  after(() => {
    gpt2.close();
    llama.close();
  });

  for (const which of ['gpt2', 'llama'] as const) {
    it(`${which}: gradot with ratios 1.0 (nothing removed) reproduces the full model's logits; the folder reloads`, async () => {
      const model = which === 'gpt2' ? gpt2 : llama;
      const r = await build(model, which === 'gpt2' ? gpt2Support : llamaSupport,
        { method: 'gradot', adapterLayers: [1, 1], attentionRankRatio: 1, mlpChannelRatio: 1 }, `${which}-full`);
      const emulator = loadModel(r.dir);
      try {
        const block = emulator.config.emulator;
        assert.ok(block, 'config.json has the peft_lab_emulator block');
        assert.equal(block.method, 'gradot');
        assert.deepEqual(block.adapterLayers, [1, 1]);
        assert.deepEqual(block.layers.map((l) => l.source), [0, 1, 2, 3, ...(which === 'gpt2' ? [4] : [])]);
        assert.ok(Object.keys(block.layers[1]?.factorized ?? {}).length > 0, 'middle layers are stored factorized');
        assert.deepEqual(block.layers[0]?.factorized, {});
        const d = diff(await logitsOf(model, which === 'gpt2' ? ROWS : [[5, 17, 40, 3], [7, 8]]), await logitsOf(emulator, which === 'gpt2' ? ROWS : [[5, 17, 40, 3], [7, 8]]));
        assert.ok(d < 1e-4, `max |logits difference| ${d}`);
        assert.ok(r.diagnostics.loss !== undefined && Math.abs(r.diagnostics.loss.full - r.diagnostics.loss.emulator) < 1e-4);
      } finally {
        emulator.close();
      }
    });
  }

  it('gpt2: gradot honours the rank, channel and parameter budgets, keeps the top components, and is worse than the full model', async () => {
    const r = await build(gpt2, gpt2Support, { method: 'gradot', adapterLayers: [1, 1], attentionRankRatio: 0.5, mlpChannelRatio: 0.5, keepTopRankRatio: 0.25 }, 'gpt2-gradot');
    const attention = r.diagnostics.modules.filter((m) => m.kind === 'attention');
    const mlp = r.diagnostics.modules.filter((m) => m.kind === 'mlp');
    assert.equal(attention.length, 3 * 4, 'q, k, v and c_proj of 3 middle layers');
    assert.equal(mlp.length, 3);
    for (const m of attention) {
      assert.equal(m.fullRank, 32);
      assert.equal(m.keptRank, 16);
      assert.equal(m.kept.length, 16);
      assert.equal(m.gcs?.length, 32);
      // Singular values descending; the top ceil(0.25 * 32) = 8 components are kept whatever their GCS.
      for (let k = 1; k < m.singularValues.length; k++) assert.ok((m.singularValues[k - 1] as number) >= (m.singularValues[k] as number));
      for (let k = 0; k < 8; k++) assert.ok(m.kept.includes(k), `${m.name}: top component ${k} removed`);
      // Among the other candidates, the removed ones are those with the lowest GCS.
      const removed = Array.from({ length: 32 }, (_, k) => k).filter((k) => !m.kept.includes(k));
      const keptOthers = m.kept.filter((k) => k >= 8);
      const gcs = m.gcs ?? [];
      assert.ok(Math.max(...removed.map((k) => gcs[k] as number)) <= Math.min(...keptOthers.map((k) => gcs[k] as number)));
    }
    for (const m of mlp) {
      assert.equal(m.fullChannels, 128);
      assert.equal(m.keptChannels, 64);
    }
    assert.equal(r.parameterCount, budgetParamCount(gpt2, [1, 2, 3], 0.5, 0.5));
    const emulator = loadModel(r.dir);
    try {
      assert.equal(emulator.weights.parameterCount(), r.parameterCount);
      assert.deepEqual(emulator.checkpoint.info('transformer.h.2.attn.c_attn.k.first.weight').shape, [16, 32]);
      assert.deepEqual(emulator.checkpoint.info('transformer.h.2.mlp.c_fc.weight').shape, [32, 64]);
      assert.equal(emulator.config.emulator?.layers[2]?.intermediateSize, 64);
    } finally {
      emulator.close();
    }
    const loss = r.diagnostics.loss;
    assert.ok(loss !== undefined);
    assert.ok(loss.emulator > loss.full, `emulator loss ${loss.emulator} should exceed the full model's ${loss.full}`);
  });

  it('keepTopRankRatio is binding: without it GradOT (large lambda) removes some top components, with it none', async () => {
    const options: EmulatorOptions = { method: 'gradot', adapterLayers: [1, 1], attentionRankRatio: 0.5, lambdaAttention: 1e4, evaluateLoss: false };
    const free = await build(gpt2, gpt2Support, { ...options, keepTopRankRatio: 0 }, 'gpt2-free');
    const topRemoved = (r: EmulatorResult) => r.diagnostics.modules.filter((m) => m.kind === 'attention' && [0, 1, 2, 3].some((k) => !m.kept.includes(k))).length;
    assert.ok(topRemoved(free) > 0, 'the constraint is not exercised');
    const kept = await build(gpt2, gpt2Support, { ...options, keepTopRankRatio: 4 / 32 }, 'gpt2-kept');
    assert.equal(topRemoved(kept), 0);
  });

  it('llama: the budgets and parameter count hold for a gated MLP and grouped-query projections', async () => {
    const r = await build(llama, llamaSupport, { method: 'gradot', adapterLayers: [1, 1], attentionRankRatio: 0.5, mlpChannelRatio: 0.5 }, 'llama-gradot');
    assert.equal(r.parameterCount, budgetParamCount(llama, [1, 2], 0.5, 0.5));
    const kProj = r.diagnostics.modules.find((m) => m.name === 'model.layers.1.self_attn.k_proj');
    assert.deepEqual([kProj?.fullRank, kProj?.keptRank], [8, 4], 'k_proj [8, 16] has rank 8');
    const emulator = loadModel(r.dir);
    try {
      assert.equal(emulator.weights.parameterCount(), r.parameterCount);
      assert.ok(maxAbs(await logitsOf(emulator, [[1, 2, 3]])) > 0);
    } finally {
      emulator.close();
    }
  });

  for (const which of ['gpt2', 'llama'] as const) {
    it(`${which}: svd, uniform-drop and crash run; the dropped emulators run exactly the layers of their plan`, async () => {
      const model = which === 'gpt2' ? gpt2 : llama;
      const support = which === 'gpt2' ? gpt2Support : llamaSupport;
      const rows = which === 'gpt2' ? ROWS : [[5, 17, 40, 3], [7, 8]];
      const L = model.config.numLayers;
      const svd = await build(model, support, { method: 'svd', adapterLayers: [1, 1], attentionRankRatio: 0.5, mlpChannelRatio: 0.5 }, `${which}-svd`);
      assert.equal(svd.parameterCount, budgetParamCount(model, Array.from({ length: L - 2 }, (_, i) => i + 1), 0.5, 0.5));
      assert.ok(svd.diagnostics.modules.every((m) => m.gcs === null));
      for (const method of ['uniform-drop', 'crash'] as const) {
        const r = await build(model, support, { method, adapterLayers: [1, 1], keepLayers: 1 }, `${which}-${method}`);
        const emulator = loadModel(r.dir);
        try {
          const block = emulator.config.emulator;
          assert.ok(block);
          const sources = block.layers.map((l) => l.source);
          assert.equal(sources.length, 3, 'bottom adapter, one middle layer, top adapter');
          assert.deepEqual([sources[0], sources[2]], [0, L - 1]);
          assert.equal(block.layerMap.length, method === 'crash' ? L : 3);
          const fullLayers = block.layerMap.map((i) => sources[i] as number);
          if (method === 'uniform-drop') assert.deepEqual(fullLayers, [0, 1, L - 1]);
          else assert.deepEqual(fullLayers.slice(1, L - 1), new Array<number>(L - 2).fill(sources[1] as number));
          const d = diff(await logitsOf(emulator, rows), await logitsOf(model, rows, fullLayers));
          assert.ok(d < 1e-5, `${method}: emulator vs full model on layers [${fullLayers.join(', ')}]: ${d}`);
          assert.ok(r.diagnostics.loss !== undefined && Number.isFinite(r.diagnostics.loss.emulator));
        } finally {
          emulator.close();
        }
      }
      const tokenizer = path.join(model.dir, 'tokenizer.json');
      assert.equal(fs.existsSync(path.join(svd.dir, 'tokenizer.json')), fs.existsSync(tokenizer));
    });
  }

  it('refuses bad settings with the key named', async () => {
    await assert.rejects(build(gpt2, gpt2Support, { method: 'uniform-drop', adapterLayers: [1, 1] }, 'bad1'), /keepLayers/);
    await assert.rejects(build(gpt2, gpt2Support, { method: 'gradot', adapterLayers: [3, 2] }, 'bad2'), /adapterLayers.*no middle layer/);
  });
});
