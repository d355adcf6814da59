// Accuracy by generation + answer extraction (LLM-Adapters' commonsense_evaluate.py scoring), and the runner's
// greedy generation with adapter weights fed as inputs, checked against a brute-force greedy oracle that scores
// every vocabulary entry through the runner's own score graph.
import { strict as assert } from 'node:assert';
import * as path from 'node:path';
import { readChoiceItems } from '../../../src/engine/data';
import { IGNORE_INDEX } from '../../../src/engine/data/examples';
import { makeBatch } from '../../../src/engine/data/batches';
import { answerPattern, extractAnswer, generationAccuracy } from '../../../src/engine/eval';
import { generate } from '../../../src/engine/models/generate';
import { loadModel } from '../../../src/engine/models/model';
import { ModelTokenizer } from '../../../src/engine/models/tokenizer';
import { LoraAdapter } from '../../../src/engine/peft/lora';
import { LoraRunner } from '../../../src/engine/train/loraGraph';
import { Rng } from '../../../src/engine/util/random';
import { COMMONSENSE_DIR, GPT2_DIR, LLAMA_DIR } from '../peft/fixtures';

describe('eval: accuracy by generation and answer extraction', function () {
  this.timeout(60_000);

  it('extracts the first label of the set\'s LLM-Adapters pattern, case-sensitively', () => {
    assert.deepEqual(answerPattern(['true', 'false']), ['true', 'false']);
    assert.deepEqual(answerPattern(['answer1', 'answer2', 'answer3']), ['answer1', 'answer2', 'answer3', 'answer4', 'answer5']);
    assert.deepEqual(answerPattern(['option1', 'option2']), ['option1', 'option2']);
    assert.deepEqual(answerPattern(['yes', 'no']), ['yes', 'no']);
    assert.equal(extractAnswer('the correct answer is true', ['true', 'false']), 'true');
    assert.equal(extractAnswer('false, and not true', ['true', 'false']), 'false');
    assert.equal(extractAnswer('True', ['true', 'false']), undefined);
    assert.equal(extractAnswer('the correct answer is answer4 or answer2', answerPattern(['answer1', 'answer2', 'answer3'])), 'answer4');
    assert.equal(extractAnswer('nothing here', ['solution1', 'solution2']), undefined);
  });

  it('scores what the runner generates: prompts are the encoded templates, predictions the extracted labels', async () => {
    const tok = ModelTokenizer.load(LLAMA_DIR, 32000);
    const items = readChoiceItems(path.join(COMMONSENSE_DIR, 'boolq/test.json'), 5);
    const seenPrompts: number[][] = [];
    // A stand-in model that answers items 0, 2, 4 right, item 1 wrong and item 3 with no label at all.
    let next = 0;
    const runner = {
      generate: (prompts: readonly (readonly number[])[]): Promise<number[][]> => Promise.resolve(prompts.map((p) => {
        seenPrompts.push([...p]);
        const k = next++;
        const item = items[k];
        assert.ok(item);
        const right = item.labels[item.answer] ?? '';
        const wrong = item.labels.find((l) => l !== right) ?? '';
        const text = k === 3 ? 'I cannot tell' : `the correct answer is ${k === 1 ? wrong : right}`;
        return tok.encode(text, { addSpecialTokens: false });
      })),
    };
    const r = await generationAccuracy(runner, items, tok, { maxNewTokens: 32, batchSize: 2, maxLength: 512 });
    assert.equal(r.total, 5);
    assert.equal(r.correct, 3);
    assert.equal(r.accuracy, 0.6);
    assert.equal(r.predictions[3], '');
    assert.deepEqual(seenPrompts, items.map((item) => tok.encode(item.generationPrompt ?? '')));
    assert.ok(items.every((item) => item.generationPrompt !== undefined && item.generationPrompt !== item.prompt));
  });

  it('runner.generate with a trained-looking LoRA equals greedy decoding by scoring every token through the score graph', async () => {
    const model = loadModel(GPT2_DIR);
    const runner = new LoraRunner(model, new LoraAdapter({ r: 2, alpha: 8, dropout: 0, targets: ['c_attn', 'c_fc'] }, new Rng(3)), { device: 'cpu', threads: 1 });
    try {
      await runner.session('score', 1, 2); // creates the LoRA modules
      const random = new Rng(11);
      for (const m of runner.adapter.ordered()) for (let i = 0; i < m.b.length; i++) m.b[i] = random.uniform() * 2 - 1;
      const prompts = [[5, 9, 42, 7], [300, 2]];
      const steps = 3;
      const generated = await runner.generate(prompts, { maxNewTokens: steps, eosTokenIds: [] });
      const V = model.config.vocabSize;
      for (const [row, prompt] of prompts.entries()) {
        const seq = [...prompt];
        for (let s = 0; s < steps; s++) {
          const examples = Array.from({ length: V }, (_, v) => ({ ids: [...seq, v], labels: [...seq.map(() => IGNORE_INDEX), v] }));
          const batch = makeBatch(examples, seq.length + 1, 0);
          const logp = await runner.tokenLogprobs(batch);
          // Row v predicts v at its last prompt position (targets are the labels shifted by one).
          const at = (v: number): number => logp[v * (seq.length + 1) + seq.length - 1] ?? -Infinity;
          let best = 0;
          for (let v = 1; v < V; v++) if (at(v) > at(best)) best = v;
          seq.push(best);
        }
        assert.deepEqual(generated[row], seq.slice(prompt.length), `row ${row}`);
      }
      // The adapter matters: the base model alone generates something else.
      const base = await generate(model, prompts, { maxNewTokens: steps, eosTokenIds: [], session: { intraOpNumThreads: 1 } });
      assert.notDeepEqual(base.tokens, generated);
    } finally {
      await runner.dispose();
      model.close();
    }
  });
});
