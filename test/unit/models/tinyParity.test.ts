// OPT, Qwen2 (GQA, q/k/v biases, tied head), LLaMA with attention/MLP biases and an untied GPT-2, on tiny
// checkpoints the tests write: the graph against the float64 reference of the same equations.
import { strict as assert } from 'node:assert';
import { padBatch } from '../../../src/engine/models/batch';
import type { StoredDtype } from '../../../src/engine/models/dtype';
import { computeLogits } from '../../../src/engine/models/logits';
import { loadModel } from '../../../src/engine/models/model';
import { batchRows, compareLogits } from './compare';
import { reference, TINY_CONFIGS, writeTinyModel } from './tinyModels';

const ROWS = [[3, 7, 11, 2, 19, 5], [4, 9], [13, 1, 8, 17]];

describe('models: tiny generated checkpoints, graph vs float64 reference', () => {
  const cases: [keyof typeof TINY_CONFIGS, StoredDtype][] = [
    ['opt', 'F32'], ['optPostLn', 'F16'], ['qwen2', 'BF16'], ['llamaBias', 'F32'], ['llama3Rope', 'F32'], ['gpt2Untied', 'F32'],
  ];
  for (const [name, dtype] of cases) {
    for (const side of ['right', 'left'] as const) {
      it(`${name} (${dtype}), ${side}-padded`, async () => {
        const model = loadModel(writeTinyModel(TINY_CONFIGS[name], { dtype, seed: name.length }));
        try {
          const batch = padBatch(ROWS, side, 0);
          const ours = await computeLogits(model, batch, { session: { intraOpNumThreads: 1 } });
          const expected = reference(model, batchRows(batch));
          const cmp = compareLogits(ours.logits, (b, s) => expected[b][s], batch, model.config.vocabSize);
          assert.equal(cmp.compared, 12);
          assert.ok(cmp.maxAbs < 1e-4, `max abs ${cmp.maxAbs}`);
          assert.equal(cmp.argmaxMismatches, 0);
        } finally {
          model.close();
        }
      });
    }
  }
});
