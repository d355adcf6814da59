// Establishes the float64 reference (reference64.ts) as ground truth by checking it against the fixtures'
// reference.onnx graphs, which were exported from the original PyTorch models.
import { strict as assert } from 'node:assert';
import { padBatch } from '../../../src/engine/models/batch';
import { Checkpoint } from '../../../src/engine/models/checkpoint';
import { readModelConfig } from '../../../src/engine/models/config';
import { FIXTURES } from './fixturePaths';
import { referenceLogits } from './reference64';
import { referenceOnnxLogits } from './referenceOnnx';
import { batchRows, compareLogits } from './compare';

const ROWS = [[1, 5, 9, 42, 7, 300, 2, 999], [17, 4, 250], [600, 3, 3, 81, 12]];

describe('models/reference64 vs fixtures reference.onnx', () => {
  for (const [name, dir, tolerance] of [['gpt2', FIXTURES.gpt2, 1e-6], ['llama', FIXTURES.llama, 1e-3]] as const) {
    for (const side of ['right', 'left'] as const) {
      it(`${name}: float64 reference matches reference.onnx, ${side}-padded batch`, async () => {
        const config = readModelConfig(dir);
        const ck = Checkpoint.open(dir);
        const cache = new Map<string, Float64Array>();
        const get = (n: string) => {
          let w = cache.get(n);
          if (w === undefined) cache.set(n, (w = ck.readFloat64(n)));
          return w;
        };
        try {
          const batch = padBatch(ROWS, side, config.padTokenId ?? 0);
          const ours = referenceLogits(config, get, (n) => ck.has(n), batchRows(batch));
          const theirs = await referenceOnnxLogits(dir, name, batch);
          // theirs is the graph output; compare with ours as "expected".
          const cmp = compareLogits(theirs, (b, s) => ours[b][s], batch, config.vocabSize);
          if (process.env.PEFT_LAB_PRINT_PARITY) console.log(`    ${name} ${side}: max abs ${cmp.maxAbs.toExponential(2)}`);
          assert.equal(cmp.compared, 16);
          assert.ok(cmp.maxAbs < tolerance, `max abs ${cmp.maxAbs} >= ${tolerance}`);
          assert.equal(cmp.argmaxMismatches, 0);
        } finally {
          ck.close();
        }
      });
    }
  }
});
