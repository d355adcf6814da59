// OT (offsite-tuning with a distilled emulator, Xiao et al. 2023): the distillation lowers the objective on the
// support data (measured before and after on the tiny fixtures), its gradient wrt the middle weights is the
// finite-difference gradient (float64), only the middle layers change in the written emulator, and an offsite run
// with method "ot" completes with emulator zero-shot / fine-tuned / plug-in numbers.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadExperimentConfig, validateConfigText, type OffsiteConfig } from '../../../src/engine/config';
import { COMPARE_EMULATORS, DEMO_EXPERIMENTS, DEMO_SETTINGS, LAB_EMULATOR, labExperimentConfig } from '../../../src/engine/lab/labExperiments';
import type { TrainBatch } from '../../../src/engine/data/batches';
import { loadModel, type LoadedModel } from '../../../src/engine/models/model';
import { writeCycleTokens } from '../../../src/engine/models/tinyRandomGpt2';
import { buildEmulator, DistillObjective, distillEmulator, examplesOfBatches } from '../../../src/engine/offsite/emulator';
import { MatrixDecayAdamW } from '../../../src/engine/offsite/emulator/distill';
import { makeBatch } from '../../../src/engine/data/batches';
import { runOffsite, TaskCancelled, type OffsiteSummary } from '../../../src/engine/tasks';
import { writeTinyModel } from '../models/tinyModels';
import { FIXTURE_GPT2, randomBatches, tmpDir } from './emulator/support';
import { stubContext, tempDir } from '../tune/helpers';

const SESSION = { intraOpNumThreads: 1 };

const TINY_LLAMA4 = {
  model_type: 'llama', vocab_size: 64, hidden_size: 16, intermediate_size: 24, num_hidden_layers: 4, num_attention_heads: 2,
  num_key_value_heads: 1, rope_theta: 10000, rms_norm_eps: 1e-6, tie_word_embeddings: false,
};

/** The uniform-drop emulator of `model` (keep 1 of the middle layers, adapter layers [1, 1]) in a fresh folder. */
async function uniformDrop(model: LoadedModel, support: readonly TrainBatch[], tag: string): Promise<string> {
  const dir = path.join(tmpDir(tag), 'emulator');
  await buildEmulator(model, support, { method: 'uniform-drop', adapterLayers: [1, 1], keepLayers: 1, session: SESSION, evaluateLoss: false }, dir);
  return dir;
}

describe('offsite OT: emulator distillation', function () {
  this.timeout(300000);
  let gpt2: LoadedModel;
  let llama: LoadedModel;
  before(() => {
    gpt2 = loadModel(FIXTURE_GPT2);
    llama = loadModel(writeTinyModel(TINY_LLAMA4, { seed: 5 }));
  });
  after(() => {
    gpt2.close();
    llama.close();
  });

  it('examplesOfBatches inverts makeBatch (ids, mask, targets)', () => {
    const support = randomBatches(3, 2, 3, 7, 50);
    const again = examplesOfBatches(support);
    assert.equal(again.length, 6);
    for (const [i, b] of support.entries()) {
      const r = makeBatch(again.slice(3 * i, 3 * i + 3), 7, 0);
      assert.deepEqual([...r.ids], [...b.ids]);
      assert.deepEqual([...r.mask], [...b.mask]);
      assert.deepEqual([...r.targets], [...b.targets]);
    }
  });

  it('weight decay applies to the matrices only (biases and norm weights are exempt), state splits and restores', () => {
    const params = [Float32Array.of(1, 2, 3, 4), Float32Array.of(1, 1)];
    const zero = [new Float32Array(4), new Float32Array(2)];
    const opt = new MatrixDecayAdamW([true, false], 0.5);
    opt.step(params, zero, 0.1);
    assert.deepEqual([...(params[0] as Float32Array)], [0.95, 1.9, 2.85, 3.8].map((v) => Math.fround(v)));
    assert.deepEqual([...(params[1] as Float32Array)], [1, 1]);
    const state = new Map(opt.stateTensors().map((t) => [t.name, t.data]));
    assert.deepEqual([...state.keys()].sort(), ['adamw.0.m', 'adamw.0.t', 'adamw.0.v', 'adamw.1.m', 'adamw.1.t', 'adamw.1.v']);
    const again = new MatrixDecayAdamW([true, false], 0.5);
    again.restore(opt.steps, state);
    assert.deepEqual(again.stateTensors().map((t) => t.name).sort(), [...state.keys()].sort());
    assert.equal(again.steps, 1);
  });

  for (const which of ['gpt2', 'llama'] as const) {
    it(`${which}: distillation lowers the support objective (KD and total) and changes only the kept middle layer`, async () => {
      const model = which === 'gpt2' ? gpt2 : llama;
      const vocab = model.config.vocabSize;
      const support = randomBatches(11, 3, 4, 8, vocab);
      const dir = await uniformDrop(model, support, `ot-${which}`);
      const before = loadModel(dir);
      const beforeValues = new Map([...before.weights.checkpoint.names()].map((n) => [n, before.checkpoint.readFloat32(n)]));
      before.close();
      const r = await distillEmulator(model, dir, support, { teacherLast: model.config.numLayers - 2, studentLayers: [1] }, {
        settings: { steps: 30, lr: 3e-3, batchSize: 4, lmWeight: 1, kdWeight: 30, warmupSteps: 0, weightDecay: 0, maxGradNorm: 1 },
        seed: 1, session: SESSION,
      });
      assert.equal(r.steps, 30);
      assert.ok(r.before !== undefined && r.after !== undefined);
      // The uniform drop removed layers, so the middle outputs differ to start with.
      assert.ok(r.before.kd > 1e-4, `KD before ${r.before.kd}`);
      assert.ok(r.after.kd < 0.8 * r.before.kd, `KD ${r.before.kd} -> ${r.after.kd}`);
      assert.ok(r.after.total < r.before.total, `total ${r.before.total} -> ${r.after.total}`);
      // The rewritten folder reloads and reproduces the measured objective; only stored layer 1 changed.
      const after = loadModel(dir);
      try {
        const objective = new DistillObjective(model, after, { teacherLast: model.config.numLayers - 2, studentLayers: [1] }, { lm: 1, kd: 30 }, SESSION);
        const again = await objective.meanLosses(support);
        await objective.dispose();
        assert.ok(Math.abs(again.total - r.after.total) <= 1e-5 * Math.max(1, r.after.total), `${again.total} vs ${r.after.total}`);
        const middle = which === 'gpt2' ? 'transformer.h.1.' : 'model.layers.1.';
        let changed = 0;
        for (const [name, was] of beforeValues) {
          const now = after.checkpoint.readFloat32(name);
          const same = now.every((v, i) => v === was[i]);
          if (name.startsWith(middle)) changed += same ? 0 : 1;
          else assert.ok(same, `${name} changed`);
        }
        assert.ok(changed > 0, 'the middle layer trained');
      } finally {
        after.close();
      }
    });
  }

  it('float64: the gradient of the distillation objective wrt the middle weights matches central differences', async () => {
    for (const model of [gpt2, llama]) {
      const support = randomBatches(5, 1, 2, 6, model.config.vocabSize);
      const dir = await uniformDrop(model, support, 'ot-fd');
      const student = loadModel(dir);
      const objective = new DistillObjective(model, student, { teacherLast: model.config.numLayers - 2, studentLayers: [1] }, { lm: 1, kd: 30 }, SESSION, 'float64');
      try {
        const batch = support[0] as TrainBatch;
        const { grads, total } = await objective.lossAndGradients(batch);
        assert.ok(Number.isFinite(total));
        const names = objective.trainable;
        let checked = 0;
        for (const [k, name] of names.entries()) {
          if (k % 2 === 1) continue;
          const w = objective.values.get(name) as Float64Array;
          const g = grads[k] as Float64Array;
          // The two entries of largest gradient and one fixed one.
          const order = Array.from(g.keys()).sort((a, b) => Math.abs(g[b] as number) - Math.abs(g[a] as number));
          for (const i of [order[0] as number, order[1] as number, Math.floor(w.length / 3)]) {
            const w0 = w[i] as number;
            const eps = 1e-5;
            w[i] = w0 + eps;
            const up = (await objective.losses(batch)).total;
            w[i] = w0 - eps;
            const down = (await objective.losses(batch)).total;
            w[i] = w0;
            const fd = (up - down) / (2 * eps);
            const a = g[i] as number;
            assert.ok(Math.abs(fd - a) <= 1e-6 + 1e-5 * Math.abs(a), `${name}[${i}]: autodiff ${a} vs finite differences ${fd}`);
            checked += 1;
          }
        }
        assert.ok(checked >= 6, `checked ${checked} entries`);
      } finally {
        await objective.dispose();
        student.close();
      }
    }
  });

  it('buildEmulator method ot: distillation timed as compression, diagnostics before/after, emulator closer to the full model than uniform-drop', async () => {
    const support = randomBatches(12, 2, 4, 8, 1000);
    const base = { adapterLayers: [1, 1] as [number, number], keepLayers: 1, session: SESSION };
    const drop = await buildEmulator(gpt2, support, { ...base, method: 'uniform-drop' }, path.join(tmpDir('ot-drop'), 'emulator'));
    const ot = await buildEmulator(gpt2, support, { ...base, method: 'ot', distill: { steps: 20, lr: 3e-3, batchSize: 4, warmupSteps: 0 } }, path.join(tmpDir('ot-build'), 'emulator'));
    const d = ot.diagnostics.distillation;
    assert.ok(d !== undefined && d.before !== undefined && d.after !== undefined);
    assert.equal(d.steps, 20);
    assert.ok(ot.timings.distill > 0 && d.seconds === ot.timings.distill);
    assert.ok(d.after.total < d.before.total);
    assert.equal(ot.parameterCount, drop.parameterCount, 'same layers kept');
    const dropLoss = drop.diagnostics.loss;
    const otLoss = ot.diagnostics.loss;
    assert.ok(dropLoss !== undefined && otLoss !== undefined);
    assert.equal(otLoss.full, dropLoss.full);
    // Before distillation the OT emulator is the uniform-drop one: the objective's LM part is its support loss.
    assert.ok(Math.abs(d.before.lm - dropLoss.emulator) < 1e-4, `${d.before.lm} vs ${dropLoss.emulator}`);
    assert.ok(Math.abs(d.after.lm - otLoss.emulator) < 1e-4, `${d.after.lm} vs ${otLoss.emulator}`);
    // The default objective is KD alone (lmWeight 0): the distilled emulator's loss moves towards the full model's.
    assert.ok(Math.abs(otLoss.emulator - otLoss.full) < Math.abs(dropLoss.emulator - dropLoss.full),
      `support loss: full ${otLoss.full}, uniform-drop ${dropLoss.emulator}, ot ${otLoss.emulator}`);
    const config = JSON.parse(fs.readFileSync(path.join(ot.dir, 'config.json'), 'utf8')) as { peft_lab_emulator: { method: string } };
    assert.equal(config.peft_lab_emulator.method, 'ot');
  });

  function otConfig(tag: string): { dir: string; config: OffsiteConfig } {
    const dir = tempDir(tag);
    writeCycleTokens(path.join(dir, 'train.jsonl'), { count: 16, length: 10, seed: 1, vocab: 1000 });
    writeCycleTokens(path.join(dir, 'eval.jsonl'), { count: 6, length: 10, seed: 2, vocab: 1000 });
    const file = path.join(dir, 'o.peft.json');
    fs.writeFileSync(file, JSON.stringify({
      name: 'offsite-ot', task: 'offsite', model: FIXTURE_GPT2,
      data: { train: 'train.jsonl', eval: 'eval.jsonl', format: 'tokens', maxLength: 10 },
      peft: { r: 2, alpha: 4, dropout: 0 },
      train: { steps: 3, batchSize: 4, lr: 0.05, warmupSteps: 0, seed: 3, evalEvery: 0, evalBatchSize: 4 },
      offsite: { adapterLayers: [1, 1], adapterPeft: 'lora', diagnosticExamples: 6, emulator: { method: 'ot', keepLayers: 2, supportExamples: 8, distill: { steps: 6, batchSize: 4 } } },
      runtime: { device: 'cpu', threads: 1 },
    }));
    return { dir, config: loadExperimentConfig(file) as OffsiteConfig };
  }

  it('a run cancelled during distillation publishes no emulator, and its rerun distils from the start', async () => {
    const { dir, config } = otConfig('offsite-ot-cancel');
    const runDir = path.join(dir, 'run');
    const ctx = stubContext(runDir);
    ctx.throwIfCancelled = () => {
      if (ctx.metrics.filter((m) => m.type === 'distill').length >= 3) throw new TaskCancelled();
    };
    await assert.rejects(runOffsite(config, ctx), TaskCancelled);
    assert.ok(!fs.existsSync(path.join(runDir, 'emulator')), 'no emulator published');
    assert.deepEqual(fs.readdirSync(runDir).filter((f) => f.includes('.tmp')), [], 'the temporary emulator folder is removed');
    const rerun = stubContext(runDir);
    await runOffsite(config, rerun);
    const records = fs.readFileSync(path.join(runDir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { type: string; step: number });
    assert.deepEqual(records.filter((r) => r.type === 'distill').map((r) => r.step), [0, 1, 2, 3, 4, 5], 'the cancelled attempt\'s records are replaced');
  });

  it('offsite run with method ot completes: emulator ZS / FT / plug-in, compression time includes distillation', async () => {
    const { dir, config } = otConfig('offsite-ot');
    assert.equal(config.offsite.emulator.distill.steps, 6);
    assert.equal(config.offsite.emulator.distill.kdWeight, 30, 'schema default');
    const runDir = path.join(dir, 'run');
    const ctx = stubContext(runDir);
    const progress: string[] = [];
    ctx.progress = (_f, message) => void progress.push(message ?? '');
    const summary = await runOffsite(config, ctx);
    const offsite = (summary as { offsite?: OffsiteSummary }).offsite;
    assert.ok(offsite !== undefined);
    assert.equal(offsite.method, 'ot');
    for (const k of ['fullZeroShot', 'emulatorZeroShot', 'emulatorFinetuned', 'plugIn', 'compressionSeconds'] as const) assert.ok(Number.isFinite(offsite[k]), `${k} = ${offsite[k]}`);
    const metrics = summary.metrics as Record<string, number>;
    assert.ok(metrics.distillSeconds !== undefined && metrics.distillSeconds > 0 && metrics.distillSeconds <= offsite.compressionSeconds);
    assert.ok(progress.some((m) => m.includes('distillation step 6/6')), 'progress events of the distillation');
    assert.ok(fs.existsSync(path.join(runDir, 'emulator', 'model.safetensors')));
    assert.equal(ctx.metrics.filter((m) => m.type === 'distill').length, 6);
    assert.ok(ctx.logs.some((l) => l.includes('ot distillation, 6 steps')), ctx.logs.join('\n'));
  });

  it('lab: ot is in the compare list (a valid config keeping LAB_EMULATOR.keepLayers middle layers, as uniform-drop), not in the demo', () => {
    assert.ok(COMPARE_EMULATORS.includes('ot'));
    assert.ok(!DEMO_EXPERIMENTS.some((e) => e.kind === 'offsite' && e.method === 'ot'));
    const config = labExperimentConfig({ kind: 'offsite', name: 'offsite-ot', method: 'ot' }, DEMO_SETTINGS);
    const v = validateConfigText(JSON.stringify(config), 'offsite-ot.peft.json');
    assert.ok(v.ok, JSON.stringify(v));
    const emulator = (v.config as { offsite: { emulator: { method: string; keepLayers: number; distill: { steps: number; lmWeight: number } } } }).offsite.emulator;
    assert.equal(emulator.method, 'ot');
    assert.equal(emulator.keepLayers, LAB_EMULATOR.keepLayers);
    assert.deepEqual([emulator.distill.steps, emulator.distill.lmWeight], [50, 0]);
  });
});
