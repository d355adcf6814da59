// Generation with the KV cache against full recomputation: each step's logits must equal the logits of a
// plain forward pass over prompt + generated tokens at the same position.
import { strict as assert } from 'node:assert';
import { padBatch } from '../../../src/engine/models/batch';
import { generate } from '../../../src/engine/models/generate';
import { computeLogits } from '../../../src/engine/models/logits';
import { loadModel, type LoadedModel } from '../../../src/engine/models/model';
import { argmax, chooseToken, samplingDistribution, seededRandom } from '../../../src/engine/models/sampling';
import { FIXTURES } from './fixturePaths';
import { TINY_CONFIGS, writeTinyModel } from './tinyModels';

async function checkAgainstFullForward(model: LoadedModel, prompts: number[][], newTokens: number): Promise<number> {
  const result = await generate(model, prompts, { maxNewTokens: newTokens, returnLogits: true, eosTokenIds: [], session: { intraOpNumThreads: 1 } });
  assert.ok(result.stepLogits !== undefined);
  const V = model.config.vocabSize;
  const full = prompts.map((p, b) => [...p, ...result.tokens[b]]);
  const batch = padBatch(full, 'right', 0);
  const ref = await computeLogits(model, batch, { session: { intraOpNumThreads: 1 } });
  let maxAbs = 0;
  prompts.forEach((p, b) => {
    assert.equal(result.tokens[b].length, newTokens);
    assert.equal(result.stopReasons[b], 'length');
    for (let step = 0; step < newTokens; step++) {
      const position = p.length - 1 + step;
      const expected = ref.logits.subarray((b * batch.seq + position) * V, (b * batch.seq + position + 1) * V);
      const actual = result.stepLogits![step].subarray(b * V, (b + 1) * V);
      for (let v = 0; v < V; v++) maxAbs = Math.max(maxAbs, Math.abs(actual[v] - expected[v]));
      assert.equal(result.tokens[b][step], argmax(expected), `row ${b} step ${step}`);
    }
  });
  return maxAbs;
}

const PROMPTS = [[5, 9, 42, 7], [17, 4], [3, 3, 8]];

describe('models: generation with a KV cache', () => {
  for (const [name, open] of [
    ['gpt2 fixture', () => loadModel(FIXTURES.gpt2)],
    ['llama fixture', () => loadModel(FIXTURES.llama)],
    ['qwen2 tiny (GQA)', () => loadModel(writeTinyModel(TINY_CONFIGS.qwen2, { seed: 11 }))],
    ['opt tiny', () => loadModel(writeTinyModel(TINY_CONFIGS.opt, { seed: 12 }))],
  ] as const) {
    it(`${name}: greedy steps equal full recomputation`, async () => {
      const model = open();
      try {
        const maxAbs = await checkAgainstFullForward(model, PROMPTS, 5);
        assert.ok(maxAbs < 1e-4, `max abs ${maxAbs}`);
      } finally {
        model.close();
      }
    });
  }

  it('stops a row at EOS and keeps generating the others', async () => {
    const model = loadModel(FIXTURES.gpt2);
    try {
      const free = await generate(model, PROMPTS, { maxNewTokens: 4, eosTokenIds: [] });
      const stopAt = free.tokens[0][1];
      const stopped = await generate(model, PROMPTS, { maxNewTokens: 4, eosTokenIds: [stopAt] });
      assert.deepEqual(stopped.tokens[0], free.tokens[0].slice(0, 2));
      assert.equal(stopped.stopReasons[0], 'eos');
      for (let b = 1; b < PROMPTS.length; b++) {
        const cut = free.tokens[b].indexOf(stopAt);
        assert.deepEqual(stopped.tokens[b], cut < 0 ? free.tokens[b] : free.tokens[b].slice(0, cut + 1));
      }
    } finally {
      model.close();
    }
  });

  it('sampling is seeded and reproducible; top-k 1 is greedy', async () => {
    const model = loadModel(FIXTURES.gpt2);
    try {
      const a = await generate(model, PROMPTS, { maxNewTokens: 4, temperature: 1.5, seed: 3, eosTokenIds: [] });
      const b = await generate(model, PROMPTS, { maxNewTokens: 4, temperature: 1.5, seed: 3, eosTokenIds: [] });
      assert.deepEqual(a.tokens, b.tokens);
      const greedy = await generate(model, PROMPTS, { maxNewTokens: 4, eosTokenIds: [] });
      const topOne = await generate(model, PROMPTS, { maxNewTokens: 4, temperature: 0.7, topK: 1, seed: 9, eosTokenIds: [] });
      assert.deepEqual(topOne.tokens, greedy.tokens);
    } finally {
      model.close();
    }
  });

  it('sampling distribution: temperature, top-k and top-p as defined; draws follow it', () => {
    const logits = [2, 1, 0, -1];
    const z = logits.reduce((s, l) => s + Math.exp(l / 2), 0);
    const p = samplingDistribution(logits, { temperature: 2 });
    logits.forEach((l, i) => assert.ok(Math.abs(p[i] - Math.exp(l / 2) / z) < 1e-12));
    const k2 = samplingDistribution(logits, { topK: 2 });
    assert.ok(Math.abs(k2[0] - Math.exp(2) / (Math.exp(2) + Math.exp(1))) < 1e-12);
    assert.equal(k2[2], 0);
    // softmax([2,1,0,-1]) = [0.644, 0.237, 0.087, 0.032]: top-p 0.85 keeps the first two (0.881 >= 0.85).
    const nucleus = samplingDistribution(logits, { topP: 0.85 });
    assert.ok(nucleus[0] > 0 && nucleus[1] > 0 && nucleus[2] === 0 && nucleus[3] === 0);
    assert.ok(Math.abs(nucleus[0] + nucleus[1] - 1) < 1e-12);
    const random = seededRandom(1);
    const counts = [0, 0, 0, 0];
    const n = 20000;
    for (let i = 0; i < n; i++) counts[chooseToken(logits, { temperature: 2 }, random)] += 1;
    counts.forEach((c, i) => assert.ok(Math.abs(c / n - p[i]) < 0.015, `token ${i}: ${c / n} vs ${p[i]}`));
  });
});
