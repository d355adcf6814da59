// Multiple-choice log-likelihood scoring through the LoRA score graph against an independent computation from
// the models' plain forward pass (computeLogits) with log-softmax in TypeScript, on the tiny LLaMA and boolq.
import { strict as assert } from 'node:assert';
import * as path from 'node:path';
import { readChoiceItems } from '../../../src/engine/data';
import { choiceExamples, multipleChoiceAccuracy, perplexity } from '../../../src/engine/eval';
import { padBatch } from '../../../src/engine/models/batch';
import { computeLogits } from '../../../src/engine/models/logits';
import { loadModel } from '../../../src/engine/models/model';
import { ModelTokenizer } from '../../../src/engine/models/tokenizer';
import { LoraAdapter } from '../../../src/engine/peft/lora';
import { LoraRunner } from '../../../src/engine/train/loraGraph';
import { Rng } from '../../../src/engine/util/random';
import { COMMONSENSE_DIR, LLAMA_DIR } from '../peft/fixtures';

describe('eval: multiple-choice log-likelihood and perplexity', function () {
  this.timeout(60_000);
  it('choice scores equal sums of log-softmax over the continuation tokens of the plain forward pass', async () => {
    const model = loadModel(LLAMA_DIR);
    const tok = ModelTokenizer.load(LLAMA_DIR, 32000);
    const runner = new LoraRunner(model, new LoraAdapter({ r: 2, alpha: 4, dropout: 0, targets: ['q_proj'] }, new Rng(0)), { device: 'cpu', threads: 1 });
    try {
      const items = readChoiceItems(path.join(COMMONSENSE_DIR, 'boolq/test.json'), 3);
      const acc = await multipleChoiceAccuracy(runner, items, tok, { maxLength: 512, padId: 0, batchSize: 2 });
      assert.equal(acc.total, 3);
      const { examples } = choiceExamples(items, tok, 512);
      const expectedPredictions: number[] = [];
      let sumAll = 0;
      let tokensAll = 0;
      const sums: number[] = [];
      for (const e of examples) {
        const { logits } = await computeLogits(model, padBatch([e.ids], 'right', 0));
        const V = 32000;
        let sum = 0;
        for (let t = 0; t + 1 < e.ids.length; t++) {
          const label = e.labels[t + 1] ?? -100;
          if (label === -100) continue;
          let max = -Infinity;
          for (let v = 0; v < V; v++) max = Math.max(max, logits[t * V + v] ?? 0);
          let z = 0;
          for (let v = 0; v < V; v++) z += Math.exp((logits[t * V + v] ?? 0) - max);
          sum += (logits[t * V + label] ?? 0) - max - Math.log(z);
          tokensAll += 1;
        }
        sums.push(sum);
        sumAll += sum;
      }
      for (let k = 0; k < items.length; k++) {
        const pair = [sums[2 * k] ?? 0, sums[2 * k + 1] ?? 0];
        assert.ok(Math.abs(pair[0] - pair[1]) > 1e-4, 'choices scored too close to compare');
        expectedPredictions.push(pair[1] > pair[0] ? 1 : 0);
      }
      assert.deepEqual(acc.predictions, expectedPredictions);
      const ppl = await perplexity(runner, examples, Math.max(...examples.map((e) => e.ids.length)), 0, 4);
      assert.equal(ppl.tokens, tokensAll);
      assert.ok(Math.abs(ppl.loss - -sumAll / tokensAll) < 1e-4, `${ppl.loss} vs ${-sumAll / tokensAll}`);
    } finally {
      await runner.dispose();
      model.close();
    }
  });
});
