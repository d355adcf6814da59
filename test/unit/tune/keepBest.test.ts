// train.valExamples / train.keepBest: a validation slice held out of the training set, its loss at every
// evaluation, and the adapter written being the one of the lowest validation loss (the IST authors' runs:
// val_set_size 120, eval every 80 steps, load_best_model_at_end), kept across a cancel and resume.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { splitValidation } from '../../../src/engine/data/validationSplit';
import { SafetensorsFile } from '../../../src/engine/models/safetensors';
import { runTune, TaskCancelled, TaskError } from '../../../src/engine/tasks';
import { loadTune, stubContext, tempDir, writeTuneConfig, type StubContext } from './helpers';

function tensors(dir: string): Map<string, number[]> {
  const st = SafetensorsFile.open(path.join(dir, 'adapter_model.safetensors'));
  try {
    return new Map([...st.tensors.keys()].map((k) => [k, Array.from(st.readFloat32(k))]));
  } finally {
    st.close();
  }
}

function valLosses(ctx: StubContext): Map<number, number> {
  const out = new Map<number, number>();
  for (const r of ctx.metrics) if (r.type === 'eval' && typeof r.step === 'number' && typeof r.valLoss === 'number' && r.step >= 0) out.set(r.step, r.valLoss);
  return out;
}

describe('tune: validation slice and best checkpoint', function () {
  this.timeout(120_000);

  it('splitValidation draws a seeded, disjoint slice and keeps the file order', () => {
    const items = Array.from({ length: 20 }, (_, i) => i);
    const a = splitValidation(items, 5, 7);
    assert.equal(a.validation.length, 5);
    assert.equal(a.train.length, 15);
    assert.deepEqual([...a.train, ...a.validation].sort((x, y) => x - y), items);
    assert.deepEqual(a.validation, [...a.validation].sort((x, y) => x - y));
    assert.deepEqual(splitValidation(items, 5, 7), a);
    assert.notDeepEqual(splitValidation(items, 5, 8).validation, a.validation);
    assert.notDeepEqual(a.validation, [0, 1, 2, 3, 4]);
    assert.deepEqual(splitValidation(items, 0, 7).train, items);
    assert.throws(() => splitValidation(items, 20, 7), /leaves no training examples/);
  });

  // Random token sequences: what the adapters learn from the training examples is memorisation, which makes the
  // held-out examples' loss climb, so the best validation loss is not the last step's.
  const overshoot = { steps: 24, lr: 0.05, warmupSteps: 0, decay: 'constant', evalEvery: 4, valExamples: 8, checkpointEvery: 4 };
  function config(dir: string, train: Record<string, unknown> = overshoot): ReturnType<typeof loadTune> {
    const file = writeTuneConfig(dir, { train });
    let state = 12345;
    const random = (): number => {
      state = (Math.imul(state, 1103515245) + 12345) >>> 0;
      return state >>> 8;
    };
    const lines = Array.from({ length: 32 }, () => JSON.stringify({ input_ids: Array.from({ length: 12 }, () => random() % 64) }));
    fs.writeFileSync(path.join(dir, 'train.jsonl'), `${lines.join('\n')}\n`);
    return loadTune(file);
  }

  it('writes the adapter of the lowest validation loss and says which step', async () => {
    const dir = tempDir('best');
    const ctx = stubContext(path.join(dir, 'run'));
    const summary = await runTune(config(dir), ctx);
    const losses = valLosses(ctx);
    assert.deepEqual([...losses.keys()], [3, 7, 11, 15, 19, 23]);
    const [bestStep, bestLoss] = [...losses.entries()].reduce((a, b) => (b[1] < a[1] ? b : a));
    assert.equal(summary.metrics?.bestStep, bestStep);
    assert.equal(summary.metrics?.bestValLoss, bestLoss);
    assert.notEqual(bestStep, 23, `this setting should overshoot: ${JSON.stringify([...losses])}`);
    assert.ok(ctx.logs.some((l) => l.includes(`the adapter written is step ${bestStep}'s`)));
    // 24 training examples: 32 in the file, 8 held out.
    assert.ok(ctx.logs.some((l) => l.includes('24 training examples (+ 8 held out for validation)')), ctx.logs.join('\n'));
    const written = tensors(path.join(ctx.runDir, 'adapter'));
    assert.deepEqual(written, tensors(path.join(ctx.runDir, 'best-adapter')));
    const best: unknown = JSON.parse(fs.readFileSync(path.join(ctx.runDir, 'best-adapter', 'best.json'), 'utf8'));
    assert.deepEqual(best, { step: bestStep, valLoss: bestLoss });
    // keepBest false on the same run writes the last step's adapter instead.
    const lastDir = tempDir('last');
    const lastCtx = stubContext(path.join(lastDir, 'run'));
    const lastSummary = await runTune(config(lastDir, { ...overshoot, keepBest: false }), lastCtx);
    assert.deepEqual(valLosses(lastCtx), losses);
    assert.equal(lastSummary.metrics?.bestStep, undefined);
    assert.notDeepEqual(tensors(path.join(lastCtx.runDir, 'adapter')), written);
    assert.ok(!fs.existsSync(path.join(lastCtx.runDir, 'best-adapter')));
  });

  it('a cancelled and resumed run keeps the best found before the cancel', async () => {
    const whole = tempDir('best-whole');
    const wholeCtx = stubContext(path.join(whole, 'run'));
    const wholeSummary = await runTune(config(whole), wholeCtx);
    const dir = tempDir('best-resume');
    const ctx = stubContext(path.join(dir, 'run'));
    ctx.cancelAfterSteps = 14;
    await assert.rejects(runTune(config(dir), ctx), TaskCancelled);
    const resumed = stubContext(ctx.runDir);
    const summary = await runTune(config(dir), resumed);
    assert.equal(summary.metrics?.bestStep, wholeSummary.metrics?.bestStep);
    assert.equal(summary.metrics?.bestValLoss, wholeSummary.metrics?.bestValLoss);
    assert.deepEqual(tensors(path.join(ctx.runDir, 'adapter')), tensors(path.join(wholeCtx.runDir, 'adapter')));
  });

  it('valExamples that leave nothing to train on is a config error at $.train.valExamples', async () => {
    const dir = tempDir('best-bad');
    await assert.rejects(runTune(loadTune(writeTuneConfig(dir, { train: { valExamples: 32 } })), stubContext(path.join(dir, 'run'))),
      (e: unknown) => e instanceof TaskError && e.where === '$.train.valExamples' && /leaves no training examples/.test(e.message));
  });
});
