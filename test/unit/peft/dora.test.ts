// DoRA through the linear hook (peft/dora.ts, doraFormat.ts): initialisation (m = ||W0||_c per output feature for
// Linear and GPT-2's Conv1D, the base model's output at the start), the forward against a float64 implementation of
// PEFT's equation on a single projection (both layouts, dropout, layer scale), float64 gradients of A, B and m
// against central finite differences on the tiny GPT-2 (dropout masks fed) and LLaMA — the default detached norm
// against the loss with n held fixed, and the differentiated variant against the plain loss — the layer-granular
// executor against the monolithic graph, the Hugging Face PEFT folder (use_dora, key names, shapes) and its reload,
// one tune run with IST layer selection on the tiny LLaMA whose saved adapter reloads through peft.init and whose
// checkpoint resumes the same loss curve, and a run on the demo GPT-2 that learns.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { makeBatch, type TrainBatch } from '../../../src/engine/data/batches';
import { GraphBuilder } from '../../../src/engine/graph/builder';
import { toModelBytes } from '../../../src/engine/graph/serialize';
import { linear } from '../../../src/engine/models/layers';
import { loadModel, type LoadedModel } from '../../../src/engine/models/model';
import { SafetensorsFile } from '../../../src/engine/models/safetensors';
import { writeCycleTokens } from '../../../src/engine/models/tinyRandomGpt2';
import { loadAdapterFolderInto, saveAdapterFolder } from '../../../src/engine/peft/adapterFolder';
import { saveAdapter } from '../../../src/engine/peft/adapterFormat';
import { DoraAdapter, doraInputNames, doraWeightNorm, modelWeightReader, type DoraSpec, type DoraWeightNorm } from '../../../src/engine/peft/dora';
import { LoraAdapter } from '../../../src/engine/peft/lora';
import { dropoutMask, LAYER_SCALE_INPUT } from '../../../src/engine/peft/perLayer';
import { createSession, hostTensor, type HostTensor } from '../../../src/engine/runtime';
import { evaluateSetup, runTune, setupTune, TaskCancelled } from '../../../src/engine/tasks';
import { BlockExecutor } from '../../../src/engine/train/blockRunner';
import { findCheckpoint } from '../../../src/engine/train/checkpoint';
import { batchFeeds, buildPeftGraph, gradOutputName, LOGPROB_OUTPUT, LOSS_OUTPUT, PeftSessionRunner } from '../../../src/engine/train/peftGraph';
import { Rng } from '../../../src/engine/util/random';
import { loadTune, stepLosses, stubContext, tempDir, writeTuneConfig } from '../tune/helpers';
import { GPT2_DIR, LLAMA_DIR } from './fixtures';

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

/** B random (not zero) and m moved off ||W0||_c, so that every gradient is non-trivial and m / n != 1. */
function randomise(adapter: DoraAdapter, rng: Rng): void {
  for (const m of adapter.ordered()) {
    for (let i = 0; i < m.b.length; i++) m.b[i] = rng.normal() * 0.3;
    for (let i = 0; i < m.magnitude.length; i++) m.magnitude[i] = (m.magnitude[i] ?? 0) * (1 + 0.2 * rng.normal());
  }
}

const spec = (o: Partial<DoraSpec>): DoraSpec => ({ r: 2, alpha: 4, dropout: 0, targets: ['c_attn'], ...o });

describe('peft: DoRA module', () => {
  it('initialises A Kaiming-uniform, B = 0 and m = ||W0||_c per output feature (Conv1D [in, out] and Linear [out, in])', () => {
    for (const c of [
      { dir: GPT2_DIR, targets: ['c_attn'], path: 'transformer.h.1.attn.c_attn', inF: 32, outF: 96, layout: 'in_out' },
      { dir: LLAMA_DIR, targets: ['down_proj'], path: 'model.layers.1.mlp.down_proj', inF: 64, outF: 16, layout: 'out_in' },
    ]) {
      const model = loadModel(c.dir);
      try {
        const dora = new DoraAdapter(spec({ r: 4, alpha: 8, targets: c.targets }), new Rng(1), modelWeightReader(model));
        buildPeftGraph(model, dora, { kind: 'score', batch: 1, seq: 4 });
        assert.equal(dora.modules.size, model.config.numLayers);
        const m = dora.modules.get(c.path);
        assert.ok(m !== undefined);
        assert.equal(m.layout, c.layout);
        assert.equal(m.a.length, 4 * c.inF);
        assert.ok(m.b.length === c.outF * 4 && m.b.every((v) => v === 0));
        const bound = 1 / Math.sqrt(c.inF);
        assert.ok(m.a.every((v) => Math.abs(v) <= bound) && m.a.some((v) => Math.abs(v) > bound / 2));
        // The norm over the input dimension of each output feature, straight from the stored matrix.
        const w = model.weights.readFloat64(`${c.path}.weight`);
        const expected = Array.from({ length: c.outF }, (_, o) => {
          let sq = 0;
          for (let i = 0; i < c.inF; i++) sq += (w[c.layout === 'out_in' ? o * c.inF + i : i * c.outF + o] ?? 0) ** 2;
          return Math.sqrt(sq);
        });
        assert.equal(m.magnitude.length, c.outF);
        assert.ok(maxRelDiff(m.magnitude, expected) < 1e-6, `magnitude vs ||W0||_c: ${maxRelDiff(m.magnitude, expected)}`);
        assert.equal(dora.parameterCount(), model.config.numLayers * (4 * c.inF + c.outF * 4 + c.outF));
      } finally {
        model.close();
      }
    }
  });

  it('rejects bad settings and targets that match nothing', () => {
    const none = (): Float32Array => new Float32Array(0);
    assert.throws(() => new DoraAdapter(spec({ r: 0 }), new Rng(1), none), /positive integer/);
    assert.throws(() => new DoraAdapter(spec({ dropout: 1 }), new Rng(1), none), /dropout/);
    const model = loadModel(GPT2_DIR);
    try {
      const dora = new DoraAdapter(spec({ targets: ['q_proj'] }), new Rng(1), modelWeightReader(model));
      assert.throws(() => buildPeftGraph(model, dora, { kind: 'score', batch: 1, seq: 4 }), /match no projection.*c_attn, c_proj, c_fc/);
    } finally {
      model.close();
    }
  });

  it('a fresh adapter (B = 0, m = ||W0||_c) gives the base model\'s log-probabilities (float64, to 1e-6)', async () => {
    const model = loadModel(LLAMA_DIR);
    try {
      const batch = makeBatch([[1, 306, 4997, 526, 29889], [1, 910, 338]].map((ids) => ({ ids, labels: ids })), 5, 0);
      const logp = async (b: GraphBuilder, feeds: Record<string, HostTensor>): Promise<Float64Array> => {
        const s = await createSession({ bytes: toModelBytes(b) }, { intraOpNumThreads: 1, graphOptimizationLevel: 'basic' });
        try {
          return Float64Array.from((await s.run({ ...batchFeeds(batch), ...feeds })).get(LOGPROB_OUTPUT, 'float64').data);
        } finally {
          await s.dispose();
        }
      };
      const dora = new DoraAdapter(spec({ targets: ['q_proj', 'v_proj', 'down_proj'] }), new Rng(2), modelWeightReader(model));
      const withDora = buildPeftGraph(model, dora, { kind: 'score', batch: 2, seq: 5, dtype: 'float64' });
      const feeds: Record<string, HostTensor> = {};
      for (const t of dora.trainables()) feeds[t.name] = hostTensor(t.name, Float64Array.from(t.data), [...t.dims]);
      const got = await logp(withDora, feeds);
      // The base model: the same objective with a zero LoRA (its output is exactly the base projection's).
      const plain = new LoraAdapter({ r: 1, alpha: 1, dropout: 0, targets: ['q_proj'] }, new Rng(1));
      const base = buildPeftGraph(model, plain, { kind: 'score', batch: 2, seq: 5, dtype: 'float64' });
      const zero: Record<string, HostTensor> = {};
      for (const t of plain.trainables()) zero[t.name] = hostTensor(t.name, new Float64Array(t.data.length), [...t.dims]);
      const ref = await logp(base, zero);
      assert.ok(ref.some((v) => v !== 0));
      const d = maxRelDiff(got, ref);
      console.log(`      max relative difference to the base model: ${d.toExponential(2)}`);
      assert.ok(d < 1e-6, `max relative difference ${d}`);
    } finally {
      model.close();
    }
  });
});

describe('peft: DoRA in generation (KV-cache graphs, evalGenerationTokens)', function () {
  this.timeout(60_000);

  it('a fresh adapter generates the base model\'s greedy tokens (a zero LoRA as the base)', async () => {
    const model = loadModel(GPT2_DIR);
    const s = spec({ r: 2, alpha: 4, dropout: 0.1, targets: ['c_attn', 'c_fc'] });
    const dora = new PeftSessionRunner(model, new DoraAdapter(s, new Rng(1), modelWeightReader(model)), { device: 'cpu', threads: 1 });
    const lora = new PeftSessionRunner(model, new LoraAdapter(s, new Rng(1)), { device: 'cpu', threads: 1 });
    try {
      dora.ensureModules();
      lora.ensureModules();
      const prompts = [[5, 9, 42], [1, 5]];
      const got = await dora.generate(prompts, { maxNewTokens: 5 });
      assert.equal(got.length, 2);
      assert.deepEqual(got, await lora.generate(prompts, { maxNewTokens: 5 }));
    } finally {
      await dora.dispose();
      await lora.dispose();
      model.close();
    }
  });
});

/** float64 reference of one DoRA projection, PEFT's equation written out (x [T, in], W0 in `layout`). */
function referenceForward(o: {
  x: Float64Array; tokens: number; inF: number; outF: number; layout: 'out_in' | 'in_out'; w0: Float64Array; bias: Float64Array;
  a: ArrayLike<number>; b: ArrayLike<number>; m: ArrayLike<number>; r: number; s: number; p: number; mask?: Float64Array; layerScale: number;
}): Float64Array {
  const { tokens: T, inF, outF, r, s } = o;
  const w0 = (out: number, i: number): number => o.w0[o.layout === 'out_in' ? out * inF + i : i * outF + out] ?? 0;
  const ba = (out: number, i: number): number => {
    let v = 0;
    for (let k = 0; k < r; k++) v += (o.b[out * r + k] ?? 0) * (o.a[k * inF + i] ?? 0);
    return v;
  };
  const norm = new Float64Array(outF);
  for (let out = 0; out < outF; out++) {
    let sq = 0;
    for (let i = 0; i < inF; i++) sq += (w0(out, i) + s * ba(out, i)) ** 2;
    norm[out] = Math.sqrt(sq);
  }
  const y = new Float64Array(T * outF);
  for (let t = 0; t < T; t++) {
    for (let out = 0; out < outF; out++) {
      const ratio = (o.m[out] ?? 0) / (norm[out] ?? 1);
      let base = 0;
      let baseD = 0;
      let loraD = 0;
      for (let i = 0; i < inF; i++) {
        const x = o.x[t * inF + i] ?? 0;
        const xd = o.mask === undefined ? x : (x * (o.mask[t * inF + i] ?? 0)) / (1 - o.p);
        base += w0(out, i) * x;
        baseD += w0(out, i) * xd;
        loraD += ba(out, i) * xd;
      }
      // W' x = m/n (W0 + s B A) x without dropout; PEFT's correction form otherwise (see dora.ts).
      const delta = (ratio - 1) * baseD + ratio * s * loraD;
      y[t * outF + out] = base + o.layerScale * delta + (o.bias[out] ?? 0);
    }
  }
  return y;
}

describe('peft: DoRA forward equals a float64 implementation of m (W0 + s B A) / ||W0 + s B A||_c', () => {
  const cases = [
    { name: 'Linear [out, in], no dropout, score graph with layer scale 0.5', layout: 'out_in' as const, p: 0, train: false, layerScale: 0.5 },
    { name: 'Conv1D [in, out], no dropout', layout: 'in_out' as const, p: 0, train: true, layerScale: 1 },
    { name: 'Linear [out, in], dropout 0.3 (mask fed), rsLoRA', layout: 'out_in' as const, p: 0.3, train: true, layerScale: 1, rsLora: true },
    { name: 'Conv1D [in, out], dropout 0.2 (mask fed)', layout: 'in_out' as const, p: 0.2, train: true, layerScale: 1 },
  ];
  for (const c of cases) {
    it(c.name, async () => {
      const [T, inF, outF, r] = [5, 7, 6, 3];
      const rng = new Rng(21);
      const w0 = Float64Array.from({ length: inF * outF }, () => rng.normal() * 0.5);
      const bias = Float64Array.from({ length: outF }, () => rng.normal() * 0.1);
      const x = Float64Array.from({ length: T * inF }, () => rng.normal());
      const dora = new DoraAdapter({ r, alpha: 5, dropout: c.p, targets: ['proj'], rsLora: c.rsLora }, new Rng(3), () => w0);
      const g = new GraphBuilder('dora_linear');
      const xIn = g.input('x', 'float64', [T, inF]);
      const w = g.initializer('w', 'float64', c.layout === 'out_in' ? [outF, inF] : [inF, outF], w0);
      const bT = g.initializer('bias', 'float64', [outF], bias);
      const hook = dora.hook({ train: c.train, dtype: 'float64', ...(c.layerScale !== 1 ? { layerScaleCount: 1 } : {}) });
      g.output(linear(g, hook, { module: 'proj', layer: 0, path: 'layers.0.proj' }, xIn, w, bT, c.layout), 'y');
      const m = dora.modules.get('layers.0.proj');
      assert.ok(m !== undefined);
      // m starts at ||W0||_c (float32); then B, m random.
      assert.ok(maxRelDiff(m.magnitude, doraWeightNorm(w0, c.layout, inF, outF)) < 1e-7);
      randomise(dora, rng);
      const names = doraInputNames(m.path);
      const mask = c.p > 0 ? Float64Array.from(dropoutMask(T * inF, c.p, new Rng(4))) : undefined;
      const feeds: Record<string, HostTensor> = {
        x: hostTensor('x', x, [T, inF]),
        [names.a]: hostTensor(names.a, Float64Array.from(m.a), [r, inF]),
        [names.b]: hostTensor(names.b, Float64Array.from(m.b), [outF, r]),
        [names.magnitude]: hostTensor(names.magnitude, Float64Array.from(m.magnitude), [outF]),
      };
      if (mask !== undefined) feeds[names.mask] = hostTensor(names.mask, mask, [T, inF]);
      if (c.layerScale !== 1) feeds[LAYER_SCALE_INPUT] = hostTensor(LAYER_SCALE_INPUT, Float64Array.of(c.layerScale), [1]);
      const session = await createSession({ bytes: toModelBytes(g) }, { intraOpNumThreads: 1, graphOptimizationLevel: 'basic' });
      try {
        const y = (await session.run(feeds)).get('y', 'float64', [T, outF]).data;
        const ref = referenceForward({
          x, tokens: T, inF, outF, layout: c.layout, w0, bias, a: m.a, b: m.b, m: m.magnitude, r, s: dora.scaling, p: c.p,
          ...(mask === undefined ? {} : { mask }), layerScale: c.layerScale,
        });
        const d = maxRelDiff(y, ref);
        console.log(`      max relative difference to the float64 reference: ${d.toExponential(2)}`);
        assert.ok(d < 1e-12, `max relative difference ${d}`);
      } finally {
        await session.dispose();
      }
    });
  }
});

/** One float64 train graph of `weightNorm` variant, its session and the loss/gradient runs on shared weights. */
async function float64Train(model: LoadedModel, s: DoraSpec, weightNorm: DoraWeightNorm, batch: TrainBatch) {
  const adapter = new DoraAdapter(s, new Rng(5), modelWeightReader(model), { weightNorm });
  const b = buildPeftGraph(model, adapter, { kind: 'train', batch: batch.batch, seq: batch.seq, dtype: 'float64' });
  const session = await createSession({ bytes: toModelBytes(b) }, { intraOpNumThreads: 1, graphOptimizationLevel: 'basic' });
  return { adapter, session };
}

describe('peft: DoRA float64 gradients of A, B and m against central finite differences', function () {
  this.timeout(180_000);
  const cases = [
    { name: 'GPT-2 (Conv1D c_attn, c_proj, c_fc; dropout mask fed)', dir: GPT2_DIR, targets: ['c_attn', 'c_proj', 'c_fc'], dropout: 0.1, rows: [[5, 9, 42, 7, 300, 2], [1, 5, 9, 999]] },
    { name: 'LLaMA (Linear q_proj, v_proj, down_proj)', dir: LLAMA_DIR, targets: ['q_proj', 'v_proj', 'down_proj'], dropout: 0, rows: [[1, 306, 4997, 526, 29889], [1, 910, 338]] },
  ];
  for (const c of cases) {
    it(`detached norm (default, PEFT's): gradients equal those of the loss with n held fixed; differentiated: of the plain loss: ${c.name}`, async () => {
      const model = loadModel(c.dir);
      const seq = 6;
      const batch = makeBatch(c.rows.map((ids) => ({ ids, labels: ids })), seq, 0);
      const s = spec({ r: 2, alpha: 4, dropout: c.dropout, targets: c.targets });
      const detached = await float64Train(model, s, 'detached', batch);
      const full = await float64Train(model, s, 'differentiated', batch);
      const fed = await float64Train(model, s, 'fed', batch);
      try {
        // Shared values: the three adapters were initialised alike (same seed); randomise one and feed it to all.
        const rng = new Rng(9);
        randomise(detached.adapter, rng);
        const weights = new Map<string, { data: Float64Array; dims: number[] }>();
        for (const t of detached.adapter.trainables()) weights.set(t.name, { data: Float64Array.from(t.data), dims: [...t.dims] });
        const masks = new Map<string, Float64Array>();
        for (const m of detached.adapter.dropoutMasks()) masks.set(m.name, Float64Array.from({ length: batch.batch * seq * m.features }, () => (rng.uniform() < c.dropout ? 0 : 1)));
        const feeds = (extra: Record<string, HostTensor> = {}): Record<string, HostTensor> => {
          const f: Record<string, HostTensor> = batchFeeds(batch);
          for (const [name, w] of weights) f[name] = hostTensor(name, w.data, w.dims);
          for (const [name, v] of masks) f[name] = hostTensor(name, v, [batch.batch * seq, v.length / (batch.batch * seq)]);
          return { ...f, ...extra };
        };
        // n at the base point, in float64 from the model's weights (doraWeightNorm), fed to the 'fed' graph.
        const fixedNorm: Record<string, HostTensor> = {};
        for (const m of detached.adapter.ordered()) {
          const names = doraInputNames(m.path);
          const n = doraWeightNorm(model.weights.readFloat64(`${m.path}.weight`), m.layout, m.inFeatures, m.outFeatures, {
            a: weights.get(names.a)?.data ?? [], b: weights.get(names.b)?.data ?? [], r: s.r, scaling: detached.adapter.scaling,
          });
          fixedNorm[names.norm] = hostTensor(names.norm, n, [m.outFeatures]);
        }
        const lossOf = async (session: typeof detached.session, extra: Record<string, HostTensor> = {}): Promise<number> =>
          (await session.run(feeds(extra), [LOSS_OUTPUT])).get(LOSS_OUTPUT, 'float64', []).data[0] ?? NaN;
        const base = await lossOf(detached.session);
        assert.ok(Math.abs((await lossOf(fed.session, fixedNorm)) - base) <= 1e-13 * Math.abs(base), 'the fed norm graph has another loss');
        assert.ok(Math.abs((await lossOf(full.session)) - base) <= 1e-13 * Math.abs(base), 'the differentiated graph has another loss');
        const analytic = { detached: await detached.session.run(feeds()), full: await full.session.run(feeds()) };
        const variants = [
          { label: 'detached', result: analytic.detached, loss: () => lossOf(fed.session, fixedNorm) },
          { label: 'differentiated', result: analytic.full, loss: () => lossOf(full.session) },
        ];
        for (const v of variants) {
          let checked = 0;
          let worst = 0;
          let worstAbs = 0;
          for (const m of detached.adapter.ordered().filter((_, i) => i % 3 === 0)) {
            const names = doraInputNames(m.path);
            for (const name of [names.a, names.b, names.magnitude]) {
              const w = weights.get(name);
              assert.ok(w !== undefined);
              const grad = v.result.get(gradOutputName(name), 'float64', w.dims).data;
              for (const i of [0, Math.floor(w.data.length / 2), w.data.length - 1]) {
                const h = 1e-5;
                const orig = w.data[i] ?? 0;
                w.data[i] = orig + h;
                const up = await v.loss();
                w.data[i] = orig - h;
                const down = await v.loss();
                w.data[i] = orig;
                const numeric = (up - down) / (2 * h);
                const got = grad[i] ?? NaN;
                assert.ok(Math.abs(got - numeric) <= 1e-8 + 1e-6 * Math.abs(numeric), `${v.label} ${name}[${i}]: autodiff ${got}, finite difference ${numeric}`);
                worstAbs = Math.max(worstAbs, Math.abs(got - numeric));
                if (Math.abs(numeric) > 1e-4) worst = Math.max(worst, Math.abs(got - numeric) / Math.abs(numeric));
                checked++;
              }
            }
          }
          console.log(`      ${v.label}: ${checked} entries, max relative error ${worst.toExponential(2)} (entries with |fd| > 1e-4), max absolute error ${worstAbs.toExponential(2)}`);
          assert.ok(checked >= 18);
        }
        // The detach is real: A and B get other gradients than through the full chain rule; m the same ones.
        let abDiff = 0;
        for (const t of detached.adapter.trainables()) {
          const dims = [...t.dims];
          const d = maxRelDiff(analytic.detached.get(gradOutputName(t.name), 'float64', dims).data, analytic.full.get(gradOutputName(t.name), 'float64', dims).data);
          if (t.name.endsWith('.magnitude')) assert.ok(d < 1e-10, `${t.name}: ${d}`);
          else abDiff = Math.max(abDiff, d);
        }
        assert.ok(abDiff > 1e-3, `detached and differentiated A/B gradients differ by only ${abDiff}`);
      } finally {
        for (const v of [detached, full, fed]) await v.session.dispose();
        model.close();
      }
    });
  }
});

describe('peft: DoRA through the layer-granular executor', function () {
  this.timeout(120_000);
  for (const c of [
    { name: 'GPT-2 (Conv1D; dropout masks)', dir: GPT2_DIR, targets: ['c_attn', 'c_proj', 'c_fc'], dropout: 0.1 },
    { name: 'LLaMA (Linear)', dir: LLAMA_DIR, targets: ['q_proj', 'v_proj', 'down_proj'], dropout: 0 },
  ]) {
    it(`float64: the monolithic graph's loss and gradients (to 1e-10); a truncated backward (IST-style selection) gives the top layer's only: ${c.name}`, async () => {
      const model = loadModel(c.dir);
      const dora = new DoraAdapter(spec({ r: 2, alpha: 4, dropout: c.dropout, targets: c.targets }), new Rng(5), modelWeightReader(model));
      const vocab = model.config.vocabSize;
      const batch = makeBatch([[5, 9, 42, 7, 30, 2, 11], [1, 5, 9, 19]].map((ids) => ({ ids: ids.map((v) => v % vocab), labels: ids.map((v) => v % vocab) })), 7, 0);
      const b = buildPeftGraph(model, dora, { kind: 'train', batch: 2, seq: 7, dtype: 'float64' });
      randomise(dora, new Rng(6));
      const session = await createSession({ bytes: toModelBytes(b) }, { intraOpNumThreads: 1, graphOptimizationLevel: 'basic' });
      const ex = new BlockExecutor(model, dora, { device: 'cpu', threads: 1 }, 'float64');
      try {
        const feeds: Record<string, HostTensor> = batchFeeds(batch);
        for (const t of dora.trainables()) feeds[t.name] = hostTensor(t.name, Float64Array.from(t.data), [...t.dims]);
        const rng = new Rng(11);
        const tokens = 14;
        for (const m of dora.dropoutMasks()) feeds[m.name] = hostTensor(m.name, Float64Array.from(dropoutMask(tokens * m.features, c.dropout, rng)), [tokens, m.features]);
        const r = await session.run(feeds);
        const refLoss = r.get(LOSS_OUTPUT, 'float64', []).data[0] ?? NaN;
        const got = await ex.trainStep(batch, new Rng(11), () => true);
        assert.ok(Math.abs(got.loss - refLoss) <= 1e-10 * Math.abs(refLoss), `loss ${got.loss} vs ${refLoss}`);
        let worst = 0;
        for (const t of dora.trainables()) {
          const ref: Float = r.get(gradOutputName(t.name), 'float64', [...t.dims]).data;
          assert.ok(ref.some((v) => v !== 0), `${t.name}: zero reference gradient`);
          worst = Math.max(worst, maxRelDiff(got.grads.get(t.name) ?? [], ref));
        }
        assert.ok(worst <= 1e-10, `max relative difference ${worst}`);
        const top = model.config.numLayers - 1;
        const part = await ex.trainStep(batch, new Rng(11), (l) => l === top);
        assert.equal(part.depth, 1);
        const wanted = dora.trainables().filter((t) => t.layer === top);
        assert.deepEqual([...part.grads.keys()].sort(), wanted.map((t) => t.name).sort());
        for (const t of wanted) assert.ok(maxRelDiff(part.grads.get(t.name) ?? [], got.grads.get(t.name) ?? []) <= 1e-12, t.name);
      } finally {
        await session.dispose();
        await ex.dispose();
        model.close();
      }
    });
  }
});

describe('peft: DoRA adapter folders (Hugging Face PEFT, use_dora)', () => {
  it('writes peft_type LORA + use_dora true and lora_A.weight / lora_B.weight / lora_magnitude_vector; reloads exactly; other methods and settings are refused', () => {
    const model = loadModel(GPT2_DIR);
    try {
      const s = spec({ r: 3, alpha: 6, dropout: 0.05, targets: ['c_attn', 'c_fc'] });
      const dora = new DoraAdapter(s, new Rng(1), modelWeightReader(model));
      buildPeftGraph(model, dora, { kind: 'score', batch: 1, seq: 2 });
      randomise(dora, new Rng(2));
      const dir = tempDir('dora-folder');
      saveAdapterFolder(dir, dora, { baseModel: 'tiny-gpt2', modelFamily: model.config.family });
      const cfg = JSON.parse(fs.readFileSync(path.join(dir, 'adapter_config.json'), 'utf8')) as Record<string, unknown>;
      assert.deepEqual(
        Object.fromEntries(['peft_type', 'use_dora', 'r', 'lora_alpha', 'lora_dropout', 'target_modules', 'fan_in_fan_out', 'use_rslora'].map((k) => [k, cfg[k]])),
        { peft_type: 'LORA', use_dora: true, r: 3, lora_alpha: 6, lora_dropout: 0.05, target_modules: ['c_attn', 'c_fc'], fan_in_fan_out: true, use_rslora: false },
      );
      const file = SafetensorsFile.open(path.join(dir, 'adapter_model.safetensors'));
      try {
        const shapes = Object.fromEntries([...file.tensors.values()].map((t) => [t.name, t.shape]));
        const p = 'base_model.model.transformer.h.2';
        assert.deepEqual(shapes[`${p}.attn.c_attn.lora_A.weight`], [3, 32]);
        assert.deepEqual(shapes[`${p}.attn.c_attn.lora_B.weight`], [96, 3]);
        assert.deepEqual(shapes[`${p}.attn.c_attn.lora_magnitude_vector`], [96]);
        assert.deepEqual(shapes[`${p}.mlp.c_fc.lora_magnitude_vector`], [128]);
        assert.equal(Object.keys(shapes).length, 3 * dora.modules.size);
        for (const name of Object.keys(shapes)) assert.match(name, /^base_model\.model\.transformer\.h\.\d\.(attn\.c_attn|mlp\.c_fc)\.(lora_A\.weight|lora_B\.weight|lora_magnitude_vector)$/);
      } finally {
        file.close();
      }
      const again = new DoraAdapter(s, new Rng(7), modelWeightReader(model));
      buildPeftGraph(model, again, { kind: 'score', batch: 1, seq: 2 });
      loadAdapterFolderInto(dir, again);
      for (const [p, m] of dora.modules) {
        const n = again.modules.get(p);
        assert.ok(n !== undefined);
        assert.deepEqual([n.a, n.b, n.magnitude], [m.a, m.b, m.magnitude], p);
      }
      const lora = new LoraAdapter(s, new Rng(1));
      buildPeftGraph(model, lora, { kind: 'score', batch: 1, seq: 2 });
      assert.throws(() => loadAdapterFolderInto(dir, lora), /use_dora is true \(a DoRA adapter\), but the config's peft\.method is lora/);
      const loraDir = tempDir('dora-lora-folder');
      saveAdapter(loraDir, lora, { baseModel: 'tiny-gpt2', modelFamily: 'gpt2' });
      assert.throws(() => loadAdapterFolderInto(loraDir, again), /use_dora is false: a plain LoRA adapter/);
      const otherAlpha = new DoraAdapter({ ...s, alpha: 12 }, new Rng(1), modelWeightReader(model));
      buildPeftGraph(model, otherAlpha, { kind: 'score', batch: 1, seq: 2 });
      assert.throws(() => loadAdapterFolderInto(dir, otherAlpha), /lora_alpha 6, use_rslora false \(config: peft\.alpha 12/);
    } finally {
      model.close();
    }
  });
});

describe('tune: DoRA with IST layer selection on the tiny LLaMA', function () {
  this.timeout(180_000);

  function writeConfig(dir: string, peft: Record<string, unknown> = {}): string {
    // Cycle data over ids 1..999 (below the fixture's 32000-token vocabulary).
    writeCycleTokens(path.join(dir, 'train.jsonl'), { count: 16, length: 10, seed: 1 });
    writeCycleTokens(path.join(dir, 'eval.jsonl'), { count: 4, length: 10, seed: 2 });
    const config = {
      name: 'dora-ist', task: 'tune', model: LLAMA_DIR,
      data: { train: 'train.jsonl', eval: 'eval.jsonl', format: 'tokens', maxLength: 10 },
      peft: { method: 'dora', r: 4, alpha: 8, dropout: 0.05, targets: ['q_proj', 'v_proj', 'down_proj'], ...peft },
      train: { steps: 6, batchSize: 4, lr: 0.01, warmupSteps: 1, seed: 3, evalEvery: 0, checkpointEvery: 3 },
      layerSelection: 'ist', ist: { interval: 2, scoreBatch: 4 },
      runtime: { device: 'cpu', threads: 1 },
    };
    const file = path.join(dir, 'dora.peft.json');
    fs.writeFileSync(file, JSON.stringify(config, null, 2));
    return file;
  }

  it('trains (one of two layers a step, IST score updates), saves a use_dora folder that peft.init reloads with the same evaluation, and resumes a checkpoint on the same loss curve', async () => {
    const dir = tempDir('dora-tune');
    const config = loadTune(writeConfig(dir));
    assert.equal(config.peft.method, 'dora');
    assert.equal(config.peft.rsLora, false);
    // LoRA's keys and defaults; the bottleneck keys are errors as with method lora.
    assert.deepEqual([config.peft.r, config.peft.alpha], [4, 8]);
    assert.throws(() => loadTune(writeConfig(tempDir('dora-bad'), { placement: 'series' })), /placement/);
    const ctx = stubContext(path.join(dir, 'run'));
    const summary = await runTune(config, ctx);
    const steps = ctx.metrics.filter((m) => m.type === 'step');
    assert.equal(steps.length, 6);
    for (const r of steps) assert.ok(Array.isArray(r.layers) && r.layers.length === 1, `step ${String(r.step)} layers ${JSON.stringify(r.layers)}`);
    assert.ok(ctx.metrics.filter((m) => m.type === 'importance').length >= 2, 'no IST score update');
    const losses = stepLosses(ctx.metrics);
    assert.ok(losses.every(Number.isFinite));
    const evalLoss = summary.metrics?.evalLoss;
    assert.equal(typeof evalLoss, 'number');
    // 2 layers x (q_proj 16 -> 16, v_proj 16 -> 16, down_proj 64 -> 16), r 4: A + B + m.
    assert.equal(summary.metrics?.trainableParams, 2 * ((4 * 16 + 16 * 4 + 16) * 2 + (4 * 64 + 16 * 4 + 16)));
    console.log(`      loss ${losses[0]?.toFixed(4)} -> ${losses[losses.length - 1]?.toFixed(4)}, eval loss ${String(evalLoss)}, layers ${steps.map((r) => JSON.stringify(r.layers)).join(' ')}`);
    const adapterDir = path.join(ctx.runDir, 'adapter');
    const cfg = JSON.parse(fs.readFileSync(path.join(adapterDir, 'adapter_config.json'), 'utf8')) as Record<string, unknown>;
    assert.equal(cfg.use_dora, true);
    assert.equal(cfg.fan_in_fan_out, false);
    const file = SafetensorsFile.open(path.join(adapterDir, 'adapter_model.safetensors'));
    try {
      assert.deepEqual(file.info('base_model.model.model.layers.1.mlp.down_proj.lora_magnitude_vector').shape, [16]);
      assert.deepEqual(file.info('base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight').shape, [4, 16]);
    } finally {
      file.close();
    }
    const reload = loadTune(writeConfig(tempDir('dora-reload'), { init: adapterDir }));
    const setup = await setupTune(reload, { log: () => undefined });
    try {
      assert.ok(setup.adapter instanceof DoraAdapter);
      // Training moved some magnitude off ||W0||_c (the selected layers' m get gradients).
      const model = setup.model;
      const moved = setup.adapter.ordered().some((m) => maxRelDiff(m.magnitude, doraWeightNorm(model.weights.readFloat64(`${m.path}.weight`), m.layout, m.inFeatures, m.outFeatures)) > 1e-4);
      assert.ok(moved, 'no magnitude changed');
      const metrics = await evaluateSetup(setup, reload);
      assert.equal(metrics.evalLoss, evalLoss);
    } finally {
      await setup.dispose();
    }
    // Cancel after a checkpoint (step 3) and resume: the same loss curve (A, B, m, AdamW state and IST scores restored).
    const cancelled = stubContext(path.join(dir, 'run-resume'));
    cancelled.cancelAfterSteps = 3;
    await assert.rejects(runTune(config, cancelled), TaskCancelled);
    assert.equal(findCheckpoint(cancelled.runDir)?.state.step, 3);
    const resumed = stubContext(cancelled.runDir);
    assert.equal((await runTune(config, resumed)).metrics?.resumedFromStep, 3);
    const lines = fs.readFileSync(path.join(cancelled.runDir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l): unknown => JSON.parse(l));
    const curve = lines.flatMap((r) => (typeof r === 'object' && r !== null && 'type' in r && r.type === 'step' && 'loss' in r && typeof r.loss === 'number' ? [r.loss] : []));
    assert.deepEqual(curve, losses);
  });
});

describe('tune: DoRA learns on the demo GPT-2 (Conv1D)', function () {
  this.timeout(120_000);

  it('drives the training loss on 32 examples well down (final < 0.5 x initial), as LoRA does', async () => {
    const dir = tempDir('dora-demo');
    const config = loadTune(writeTuneConfig(dir, { peft: { method: 'dora' } }));
    assert.equal(config.peft.method, 'dora');
    const ctx = stubContext(path.join(dir, 'run'));
    await runTune(config, ctx);
    const losses = stepLosses(ctx.metrics);
    const [a, b] = [losses[0] ?? NaN, losses[losses.length - 1] ?? NaN];
    console.log(`      loss ${a.toFixed(4)} -> ${b.toFixed(4)} in ${losses.length} steps`);
    assert.ok(b < 0.5 * a, `loss ${a} -> ${b}`);
  });
});
