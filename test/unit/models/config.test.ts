import { strict as assert } from 'node:assert';
import { parseModelConfig, readModelConfig } from '../../../src/engine/models/config';
import { llama3ScaledFrequency } from '../../../src/engine/models/rope';
import { FIXTURES } from './fixturePaths';

describe('models/config', () => {
  it('parses the fixtures', () => {
    const g = readModelConfig(FIXTURES.gpt2);
    assert.equal(g.family, 'gpt2');
    if (g.family !== 'gpt2') return;
    assert.deepEqual([g.numLayers, g.hiddenSize, g.numHeads, g.headDim, g.innerSize, g.vocabSize, g.maxPositions], [5, 32, 4, 8, 128, 1000, 512]);
    assert.equal(g.tieWordEmbeddings, true);
    const l = readModelConfig(FIXTURES.llama);
    assert.equal(l.family, 'llama');
    if (l.family !== 'llama') return;
    assert.deepEqual([l.numLayers, l.hiddenSize, l.numHeads, l.numKvHeads, l.headDim, l.intermediateSize], [2, 16, 1, 1, 16, 64]);
    assert.deepEqual([l.rmsNormEps, l.ropeTheta, l.tieWordEmbeddings, l.qkvBias, l.oBias], [1e-6, 10000, false, false, false]);
    assert.deepEqual(l.eosTokenIds, [1]);
  });

  it('LLaMA family: GQA, Qwen2 biases, attention_bias, defaults', () => {
    const q = parseModelConfig({ model_type: 'qwen2', hidden_size: 64, num_attention_heads: 8, num_key_value_heads: 2, rope_theta: 1e6, tie_word_embeddings: true, eos_token_id: [5, 7] });
    assert.ok(q.family === 'llama');
    assert.deepEqual([q.numKvHeads, q.headDim, q.ropeTheta, q.qkvBias, q.oBias, q.tieWordEmbeddings], [2, 8, 1e6, true, false, true]);
    assert.deepEqual(q.eosTokenIds, [5, 7]);
    const l = parseModelConfig({ model_type: 'llama', hidden_size: 64, num_attention_heads: 8, attention_bias: true });
    assert.ok(l.family === 'llama');
    assert.deepEqual([l.numKvHeads, l.qkvBias, l.oBias], [8, true, true]);
    const m = parseModelConfig({ model_type: 'mistral', hidden_size: 64, num_attention_heads: 8, num_key_value_heads: 4 });
    assert.ok(m.family === 'llama' && m.modelType === 'mistral');
    assert.equal(m.slidingWindow, undefined);
    const w = parseModelConfig({ model_type: 'mistral', sliding_window: 4096 });
    assert.ok(w.family === 'llama' && w.slidingWindow === 4096);
    const qw = parseModelConfig({ model_type: 'qwen2', sliding_window: 4096, use_sliding_window: false });
    assert.ok(qw.family === 'llama' && qw.slidingWindow === undefined);
    assert.throws(() => parseModelConfig({ model_type: 'llama', hidden_size: 64, num_attention_heads: 8, num_key_value_heads: 3 }),
      /key "num_key_value_heads".*3 does not divide num_attention_heads 8/);
    assert.throws(() => parseModelConfig({ model_type: 'llama', rope_scaling: { rope_type: 'llama3', factor: 8 } }),
      /key "rope_scaling\.low_freq_factor"\): expected a positive number/);
    assert.throws(() => parseModelConfig({ model_type: 'llama', rope_scaling: { type: 'dynamic', factor: 2 } }),
      /rope type "dynamic" is not supported \(supported: default, llama3\)/);
    const l3 = parseModelConfig({ model_type: 'llama', rope_scaling: { rope_type: 'llama3', factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 8192 } });
    assert.ok(l3.family === 'llama');
    assert.deepEqual(l3.ropeScaling, { type: 'llama3', factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositions: 8192 });
  });

  it('Llama 3 RoPE scaling keeps high frequencies, divides low ones, blends in between', () => {
    const s = { type: 'llama3', factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositions: 8192 } as const;
    // Wavelength 2 pi / f: 6.3 < 8192 / 4 kept; 2 pi / 1e-4 = 62832 > 8192 divided by 8.
    assert.equal(llama3ScaledFrequency(1, s), 1);
    assert.equal(llama3ScaledFrequency(1e-4, s), 1e-4 / 8);
    // Wavelength 4096: smooth = (8192 / 4096 - 1) / (4 - 1) = 1/3; f' = (2/3) f / 8 + (1/3) f.
    const f = (2 * Math.PI) / 4096;
    assert.ok(Math.abs(llama3ScaledFrequency(f, s) - ((2 / 3) * (f / 8) + f / 3)) < 1e-15);
  });

  it('OPT: positions offset 2, pre/post LN, word_embed_proj_dim', () => {
    const o = parseModelConfig({ model_type: 'opt', hidden_size: 32, num_attention_heads: 4, ffn_dim: 64, word_embed_proj_dim: 32, do_layer_norm_before: false });
    assert.ok(o.family === 'opt');
    assert.deepEqual([o.positionOffset, o.doLayerNormBefore, o.enableBias, o.ffnDim, o.tieWordEmbeddings], [2, false, true, 64, true]);
    assert.throws(() => parseModelConfig({ model_type: 'opt', hidden_size: 1024, word_embed_proj_dim: 512 }, 'm/config.json'),
      /m\/config\.json \(key "word_embed_proj_dim"\): 512 differs from hidden_size 1024/);
  });

  it('rejects unknown model types listing the supported ones, and bad values naming the key', () => {
    assert.throws(() => parseModelConfig({ model_type: 'falcon' }, 'x/config.json'),
      /x\/config\.json \(key "model_type"\): model_type "falcon" is not supported; supported: gpt2, llama, mistral, qwen2, opt/);
    assert.throws(() => parseModelConfig({ model_type: 'gpt2', n_embd: 'big' }), /key "n_embd".*positive integer/);
    assert.throws(() => parseModelConfig({ model_type: 'gpt2', n_embd: 30, n_head: 4 }), /n_embd 30 is not divisible by n_head 4/);
    assert.throws(() => parseModelConfig({}), /key "model_type"\): missing/);
    assert.throws(() => readModelConfig('/nonexistent-dir'), /nonexistent-dir\/config\.json: cannot read/);
  });
});
