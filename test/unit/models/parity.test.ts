// The project's graphs against the fixtures' reference.onnx (exported from the original PyTorch models).
import { strict as assert } from 'node:assert';
import { padBatch } from '../../../src/engine/models/batch';
import { buildCausalLm } from '../../../src/engine/models/causalLm';
import { computeLogits, openGraphSession } from '../../../src/engine/models/logits';
import { loadModel } from '../../../src/engine/models/model';
import { hostTensor } from '../../../src/engine/runtime';
import { FIXTURES } from './fixturePaths';
import { compareLogits } from './compare';
import { referenceOnnxLogits } from './referenceOnnx';

const ROWS = [[1, 5, 9, 42, 7, 300, 2, 999], [17, 4, 250], [600, 3, 3, 81, 12], [77]];

describe('models: graph logits vs reference.onnx', () => {
  for (const [name, dir, tolerance] of [['gpt2', FIXTURES.gpt2, 1e-4], ['llama', FIXTURES.llama, 2e-3]] as const) {
    for (const side of ['right', 'left'] as const) {
      it(`${name}: ${side}-padded batch of 4 matches within ${tolerance}, same argmax`, async () => {
        const model = loadModel(dir);
        try {
          const batch = padBatch(ROWS, side, model.config.padTokenId ?? 0);
          const ours = await computeLogits(model, batch, { session: { intraOpNumThreads: 1 } });
          const theirs = await referenceOnnxLogits(dir, name, batch);
          const V = model.config.vocabSize;
          const cmp = compareLogits(ours.logits, (b, s) => theirs.subarray((b * batch.seq + s) * V, (b * batch.seq + s + 1) * V), batch, V);
          if (process.env.PEFT_LAB_PRINT_PARITY) console.log(`    ${name} ${side}: max abs ${cmp.maxAbs.toExponential(2)}`);
          assert.equal(cmp.compared, 17);
          assert.ok(cmp.maxAbs < tolerance, `max abs ${cmp.maxAbs} >= ${tolerance}`);
          assert.equal(cmp.argmaxMismatches, 0);
        } finally {
          model.close();
        }
      });
    }
  }
});

describe('models: graphs saved with external data', () => {
  it('a session opened from a saved graph (weights streamed to .data) gives the same logits', async () => {
    const model = loadModel(FIXTURES.llama);
    try {
      const batch = padBatch([[1, 2, 3]], 'right', 0);
      const inMemory = await computeLogits(model, batch);
      const graph = buildCausalLm(model, { batch: 1, seq: 3 });
      graph.builder.output(graph.logits, 'logits');
      const session = await openGraphSession(model, graph.builder, 'saved', {}, 0);
      try {
        const i64 = (a: Int32Array) => hostTensor('x', BigInt64Array.from(a, (v) => BigInt(v)), [1, 3]);
        const out = await session.run({ input_ids: i64(batch.ids), attention_mask: i64(batch.mask), position_ids: i64(batch.positions) });
        assert.deepEqual(out.get('logits', 'float32', [1, 3, 32000]).data, inMemory.logits);
      } finally {
        await session.dispose();
      }
    } finally {
      model.close();
    }
  });
});
