// Full-parameter training (train/fullModelRunner.ts, the lab's pretraining): every weight is a graph input.
// Gradients of every kind of weight (embedding rows, RMSNorm / LayerNorm weights and biases, projections, an
// untied head, a tied embedding used twice) against central finite differences of the float64 graph; the float32
// runner against the float64 gradients; its score graph against the initializer-based graph; and training lowers
// the loss.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import { makeBatch } from '../../../src/engine/data/batches';
import { gradients } from '../../../src/engine/graph/autodiff';
import { toModelBytes } from '../../../src/engine/graph/serialize';
import { buildCausalLm } from '../../../src/engine/models/causalLm';
import { loadModel, type LoadedModel } from '../../../src/engine/models/model';
import { expectedWeights } from '../../../src/engine/models/weights';
import { createSession, hostTensor, type HostTensor } from '../../../src/engine/runtime';
import { FullModelRunner, weightLayer } from '../../../src/engine/train/fullModelRunner';
import { createOptimizer } from '../../../src/engine/train/optimizer';
import { batchFeeds, buildPeftGraph, declareObjective, gradOutputName, LOSS_OUTPUT } from '../../../src/engine/train/peftGraph';
import { Trainer } from '../../../src/engine/train/trainer';
import { LoraAdapter } from '../../../src/engine/peft/lora';
import { Rng } from '../../../src/engine/util/random';
import { TINY_CONFIGS, writeTinyModel } from '../models/tinyModels';
import { GPT2_DIR } from '../peft/fixtures';

const SEQ = 6;
const ROWS = [[1, 5, 9, 12, 7, 3], [2, 8, 4, 11]];

async function float64Case(model: LoadedModel): Promise<void> {
  const graph = buildCausalLm(model, { batch: 2, seq: SEQ, dtype: 'float64', weightInputs: 'trainable' });
  const b = graph.builder;
  const loss = declareObjective(b, b.reshape(graph.logits, [2 * SEQ, model.config.vocabSize]), 'train', 'float64');
  assert.ok(loss !== undefined);
  gradients(b, loss);
  const session = await createSession({ bytes: toModelBytes(b) }, { intraOpNumThreads: 1, graphOptimizationLevel: 'basic' });
  try {
    const batch = makeBatch(ROWS.map((ids) => ({ ids, labels: ids })), SEQ, 0);
    const specs = expectedWeights(model.config);
    const weights = new Map(specs.map((s) => [s.name, { data: model.weights.readFloat64(s.name), dims: [...s.shape] }]));
    const feeds = (): Record<string, HostTensor> => {
      const f: Record<string, HostTensor> = batchFeeds(batch);
      for (const [name, w] of weights) f[name] = hostTensor(name, w.data, w.dims);
      return f;
    };
    const lossAt = async (): Promise<number> => (await session.run(feeds(), [LOSS_OUTPUT])).get(LOSS_OUTPUT, 'float64', []).data[0] ?? NaN;
    const analytic = await session.run(feeds());
    let checked = 0;
    for (const s of specs) {
      const w = weights.get(s.name);
      assert.ok(w !== undefined);
      const grad = analytic.get(gradOutputName(s.name), 'float64', w.dims).data;
      // Embedding tables: rows of tokens in the batch (others have zero gradient unless tied); others: spread entries.
      const cols = s.shape[1] ?? 1;
      const picks = s.name.includes('embed') || s.name.includes('wte') ? [5 * cols, 9 * cols + 1, 3 * cols + cols - 1] : [0, Math.floor(w.data.length / 2), w.data.length - 1];
      for (const i of picks) {
        const h = 1e-5;
        const orig = w.data[i] ?? 0;
        w.data[i] = orig + h;
        const up = await lossAt();
        w.data[i] = orig - h;
        const down = await lossAt();
        w.data[i] = orig;
        const numeric = (up - down) / (2 * h);
        const got = grad[i] ?? NaN;
        assert.ok(Math.abs(got - numeric) <= 1e-7 + 1e-5 * Math.abs(numeric), `${s.name}[${i}]: autodiff ${got}, finite difference ${numeric}`);
        checked++;
      }
    }
    assert.ok(checked >= 3 * specs.length);
  } finally {
    await session.dispose();
  }
}

describe('train: full-parameter training', () => {
  const dirs: string[] = [];
  after(() => dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));
  const tiny = (config: Record<string, unknown>): string => {
    const dir = writeTinyModel(config, { seed: 3, scale: 0.2 });
    dirs.push(dir);
    return dir;
  };

  it('weightLayer reads the decoder layer from the tensor name', () => {
    assert.equal(weightLayer('model.layers.7.mlp.down_proj.weight'), 7);
    assert.equal(weightLayer('transformer.h.2.ln_1.bias'), 2);
    assert.equal(weightLayer('model.embed_tokens.weight'), -1);
  });

  for (const [label, config] of [
    ['LLaMA with biases, untied head', TINY_CONFIGS.llamaBias],
    ['Qwen2 with tied embeddings (one input, two uses)', TINY_CONFIGS.qwen2],
    ['OPT (LayerNorm weights and biases, learned positions)', TINY_CONFIGS.opt],
  ] as const) {
    it(`float64 gradients of every weight match central differences: ${label}`, async () => {
      const model = loadModel(tiny(config));
      try {
        await float64Case(model);
      } finally {
        model.close();
      }
    });
  }

  it('the float32 runner gives the float64 gradients, and its score graph the initializer graph\'s log-probabilities', async () => {
    const model = loadModel(tiny(TINY_CONFIGS.llamaBias));
    const runner = new FullModelRunner(model, { device: 'cpu', threads: 1 });
    try {
      const batch = makeBatch(ROWS.map((ids) => ({ ids, labels: ids })), SEQ, 0);
      const { loss, grads } = await runner.trainStep(batch, new Rng(1));
      // float64 reference gradients of the same graph
      const graph = buildCausalLm(model, { batch: 2, seq: SEQ, dtype: 'float64', weightInputs: 'trainable' });
      const b = graph.builder;
      const l64 = declareObjective(b, b.reshape(graph.logits, [2 * SEQ, model.config.vocabSize]), 'train', 'float64');
      assert.ok(l64 !== undefined);
      gradients(b, l64);
      const session = await createSession({ bytes: toModelBytes(b) }, { intraOpNumThreads: 1 });
      try {
        const feeds: Record<string, HostTensor> = batchFeeds(batch);
        const specs = expectedWeights(model.config);
        for (const s of specs) feeds[s.name] = hostTensor(s.name, model.weights.readFloat64(s.name), [...s.shape]);
        const ref = await session.run(feeds);
        assert.ok(Math.abs(loss - (ref.get(LOSS_OUTPUT, 'float64', []).data[0] ?? NaN)) < 1e-5);
        specs.forEach((s, i) => {
          const r = ref.get(gradOutputName(s.name), 'float64', [...s.shape]).data;
          const g = grads[i] ?? new Float32Array(0);
          let err = 0;
          let norm = 0;
          r.forEach((v, k) => {
            err = Math.max(err, Math.abs(v - (g[k] ?? NaN)));
            norm = Math.max(norm, Math.abs(v));
          });
          assert.ok(err <= 1e-5 * Math.max(1, norm), `${s.name}: max error ${err} (max |grad| ${norm})`);
        });
      } finally {
        await session.dispose();
      }
      // Score graph with the weights fed = the usual graph with the weights as initializers (a zero LoRA adds nothing).
      const lora = new LoraAdapter({ r: 2, alpha: 4, dropout: 0, targets: ['q_proj'] }, new Rng(1));
      const plain = buildPeftGraph(model, lora, { kind: 'score', batch: 2, seq: SEQ });
      const plainSession = await createSession({ bytes: toModelBytes(plain) }, { intraOpNumThreads: 1 });
      try {
        const feeds: Record<string, HostTensor> = batchFeeds(batch);
        for (const t of lora.trainables()) feeds[t.name] = hostTensor(t.name, t.data, [...t.dims]);
        const want = (await plainSession.run(feeds)).get('token_logprob', 'float32', [2 * SEQ]).data;
        const got = await runner.tokenLogprobs(batch);
        want.forEach((v, k) => assert.ok(Math.abs(v - (got[k] ?? NaN)) < 1e-5, `position ${k}: ${got[k]} vs ${v}`));
      } finally {
        await plainSession.dispose();
      }
    } finally {
      await runner.dispose();
      model.close();
    }
  });

  it('training every weight with the trainer lowers the loss on a fixed pattern (GPT-2 fixture)', async () => {
    const model = loadModel(GPT2_DIR);
    const runner = new FullModelRunner(model, { device: 'cpu', threads: 1 });
    try {
      const examples = Array.from({ length: 8 }, (_, i) => {
        const ids = Array.from({ length: 12 }, (_, t) => 10 + ((i + t) % 6));
        return { ids, labels: ids };
      });
      const before = runner.parameters().map((p) => Float32Array.from(p));
      const trainer = new Trainer(runner, createOptimizer('adamw', 0), examples, 12, 0, {
        steps: 30, batchSize: 4, gradAccum: 1, lr: 1e-2, warmupSteps: 2, decay: 'cosine', maxGradNorm: 1, seed: 0, evalEvery: 0, checkpointEvery: 0,
      });
      const records = await trainer.run({ onStep: () => undefined, checkpoint: () => undefined, throwIfCancelled: () => undefined });
      const first = records[0]?.loss ?? NaN;
      const last = records[records.length - 1]?.loss ?? NaN;
      assert.ok(last < 0.3 * first, `loss ${first} -> ${last}`);
      // Every weight moved (embeddings, LayerNorms, projections): full-parameter training, not PEFT.
      runner.parameters().forEach((p, i) => assert.ok(p.some((v, k) => v !== before[i]?.[k]), `weight ${i} did not change`));
    } finally {
      await runner.dispose();
      model.close();
    }
  });
});
