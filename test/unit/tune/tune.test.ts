// The tune task end to end, in-process: loss goes down, the adapter (Hugging Face PEFT names and shapes)
// reloads with the same evaluation, a seed repeats bit-for-bit, cancel leaves a checkpoint that resumes the same
// loss curve, a NaN loss stops with the step named, and an adapter written elsewhere in PEFT format loads.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { UsageError } from '../../../src/cli/command';
import { command as evalCommand } from '../../../src/cli/commands/eval';
import { command as runCommand } from '../../../src/cli/commands/run';
import { SafetensorsFile } from '../../../src/engine/models/safetensors';
import { LoraAdapter } from '../../../src/engine/peft/lora';
import { writeSafetensors } from '../../../src/engine/models/safetensorsWriter';
import { evaluateSetup, runTune, setupTune, TaskCancelled, TaskError } from '../../../src/engine/tasks';
import { findCheckpoint } from '../../../src/engine/train/checkpoint';
import { loadTune, stepLosses, stubContext, tempDir, writeTuneConfig } from './helpers';

describe('tune: LoRA training runs', function () {
  this.timeout(60_000);
  let dir: string;
  let firstRun: { losses: number[]; metrics: Record<string, unknown>; runDir: string; configPath: string };

  before(async () => {
    dir = tempDir('tune');
    const configPath = writeTuneConfig(dir);
    const ctx = stubContext(path.join(dir, 'run-a'));
    const summary = await runTune(loadTune(configPath), ctx);
    firstRun = { losses: stepLosses(ctx.metrics), metrics: summary.metrics ?? {}, runDir: ctx.runDir, configPath };
  });

  it('drives the training loss on 32 examples well down (final < 0.5 x initial)', () => {
    const { losses } = firstRun;
    assert.equal(losses.length, 30);
    const first = losses[0] ?? NaN;
    const last = losses[losses.length - 1] ?? NaN;
    assert.ok(last < 0.5 * first, `loss ${first} -> ${last}`);
    assert.equal(firstRun.metrics.finalLoss, last);
  });

  it('writes the adapter with PEFT key names and shapes, and a PEFT adapter_config.json', () => {
    const adapterDir = path.join(firstRun.runDir, 'adapter');
    const cfg: unknown = JSON.parse(fs.readFileSync(path.join(adapterDir, 'adapter_config.json'), 'utf8'));
    assert.ok(typeof cfg === 'object' && cfg !== null);
    assert.deepEqual(
      { ...Object.fromEntries(Object.entries(cfg).filter(([k]) => ['peft_type', 'task_type', 'r', 'lora_alpha', 'lora_dropout', 'fan_in_fan_out', 'target_modules'].includes(k))) },
      { peft_type: 'LORA', task_type: 'CAUSAL_LM', r: 4, lora_alpha: 8, lora_dropout: 0.05, fan_in_fan_out: true, target_modules: ['c_attn', 'c_proj', 'c_fc'] },
    );
    assert.ok('base_model_name_or_path' in cfg);
    const file = SafetensorsFile.open(path.join(adapterDir, 'adapter_model.safetensors'));
    try {
      const shapes = Object.fromEntries([...file.tensors.values()].map((t) => [t.name, t.shape]));
      // demo model: n_embd 32, 2 layers; Conv1D c_attn 32 -> 96, attn.c_proj 32 -> 32, c_fc 32 -> 128, mlp.c_proj 128 -> 32.
      assert.deepEqual(shapes['base_model.model.transformer.h.0.attn.c_attn.lora_A.weight'], [4, 32]);
      assert.deepEqual(shapes['base_model.model.transformer.h.0.attn.c_attn.lora_B.weight'], [96, 4]);
      assert.deepEqual(shapes['base_model.model.transformer.h.1.mlp.c_fc.lora_B.weight'], [128, 4]);
      assert.deepEqual(shapes['base_model.model.transformer.h.1.mlp.c_proj.lora_A.weight'], [4, 128]);
      assert.equal(Object.keys(shapes).length, 2 * 4 * 2);
      for (const name of Object.keys(shapes)) assert.match(name, /^base_model\.model\.transformer\.h\.\d\.(attn|mlp)\.c_(attn|proj|fc)\.lora_[AB]\.weight$/);
    } finally {
      file.close();
    }
  });

  it('the saved adapter reloads (peft.init) and gives the same evaluation numbers', async () => {
    const config = loadTune(writeTuneConfig(tempDir('reload'), { peft: { init: path.join(firstRun.runDir, 'adapter') } }));
    const setup = await setupTune(config, { log: () => undefined });
    try {
      const metrics = await evaluateSetup(setup, config);
      assert.equal(metrics.evalLoss, firstRun.metrics.evalLoss);
      assert.equal(metrics.evalPerplexity, firstRun.metrics.evalPerplexity);
    } finally {
      await setup.dispose();
    }
  });

  it('peft-lab eval <config> --adapter DIR prints the same numbers; --resume without a checkpoint is a usage error', async () => {
    const out: string[] = [];
    const err: string[] = [];
    const io = { out: (l: string) => void out.push(l), err: (l: string) => void err.push(l) };
    const code = await evalCommand.run([firstRun.configPath, '--adapter', path.join(firstRun.runDir, 'adapter'), '--json'], io);
    assert.equal(code, 0, err.join('\n'));
    const printed: unknown = JSON.parse(out[0] ?? '');
    assert.ok(typeof printed === 'object' && printed !== null && 'evalLoss' in printed);
    assert.equal(printed.evalLoss, firstRun.metrics.evalLoss);
    await assert.rejects(runCommand.run([firstRun.configPath, '--resume', tempDir('empty')], io), (e: unknown) => e instanceof UsageError && /no checkpoint there/.test(e.message));
  });

  it('repeats bit-for-bit with the same seed, and differs with another seed', async () => {
    const again = stubContext(path.join(dir, 'run-b'));
    await runTune(loadTune(writeTuneConfig(tempDir('repeat'))), again);
    assert.deepEqual(stepLosses(again.metrics), firstRun.losses);
    const a = fs.readFileSync(path.join(firstRun.runDir, 'adapter', 'adapter_model.safetensors'));
    const b = fs.readFileSync(path.join(again.runDir, 'adapter', 'adapter_model.safetensors'));
    assert.ok(a.equals(b), 'adapter bytes differ');
    const other = stubContext(path.join(dir, 'run-c'));
    await runTune(loadTune(writeTuneConfig(tempDir('seed'), { train: { seed: 4, steps: 3 } })), other);
    assert.notDeepEqual(stepLosses(other.metrics), firstRun.losses.slice(0, 3));
  });

  it('cancel leaves a checkpoint; resume continues the same loss curve', async () => {
    const configDir = tempDir('resume');
    const config = loadTune(writeTuneConfig(configDir));
    const ctx = stubContext(path.join(dir, 'run-resume'));
    ctx.cancelAfterSteps = 13;
    await assert.rejects(runTune(config, ctx), TaskCancelled);
    const checkpoint = findCheckpoint(ctx.runDir);
    assert.equal(checkpoint?.state.step, 13);
    assert.ok(fs.existsSync(path.join(checkpoint.dir, 'adapter_model.safetensors')));
    assert.ok(fs.existsSync(path.join(checkpoint.dir, 'optimizer.safetensors')));
    const resumed = stubContext(ctx.runDir);
    const summary = await runTune(config, resumed);
    assert.equal(summary.metrics?.resumedFromStep, 13);
    const lines = fs.readFileSync(path.join(ctx.runDir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l): unknown => JSON.parse(l));
    const losses = lines.flatMap((r) => (typeof r === 'object' && r !== null && 'type' in r && r.type === 'step' && 'loss' in r && typeof r.loss === 'number' ? [r.loss] : []));
    assert.deepEqual(losses, firstRun.losses);
  });

  it('a NaN loss stops the run naming the step and keeps the last good checkpoint', async () => {
    // SGD with an absurd learning rate overflows the activations after the first update.
    const config = loadTune(writeTuneConfig(tempDir('nan'), { train: { optimizer: 'sgd', lr: 1e30, warmupSteps: 0, maxGradNorm: 0, steps: 5 } }));
    const ctx = stubContext(path.join(dir, 'run-nan'));
    await assert.rejects(runTune(config, ctx), (e: unknown) => e instanceof TaskError && /training loss is (NaN|Infinity|-Infinity) at step \d/.test(e.message) && /train step \d/.test(e.where ?? ''));
    const steps = stepLosses(ctx.metrics);
    assert.ok(steps.every(Number.isFinite));
    assert.equal(findCheckpoint(ctx.runDir)?.state.step, steps.length);
  });

  it('loads an adapter written elsewhere in PEFT format (keys, shapes), and rejects a wrong shape by name', async () => {
    const adapterDir = tempDir('external');
    const r = 4;
    const tensors = [];
    const dims: Record<string, [number, number]> = { 'attn.c_attn': [32, 96], 'attn.c_proj': [32, 32], 'mlp.c_fc': [32, 128], 'mlp.c_proj': [128, 32] };
    for (const layer of [0, 1]) {
      for (const [mod, [inF, outF]] of Object.entries(dims)) {
        tensors.push({ name: `base_model.model.transformer.h.${layer}.${mod}.lora_A.weight`, dtype: 'F32' as const, shape: [r, inF], data: Array.from({ length: r * inF }, (_, i) => Math.sin(i) * 0.1) });
        tensors.push({ name: `base_model.model.transformer.h.${layer}.${mod}.lora_B.weight`, dtype: 'F32' as const, shape: [outF, r], data: Array.from({ length: outF * r }, (_, i) => Math.cos(i) * 0.1) });
      }
    }
    writeSafetensors(path.join(adapterDir, 'adapter_model.safetensors'), tensors, { format: 'pt' });
    fs.writeFileSync(path.join(adapterDir, 'adapter_config.json'), JSON.stringify({ peft_type: 'LORA', task_type: 'CAUSAL_LM', r, lora_alpha: 8, lora_dropout: 0, target_modules: ['c_attn', 'c_proj', 'c_fc'], fan_in_fan_out: true }));
    const config = loadTune(writeTuneConfig(tempDir('ext'), { peft: { init: adapterDir } }));
    const setup = await setupTune(config, { log: () => undefined });
    try {
      assert.ok(setup.adapter instanceof LoraAdapter);
      const m = setup.adapter.modules.get('transformer.h.1.mlp.c_proj');
      assert.ok(m !== undefined);
      assert.ok(Math.abs((m.a[1] ?? 0) - Math.sin(1) * 0.1) < 1e-7);
      assert.ok(Math.abs((m.b[2] ?? 0) - Math.cos(2) * 0.1) < 1e-7);
      const metrics = await evaluateSetup(setup, config);
      assert.ok(Number.isFinite(metrics.evalLoss));
    } finally {
      await setup.dispose();
    }
    const bad = tensors.map((t) => (t.name.endsWith('h.0.attn.c_attn.lora_B.weight') ? { ...t, shape: [48, r], data: t.data.slice(0, 48 * r) } : t));
    writeSafetensors(path.join(adapterDir, 'adapter_model.safetensors'), bad, { format: 'pt' });
    await assert.rejects(setupTune(config, { log: () => undefined }), /transformer\.h\.0\.attn\.c_attn' is \[48 x 32\], the model's projection is \[96 x 32\]/);
  });
});
