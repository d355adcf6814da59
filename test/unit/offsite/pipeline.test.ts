// The offsite pipeline (src/engine/tasks/offsite.ts) on the tiny GPT-2 fixture with pre-tokenized data (ids < 1000):
// every emulator method runs end to end; plug-in of an unchanged adapter reproduces the full model exactly; the
// gradient diagnostics match a direct computation and are 1 for a lossless emulator; the full adapter's gradient
// is the finite-difference gradient of the base weight (float64); LoRA trains only the adapter layers; a run
// cancelled after the emulator step resumes without rebuilding it.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadExperimentConfig, type OffsiteConfig } from '../../../src/engine/config';
import { makeBatch } from '../../../src/engine/data/batches';
import { readExamples } from '../../../src/engine/data/examples';
import { toModelBytes } from '../../../src/engine/graph';
import { loadModel } from '../../../src/engine/models/model';
import { OffsiteAdapter } from '../../../src/engine/offsite/pipeline/adapter';
import { FullDeltaAdapter, deltaInputName } from '../../../src/engine/offsite/pipeline/fullDelta';
import { gradientAgreement, heldOutBatches, heldOutGradients } from '../../../src/engine/offsite/pipeline/gradientAgreement';
import { OFFSITE_STATE_FILE } from '../../../src/engine/offsite/pipeline/stepState';
import { createSession, hostTensor } from '../../../src/engine/runtime';
import { runOffsite, TaskCancelled, type OffsiteSummary } from '../../../src/engine/tasks';
import { OFFSITE_ADAPTER_VALUES } from '../../../src/engine/tasks/offsite';
import { writeCycleTokens } from '../../../src/engine/models/tinyRandomGpt2';
import { batchFeeds, buildPeftGraph, gradOutputName } from '../../../src/engine/train/peftGraph';
import { parseDiagnosticsFile } from '../../../src/protocol/diagnostics';
import { FIXTURE_GPT2, feeds, probeSession } from './emulator/support';
import { stubContext, tempDir, type StubContext } from '../tune/helpers';

const SETTINGS = { device: 'cpu' as const, threads: 1 };

function writeConfig(dir: string, offsite: Record<string, unknown>, train: Record<string, unknown> = {}, peft: Record<string, unknown> = {}): OffsiteConfig {
  if (!fs.existsSync(path.join(dir, 'train.jsonl'))) {
    writeCycleTokens(path.join(dir, 'train.jsonl'), { count: 16, length: 10, seed: 1, vocab: 1000 });
    writeCycleTokens(path.join(dir, 'eval.jsonl'), { count: 6, length: 10, seed: 2, vocab: 1000 });
  }
  const config = {
    name: 'offsite', task: 'offsite', model: FIXTURE_GPT2,
    data: { train: 'train.jsonl', eval: 'eval.jsonl', format: 'tokens', maxLength: 10 },
    peft: { r: 2, alpha: 4, dropout: 0, ...peft },
    train: { steps: 3, batchSize: 4, lr: 0.05, warmupSteps: 0, seed: 3, evalEvery: 0, evalBatchSize: 4, ...train },
    offsite: { adapterLayers: [1, 1], adapterPeft: 'lora', diagnosticExamples: 6, ...offsite },
    runtime: { device: 'cpu', threads: 1 },
  };
  const file = path.join(dir, 'o.peft.json');
  fs.writeFileSync(file, JSON.stringify(config));
  const loaded = loadExperimentConfig(file);
  assert.equal(loaded.task, 'offsite');
  return loaded as OffsiteConfig;
}

async function run(config: OffsiteConfig, runDir: string, ctx: StubContext = stubContext(runDir)) {
  const summary = await runOffsite(config, ctx);
  const offsite = (summary as { offsite?: OffsiteSummary }).offsite;
  assert.ok(offsite !== undefined);
  const diagnostics = parseDiagnosticsFile(JSON.parse(fs.readFileSync(path.join(runDir, 'diagnostics.json'), 'utf8')), 'diagnostics.json');
  return { summary, offsite, diagnostics, ctx };
}

const finite = (x: unknown): boolean => typeof x === 'number' && Number.isFinite(x);
const LOSSLESS = { method: 'gradot', attentionRankRatio: 1, mlpChannelRatio: 1, supportExamples: 8 };

describe('offsite pipeline', function () {
  this.timeout(300000);

  for (const method of ['gradot', 'svd', 'uniform-drop', 'crash'] as const) {
    it(`${method}: runs every step and writes summary.offsite and diagnostics.json with finite numbers`, async () => {
      const dir = tempDir(`offsite-${method}`);
      const config = writeConfig(dir, { emulator: { method, keepLayers: 2, supportExamples: 8 } });
      const runDir = path.join(dir, 'run');
      const { offsite, diagnostics, summary } = await run(config, runDir);
      assert.equal(offsite.metric, 'perplexity');
      for (const k of ['fullZeroShot', 'emulatorZeroShot', 'emulatorFinetuned', 'plugIn', 'gap', 'compressionSeconds', 'meanCosineBefore', 'meanCosineAfter'] as const) {
        assert.ok(finite(offsite[k]), `${k} = ${offsite[k]}`);
      }
      assert.ok(Math.abs(offsite.gap - (offsite.emulatorFinetuned - offsite.plugIn)) < 1e-12);
      assert.ok(offsite.emulatorParameters < offsite.fullParameters, 'the emulator is smaller');
      // GPT-2 layers 0 and 4: c_attn, attn.c_proj, c_fc, mlp.c_proj each.
      assert.deepEqual(diagnostics.adapters.map((a) => a.name).sort(), ['transformer.h.0', 'transformer.h.4']
        .flatMap((p) => ['attn.c_attn', 'attn.c_proj', 'mlp.c_fc', 'mlp.c_proj'].map((m) => `${p}.${m}`)).sort());
      for (const a of diagnostics.adapters) for (const v of [a.cosineBefore, a.cosineAfter, a.relErrorBefore, a.relErrorAfter]) assert.ok(finite(v));
      if (method === 'gradot' || method === 'svd') assert.equal(diagnostics.modules.length, 3 * 5, 'per middle layer: q, k, v, c_proj and the MLP');
      const loss = diagnostics.loss ?? {};
      assert.ok(finite(loss.full) && finite(loss.emulator), JSON.stringify(loss));
      assert.ok(fs.existsSync(path.join(runDir, 'adapter', 'adapter_model.safetensors')));
      assert.ok(fs.existsSync(path.join(runDir, 'emulator', 'config.json')));
      assert.equal((summary.metrics as Record<string, unknown>).steps, 3);
    });
  }

  it('plug-in of an unchanged adapter (zero tuning steps) reproduces the full model exactly; a tuned one does not', async () => {
    const dir = tempDir('offsite-zero');
    const config = writeConfig(dir, { adapterPeft: 'full', emulator: { method: 'svd' } });
    const runDir = path.join(dir, 'run');
    // Stop right before tuning, then record the tuning step as done with the untouched starting values.
    const ctx = stubContext(runDir);
    ctx.throwIfCancelled = () => {
      const file = path.join(runDir, OFFSITE_STATE_FILE);
      if (fs.existsSync(file) && 'gradientsBefore' in (JSON.parse(fs.readFileSync(file, 'utf8')) as { steps: object }).steps) throw new TaskCancelled();
    };
    await assert.rejects(runOffsite(config, ctx), TaskCancelled);
    const emulator = loadModel(path.join(runDir, 'emulator'));
    const untouched = new OffsiteAdapter(emulator, { peft: 'full', adapterLayers: [1, 1], seed: 3 }, SETTINGS);
    await untouched.build(4, 10);
    untouched.saveValues(path.join(runDir, OFFSITE_ADAPTER_VALUES));
    await untouched.dispose();
    emulator.close();
    const stateFile = path.join(runDir, OFFSITE_STATE_FILE);
    const state = JSON.parse(fs.readFileSync(stateFile, 'utf8')) as { steps: Record<string, unknown> };
    state.steps.tuneEmulator = { steps: 0, msPerStep: 0 };
    fs.writeFileSync(stateFile, JSON.stringify(state));
    const zero = await run(config, runDir);
    assert.equal(zero.offsite.plugIn, zero.offsite.fullZeroShot);
    assert.equal(zero.offsite.emulatorFinetuned, zero.offsite.emulatorZeroShot);
    for (const a of zero.diagnostics.adapters) assert.equal(a.cosineAfter, a.cosineBefore);

    const tuned = await run(config, path.join(dir, 'run2'));
    assert.equal(tuned.offsite.fullZeroShot, zero.offsite.fullZeroShot);
    assert.notEqual(tuned.offsite.plugIn, tuned.offsite.fullZeroShot);
  });

  it('gradient diagnostics: the formula, a direct recomputation, and cosine 1 for a lossless emulator', async () => {
    // The formula against hand-computed values.
    const g = gradientAgreement([1, 2, 2], [2, 0, 1]);
    assert.ok(Math.abs(g.cosine - 4 / (3 * Math.sqrt(5))) < 1e-15);
    assert.ok(Math.abs(g.relError - Math.sqrt(1 + 4 + 1) / Math.sqrt(5)) < 1e-15);
    assert.deepEqual(gradientAgreement([0, 0], [0, 0]), { cosine: 1, relError: 0 });

    const dir = tempDir('offsite-lossless');
    const config = writeConfig(dir, { emulator: LOSSLESS }, {}, { dropout: 0.1 });
    const runDir = path.join(dir, 'run');
    const { diagnostics, offsite } = await run(config, runDir);
    for (const a of diagnostics.adapters) {
      assert.ok(Math.abs(a.cosineBefore - 1) < 1e-4, `${a.name}: cosineBefore ${a.cosineBefore}`);
      assert.ok(a.relErrorBefore < 1e-2, `${a.name}: relErrorBefore ${a.relErrorBefore}`);
    }
    assert.ok(Math.abs(offsite.plugIn - offsite.emulatorFinetuned) < 1e-3 * offsite.plugIn);

    // cosineAfter recomputed from the two gradient vectors, taken here with the tuned adapter on both models.
    const full = loadModel(FIXTURE_GPT2);
    const emulator = loadModel(path.join(runDir, 'emulator'));
    const spec = { peft: 'lora' as const, adapterLayers: [1, 1] as const, lora: { r: 2, alpha: 4, dropout: 0.1, rsLora: false }, seed: 3 };
    const adapters = [new OffsiteAdapter(emulator, spec, SETTINGS), new OffsiteAdapter(full, spec, SETTINGS)];
    try {
      const examples = readExamples(path.join(dir, 'eval.jsonl'), 'tokens', { maxLength: 10, limit: 0 });
      const batches = heldOutBatches(examples, 4, 10, 0);
      const vectors: number[][][] = [];
      for (const a of adapters) {
        await a.build(4, 10);
        a.loadValues(path.join(runDir, OFFSITE_ADAPTER_VALUES));
        vectors.push((await heldOutGradients(a, batches, 3)).map((v) => [...v]));
      }
      const names = adapters[1]?.groups().map((x) => x.name) ?? [];
      names.forEach((name, i) => {
        const e = vectors[0]?.[i] ?? [];
        const f = vectors[1]?.[i] ?? [];
        let dot = 0;
        let ne = 0;
        let nf = 0;
        e.forEach((v, k) => {
          dot += v * (f[k] ?? 0);
          ne += v * v;
          nf += (f[k] ?? 0) ** 2;
        });
        const entry = diagnostics.adapters.find((x) => x.name === name);
        assert.ok(entry !== undefined, name);
        assert.ok(Math.abs(entry.cosineAfter - dot / Math.sqrt(ne * nf)) < 1e-9, `${name}: ${entry.cosineAfter} vs ${dot / Math.sqrt(ne * nf)}`);
      });
    } finally {
      for (const a of adapters) await a.dispose();
      emulator.close();
      full.close();
    }
  });

  it('the full adapter\'s gradient equals the finite-difference gradient of the base weight (float64)', async () => {
    const model = loadModel(FIXTURE_GPT2);
    try {
      const batch = makeBatch([{ ids: [5, 17, 400, 3, 99], labels: [5, 17, 400, 3, 99] }, { ids: [7, 8, 600], labels: [7, 8, 600] }], 5, 0);
      const adapter = new FullDeltaAdapter([1]);
      const b = buildPeftGraph(model, adapter, { kind: 'train', batch: 2, seq: 5, dtype: 'float64' });
      const session = await createSession({ bytes: toModelBytes(b) }, { graphOptimizationLevel: 'basic', intraOpNumThreads: 1 });
      const sitePath = 'transformer.h.1.mlp.c_fc';
      const m = adapter.modules.get(sitePath);
      assert.ok(m !== undefined);
      const deltaFeeds = Object.fromEntries(adapter.ordered().map((d) => [deltaInputName(d.path), hostTensor(deltaInputName(d.path), new Float64Array(d.delta.length), [d.outFeatures, d.inFeatures])]));
      const out = await session.run({ ...batchFeeds(batch), ...deltaFeeds });
      const grad = out.get(gradOutputName(deltaInputName(sitePath)), 'float64', [m.outFeatures, m.inFeatures]).data;
      await session.dispose();
      // Perturb the stored weight W [in, out] (GPT-2 Conv1D): dW[o, i] corresponds to W[i, o].
      const probe = await probeSession(model, 2, 5, sitePath, false);
      const w = model.weights.readFloat64(`${sitePath}.weight`);
      const lossAt = async (wv: Float64Array) => (await probe.session.run({ ...feeds(batch), w: hostTensor('w', wv, [...probe.shape]) })).get('loss', 'float64', []).data[0] ?? NaN;
      const eps = 1e-5;
      for (const [o, i] of [[0, 0], [3, 7], [m.outFeatures - 1, m.inFeatures - 1], [17, 2]] as const) {
        const k = i * m.outFeatures + o;
        const plus = w.slice();
        plus[k] = (plus[k] ?? 0) + eps;
        const minus = w.slice();
        minus[k] = (minus[k] ?? 0) - eps;
        const fd = ((await lossAt(plus)) - (await lossAt(minus))) / (2 * eps);
        const g = grad[o * m.inFeatures + i] ?? NaN;
        assert.ok(Math.abs(g - fd) <= 1e-7 + 1e-5 * Math.abs(fd), `dW[${o}, ${i}] = ${g}, finite difference ${fd}`);
      }
      await probe.session.dispose();
      assert.ok(b.trainableInputs.length === 4 && b.trainableInputs.every((t) => t.name.startsWith('delta.transformer.h.1.')), 'only layer 1 is tuned');
    } finally {
      model.close();
    }
  });

  it('adapterPeft lora trains only the adapter layers', async () => {
    const dir = tempDir('offsite-lora-layers');
    const config = writeConfig(dir, { emulator: { method: 'uniform-drop', keepLayers: 1 } });
    const runDir = path.join(dir, 'run');
    const { ctx } = await run(config, runDir);
    const steps = ctx.metrics.filter((r) => r.type === 'step');
    assert.equal(steps.length, 3);
    // The emulator has 3 stored layers (0, one middle layer, 4); the adapter is stored layers 0 and 2.
    for (const s of steps) assert.deepEqual(s.layers, [0, 2]);
    const values = fs.readFileSync(path.join(runDir, 'adapter', 'adapter_model.safetensors'));
    const header = values.subarray(8, 8 + Number(values.readBigUInt64LE(0))).toString('utf8');
    const layers = new Set([...header.matchAll(/transformer\.h\.(\d+)\./g)].map((x) => Number(x[1])));
    assert.deepEqual([...layers].sort(), [0, 4], 'the plugged-in adapter sits on layers 0 and 4 of the full model');
  });

  it('a run cancelled after the emulator step resumes without rebuilding the emulator', async () => {
    const dir = tempDir('offsite-resume');
    const config = writeConfig(dir, { emulator: { method: 'gradot', supportExamples: 8 } });
    const runDir = path.join(dir, 'run');
    const ctx = stubContext(runDir);
    ctx.throwIfCancelled = () => {
      if (fs.existsSync(path.join(runDir, 'emulator'))) throw new TaskCancelled();
    };
    await assert.rejects(runOffsite(config, ctx), TaskCancelled);
    const state = JSON.parse(fs.readFileSync(path.join(runDir, OFFSITE_STATE_FILE), 'utf8')) as { steps: Record<string, unknown> };
    assert.deepEqual(Object.keys(state.steps), ['emulator']);
    const stamp = fs.statSync(path.join(runDir, 'emulator', 'model.safetensors')).mtimeMs;
    const resumed = await run(config, runDir);
    assert.equal(fs.statSync(path.join(runDir, 'emulator', 'model.safetensors')).mtimeMs, stamp, 'the emulator was not rebuilt');
    assert.ok(resumed.ctx.logs.some((l) => /resuming: steps emulator already done/.test(l)));
    assert.ok(finite(resumed.offsite.plugIn));
    // Another config cannot resume these steps.
    const other = writeConfig(dir, { emulator: { method: 'svd' } });
    await assert.rejects(runOffsite(other, stubContext(runDir)), /other model\/data\/peft\/train\/offsite settings/);
  });
});
