// Layer-granular execution (train/blocks.ts, blockRunner.ts) against the monolithic train graph: the same loss
// and adapter gradients in float64 (to 1e-10) and float32, for GPT-2 (dropout masks), LLaMA and OPT (ReLU mask
// recomputed in the backward); a truncated backward gives exactly the full backward's gradients for the wanted
// layers and stops at the lowest one; recomputing activations changes no bit; scoring with a per-layer scale
// equals the monolithic score graph.
import { strict as assert } from 'node:assert';
import { makeBatch, type TrainBatch } from '../../../src/engine/data/batches';
import { toModelBytes } from '../../../src/engine/graph/serialize';
import { loadModel, type LoadedModel } from '../../../src/engine/models/model';
import { LoraAdapter } from '../../../src/engine/peft/lora';
import { dropoutMask, LAYER_SCALE_INPUT } from '../../../src/engine/peft/perLayer';
import { createSession, hostTensor, type HostTensor } from '../../../src/engine/runtime';
import { BlockExecutor, passThroughKind, planBackward } from '../../../src/engine/train/blockRunner';
import { batchFeeds, buildPeftGraph, gradOutputName, LOGPROB_OUTPUT, LOSS_OUTPUT } from '../../../src/engine/train/peftGraph';
import { Rng } from '../../../src/engine/util/random';
import { GPT2_DIR, LLAMA_DIR } from '../peft/fixtures';
import { TINY_CONFIGS, writeTinyModel } from '../models/tinyModels';

type Float = Float32Array | Float64Array;

function maxRelDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let scale = 0;
  let diff = 0;
  for (let i = 0; i < a.length; i++) {
    scale = Math.max(scale, Math.abs(b[i] ?? 0));
    diff = Math.max(diff, Math.abs((a[i] ?? 0) - (b[i] ?? 0)));
  }
  return diff / Math.max(scale, 1e-30);
}

/** The monolithic graph's loss and gradients (all adapter inputs) with the masks drawn from `seed` as the executor draws them. */
async function monolithic(model: LoadedModel, lora: LoraAdapter, batch: TrainBatch, dtype: 'float32' | 'float64', seed: number): Promise<{ loss: number; grads: Map<string, Float> }> {
  const b = buildPeftGraph(model, lora, { kind: 'train', batch: batch.batch, seq: batch.seq, dtype });
  const session = await createSession({ bytes: toModelBytes(b) }, { intraOpNumThreads: 1, ...(dtype === 'float64' ? { graphOptimizationLevel: 'basic' as const } : {}) });
  try {
    const cast = (x: Float32Array): Float => (dtype === 'float64' ? Float64Array.from(x) : x);
    const feeds: Record<string, HostTensor> = batchFeeds(batch);
    for (const t of lora.trainables()) feeds[t.name] = hostTensor(t.name, cast(t.data), [...t.dims]);
    const rng = new Rng(seed);
    const tokens = batch.batch * batch.seq;
    if (lora.dropoutRate > 0) for (const m of lora.dropoutMasks()) feeds[m.name] = hostTensor(m.name, cast(dropoutMask(tokens * m.features, lora.dropoutRate, rng)), [tokens, m.features]);
    const r = await session.run(feeds);
    const grads = new Map<string, Float>(lora.trainables().map((t) => [t.name, r.get(gradOutputName(t.name), dtype, [...t.dims]).data]));
    return { loss: r.get(LOSS_OUTPUT, dtype, []).data[0] ?? NaN, grads };
  } finally {
    await session.dispose();
  }
}

const cases = [
  { name: 'GPT-2 (c_attn, c_proj, c_fc; dropout masks)', dir: () => GPT2_DIR, targets: ['c_attn', 'c_proj', 'c_fc'], dropout: 0.1 },
  { name: 'LLaMA (q, v, down)', dir: () => LLAMA_DIR, targets: ['q_proj', 'v_proj', 'down_proj'], dropout: 0 },
  { name: 'OPT (q, fc1, fc2; ReLU)', dir: () => writeTinyModel(TINY_CONFIGS.opt, { seed: 4 }), targets: ['q_proj', 'fc1', 'fc2'], dropout: 0.1 },
];

describe('train: layer-granular execution', function () {
  this.timeout(120_000);

  it('plans the backward down to exactly the lowest wanted layer', () => {
    const layers = [0, 1, 2, 3, 4, 5];
    assert.deepEqual(planBackward(layers, (l) => l === 2 || l === 4), { lowest: 2, kinds: ['input', 'full', 'input', 'weights'] });
    assert.deepEqual(planBackward(layers, () => true), { lowest: 0, kinds: ['full', 'full', 'full', 'full', 'full', 'weights'] });
    assert.deepEqual(planBackward(layers, (l) => l === 5), { lowest: 5, kinds: ['weights'] });
    assert.deepEqual(planBackward(layers, () => false), { lowest: 6, kinds: [] });
  });

  it('passes layers through as \'full\' when what it keeps more costs less than another session\'s arena', () => {
    // GPT-2 small, LoRA on c_attn, batch 4 x 128 (bench `ist`): 'input' reads ~16.5 MiB per layer, 'full' keeps
    // the block's normed input (1.5 MiB) and x A besides.
    const MiB = 1024 * 1024;
    assert.equal(passThroughKind({ input: 16.5 * MiB, fullExtra: 1.52 * MiB }, 12), 'full');
    // Adapters on the MLP too: 'full' keeps the 3072-wide down_proj input (6 MiB) for every pass-through layer.
    assert.equal(passThroughKind({ input: 16.5 * MiB, fullExtra: 9 * MiB }, 12), 'input');
    assert.equal(passThroughKind({ input: 16.5 * MiB, fullExtra: 9 * MiB }, 3), 'full');
  });

  for (const c of cases) {
    describe(c.name, () => {
      let model: LoadedModel;
      let lora: LoraAdapter;
      let batch: TrainBatch;
      before(() => {
        model = loadModel(c.dir());
        lora = new LoraAdapter({ r: 2, alpha: 4, dropout: c.dropout, targets: c.targets }, new Rng(5));
        buildPeftGraph(model, lora, { kind: 'score', batch: 1, seq: 2 }); // creates the modules
        // B random (not zero) so that every gradient is non-trivial.
        const rng = new Rng(6);
        for (const m of lora.ordered()) for (let i = 0; i < m.b.length; i++) m.b[i] = rng.normal() * 0.3;
        const vocab = model.config.vocabSize;
        const rows = [[5, 9, 42, 7, 30, 2, 11], [1, 5, 9, 19]].map((r) => r.map((v) => v % vocab));
        batch = makeBatch(rows.map((ids) => ({ ids, labels: ids })), 7, 0);
      });
      after(() => model.close());

      for (const dtype of ['float64', 'float32'] as const) {
        const tol = dtype === 'float64' ? 1e-10 : 2e-4;
        it(`${dtype}: full backward gives the monolithic graph's loss and every gradient`, async () => {
          const ref = await monolithic(model, lora, batch, dtype, 11);
          const ex = new BlockExecutor(model, lora, { device: 'cpu', threads: 1 }, dtype);
          try {
            const got = await ex.trainStep(batch, new Rng(11), () => true);
            assert.ok(Math.abs(got.loss - ref.loss) <= tol * Math.abs(ref.loss), `loss ${got.loss} vs ${ref.loss}`);
            assert.equal(got.depth, model.config.numLayers);
            assert.equal(got.grads.size, ref.grads.size);
            for (const [name, g] of ref.grads) {
              const mine = got.grads.get(name);
              assert.ok(mine !== undefined, `no gradient for ${name}`);
              assert.ok(g.some((v) => v !== 0), `${name}: reference gradient is zero`);
              const d = maxRelDiff(mine, g);
              assert.ok(d <= tol, `${name}: max relative difference ${d}`);
            }
          } finally {
            await ex.dispose();
          }
        });
      }

      it('float64: a truncated backward gives the full backward\'s gradients for the wanted layers only, and stops there', async () => {
        const ex = new BlockExecutor(model, lora, { device: 'cpu', threads: 1 }, 'float64');
        try {
          const full = await ex.trainStep(batch, new Rng(3), () => true);
          const top = model.config.numLayers - 1;
          const part = await ex.trainStep(batch, new Rng(3), (l) => l === top);
          assert.equal(part.depth, 1);
          assert.equal(part.loss, full.loss);
          const wanted = lora.trainables().filter((t) => t.layer === top);
          assert.deepEqual([...part.grads.keys()].sort(), wanted.map((t) => t.name).sort());
          for (const t of wanted) assert.ok(maxRelDiff(part.grads.get(t.name) ?? [], full.grads.get(t.name) ?? []) <= 1e-12, t.name);
        } finally {
          await ex.dispose();
        }
      });

      for (const recompute of [true, 'pass-through'] as const) {
        it(`recompute ${String(recompute)} (activation checkpointing) gives bit-identical loss and gradients, full and truncated`, async () => {
          const plain = new BlockExecutor(model, lora, { device: 'cpu', threads: 1 });
          const again = new BlockExecutor(model, lora, { device: 'cpu', threads: 1, recompute });
          try {
            // The last selection passes every layer above the bottom one through.
            for (const wanted of [() => true, (l: number) => l === 1, (l: number) => l === 0]) {
              const a = await plain.trainStep(batch, new Rng(8), wanted);
              const b = await again.trainStep(batch, new Rng(8), wanted);
              assert.equal(b.loss, a.loss);
              assert.equal(b.depth, a.depth);
              assert.deepEqual([...b.grads.keys()], [...a.grads.keys()]);
              for (const [name, g] of a.grads) assert.deepEqual(b.grads.get(name), g, name);
            }
          } finally {
            await plain.dispose();
            await again.dispose();
          }
        });
      }

      for (const passThrough of ['input', 'full'] as const) {
        it(`holds the same sessions and frozen weights whatever layers a step selects (pass-through '${passThrough}'; memory does not grow with truncation points)`, async () => {
          const ex = new BlockExecutor(model, lora, { device: 'cpu', threads: 1 });
          ex.passThrough = passThrough;
          try {
            const L = model.config.numLayers;
            // Every kind of step once: the top layer alone, the bottom one (the rest passed through), all.
            const first = await ex.trainStep(batch, new Rng(1), (l) => l === L - 1);
            await ex.trainStep(batch, new Rng(1), (l) => l === 0);
            await ex.trainStep(batch, new Rng(1), () => true);
            const sessions = ex.sessionCount();
            const bytes = ex.weightBytes();
            // One class per layer shape (the fixtures' layers share one): embed, head, forward, 'weights', 'full' and,
            // when pass-through layers run it, 'input'.
            assert.equal(sessions, passThrough === 'input' ? 6 : 5);
            const depths = [first.depth];
            for (let low = L - 1; low >= 0; low--) {
              depths.push((await ex.trainStep(batch, new Rng(1), (l) => l >= low)).depth);
              await ex.trainStep(batch, new Rng(1), (l) => l === low);
              assert.equal(ex.sessionCount(), sessions);
              assert.equal(ex.weightBytes(), bytes);
            }
            assert.deepEqual(depths, [1, ...Array.from({ length: L }, (_, k) => k + 1)]);
          } finally {
            await ex.dispose();
          }
        });
      }

      it('float64: pass-through layers run as \'input\' or as \'full\' give the same loss and wanted gradients', async () => {
        const L = model.config.numLayers;
        const wanted = (l: number): boolean => l === 0;
        const results = [];
        for (const passThrough of ['input', 'full'] as const) {
          const ex = new BlockExecutor(model, lora, { device: 'cpu', threads: 1 }, 'float64');
          ex.passThrough = passThrough;
          try {
            results.push(await ex.trainStep(batch, new Rng(4), wanted));
          } finally {
            await ex.dispose();
          }
        }
        const [a, b] = results;
        assert.ok(a !== undefined && b !== undefined);
        assert.equal(b.loss, a.loss);
        assert.equal(b.depth, L);
        const names = lora.trainables().filter((t) => wanted(t.layer)).map((t) => t.name).sort();
        assert.deepEqual([...a.grads.keys()].sort(), names);
        assert.deepEqual([...b.grads.keys()].sort(), names, 'no gradient of a pass-through layer');
        for (const name of names) assert.ok(maxRelDiff(b.grads.get(name) ?? [], a.grads.get(name) ?? []) <= 1e-12, name);
      });

      it('float64: the head in row chunks (a padded last chunk, an all-ignored one skipped) gives the one-chunk loss, gradients and log-probabilities', async () => {
        const whole = new BlockExecutor(model, lora, { device: 'cpu', threads: 1 }, 'float64');
        const chunked = new BlockExecutor(model, lora, { device: 'cpu', threads: 1 }, 'float64');
        chunked.headRows = 4;
        try {
          const a = await whole.trainStep(batch, new Rng(2), () => true);
          const b = await chunked.trainStep(batch, new Rng(2), () => true);
          assert.ok(Math.abs(b.loss - a.loss) <= 1e-12 * Math.abs(a.loss), `loss ${b.loss} vs ${a.loss}`);
          for (const [name, g] of a.grads) assert.ok(maxRelDiff(b.grads.get(name) ?? [], g) <= 1e-10, name);
          const scale = new Float32Array(model.config.numLayers).fill(1);
          const pa = await whole.tokenLogprobs(batch, scale);
          const pb = await chunked.tokenLogprobs(batch, scale);
          assert.ok(maxRelDiff(pb, pa) <= 1e-12, `log-probabilities: max relative difference ${maxRelDiff(pb, pa)}`);
        } finally {
          await whole.dispose();
          await chunked.dispose();
        }
      });

      it('scores with the per-layer scale as the monolithic score graph', async () => {
        const L = model.config.numLayers;
        const scale = Float32Array.from({ length: L }, (_, i) => (i % 2 === 0 ? 0.25 : 1));
        const b = buildPeftGraph(model, lora, { kind: 'score', batch: batch.batch, seq: batch.seq, layerScale: true });
        const session = await createSession({ bytes: toModelBytes(b) }, { intraOpNumThreads: 1 });
        const ex = new BlockExecutor(model, lora, { device: 'cpu', threads: 1 });
        try {
          const feeds: Record<string, HostTensor> = { ...batchFeeds(batch), [LAYER_SCALE_INPUT]: hostTensor(LAYER_SCALE_INPUT, scale, [L]) };
          for (const t of lora.trainables()) feeds[t.name] = hostTensor(t.name, t.data, [...t.dims]);
          const ref = (await session.run(feeds)).get(LOGPROB_OUTPUT, 'float32').data;
          const got = await ex.tokenLogprobs(batch, scale);
          assert.ok(maxRelDiff(got, ref) <= 1e-5, `max relative difference ${maxRelDiff(got, ref)}`);
        } finally {
          await session.dispose();
          await ex.dispose();
        }
      });
    });
  }
});
