// The per-layer LoRA scale input that IST's suppression rollouts feed (one score session for every suppression
// set): scale 1 is the unscaled model, scale 0 everywhere is exactly the base model, and in between the float32
// losses agree with a float64 graph of the same model fed the same scale.
import { strict as assert } from 'node:assert';
import * as path from 'node:path';
import { makeBatch, type TrainBatch } from '../../../src/engine/data/batches';
import { IGNORE_INDEX, readExamples } from '../../../src/engine/data/examples';
import { toModelBytes } from '../../../src/engine/graph/serialize';
import { suppressionScale } from '../../../src/engine/ist';
import { loadModel, type LoadedModel } from '../../../src/engine/models/model';
import { LORA_LAYER_SCALE_INPUT, LoraAdapter, loraInputNames } from '../../../src/engine/peft/lora';
import { createSession, hostTensor, type HostTensor } from '../../../src/engine/runtime';
import { batchFeeds, buildLoraGraph, LOGPROB_OUTPUT, LoraRunner } from '../../../src/engine/train/loraGraph';
import { Rng } from '../../../src/engine/util/random';
import { tempDir } from '../tune/helpers';
import { fourLayerModel, LAYERS, writeIstConfig } from './helpers';

describe('ist: suppression through the per-layer LoRA scale', function () {
  this.timeout(60_000);
  let model: LoadedModel;
  let batch: TrainBatch;
  let lora: LoraAdapter;
  let runner: LoraRunner;

  before(async () => {
    model = loadModel(fourLayerModel());
    const dir = tempDir('ist-supp');
    writeIstConfig(dir, {});
    batch = makeBatch(readExamples(path.join(dir, 'train.jsonl'), 'tokens', { maxLength: 12, limit: 4 }), 12, 0);
    lora = new LoraAdapter({ r: 2, alpha: 4, dropout: 0, targets: ['c_attn', 'c_proj', 'c_fc'] }, new Rng(1));
    runner = new LoraRunner(model, lora, { device: 'cpu', threads: 1 });
    await runner.session('train', 4, 12);
    // A LoRA delta large enough to move the loss clearly.
    const rng = new Rng(3);
    for (const m of lora.ordered()) for (let i = 0; i < m.b.length; i++) m.b[i] = rng.normal() * 0.5;
  });
  after(async () => {
    await runner.dispose();
    model.close();
  });

  it('scale 1 on every layer leaves the loss unchanged (the score graph matches the train graph without dropout)', async () => {
    const plain = await runner.meanLoss(batch);
    const ones = await runner.meanLoss(batch, new Float32Array(LAYERS).fill(1));
    assert.equal(ones, plain);
    const { loss } = await runner.trainStep(batch, new Rng(0));
    assert.ok(Math.abs(loss - plain) <= 1e-5 * Math.abs(plain), `train graph ${loss}, score graph ${plain}`);
  });

  it('scale 0 on every layer gives the base model\'s loss exactly (a fresh adapter has B = 0)', async () => {
    const suppressed = await runner.meanLoss(batch, suppressionScale(LAYERS, [0, 1, 2, 3], 0));
    const fresh = new LoraAdapter({ r: 2, alpha: 4, dropout: 0, targets: ['c_attn', 'c_proj', 'c_fc'] }, new Rng(9));
    const base = new LoraRunner(model, fresh, { device: 'cpu', threads: 1 });
    try {
      await base.session('score', 4, 12);
      assert.equal(suppressed, await base.meanLoss(batch));
      assert.notEqual(suppressed, await runner.meanLoss(batch), 'the adapter does not change the loss at all');
    } finally {
      await base.dispose();
    }
  });

  it('float32 rollout losses equal a float64 graph fed the same per-layer scale', async () => {
    const g = buildLoraGraph(model, lora, { kind: 'score', batch: 4, seq: 12, dtype: 'float64', layerScale: true });
    const session = await createSession({ bytes: toModelBytes(g) }, { intraOpNumThreads: 1 });
    try {
      const loss64 = async (scale: Float32Array): Promise<number> => {
        const feeds: Record<string, HostTensor> = batchFeeds(batch);
        for (const m of lora.ordered()) {
          const n = loraInputNames(m.path);
          feeds[n.a] = hostTensor(n.a, Float64Array.from(m.a), [2, m.inFeatures]);
          feeds[n.b] = hostTensor(n.b, Float64Array.from(m.b), [m.outFeatures, 2]);
        }
        feeds[LORA_LAYER_SCALE_INPUT] = hostTensor(LORA_LAYER_SCALE_INPUT, Float64Array.from(scale), [LAYERS]);
        const logp = (await session.run(feeds)).get(LOGPROB_OUTPUT, 'float64', [48]).data;
        let sum = 0;
        let kept = 0;
        batch.targets.forEach((t, i) => {
          if (t !== IGNORE_INDEX) {
            sum -= logp[i] ?? 0;
            kept++;
          }
        });
        return sum / kept;
      };
      const losses: number[] = [];
      for (const scale of [
        suppressionScale(LAYERS, [], 0.25), suppressionScale(LAYERS, [1, 3], 0.25), suppressionScale(LAYERS, [0, 2], 0.25),
        suppressionScale(LAYERS, [0, 1, 2, 3], 0.25), suppressionScale(LAYERS, [0, 1, 2, 3], 0),
      ]) {
        const got = await runner.meanLoss(batch, scale);
        const want = await loss64(scale);
        assert.ok(Math.abs(got - want) <= 2e-6 * Math.abs(want), `scale [${Array.from(scale).join(', ')}]: float32 ${got}, float64 ${want}`);
        losses.push(want);
      }
      // Different suppression sets give different losses (the rollouts can tell layers apart).
      assert.equal(new Set(losses.map((l) => l.toFixed(9))).size, losses.length);
    } finally {
      await session.dispose();
    }
  });
});
