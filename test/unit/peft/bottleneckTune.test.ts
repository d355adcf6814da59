// The tune task with peft.method bottleneck (series and parallel), end to end in-process on the demo's tiny GPT-2
// and its learnable cycle data: the loss goes well down, the adapter folder has LLM-Adapters' config fields and
// key names and shapes, it reloads through peft.init with the same evaluation numbers, a seed repeats bit for bit,
// and adapters of the other method or another bottleneck setting are refused by name.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { SafetensorsFile } from '../../../src/engine/models/safetensors';
import { writeSafetensors } from '../../../src/engine/models/safetensorsWriter';
import { BottleneckAdapter } from '../../../src/engine/peft/bottleneck';
import { evaluateSetup, runTune, setupTune } from '../../../src/engine/tasks';
import { loadTune, stepLosses, stubContext, tempDir, writeTuneConfig } from '../tune/helpers';
import { writeBottleneckConfig } from './bottleneckHelpers';

for (const placement of ['series', 'parallel'] as const) {
  describe(`tune: ${placement} bottleneck adapter training runs`, function () {
    this.timeout(120_000);
    let dir: string;
    let first: { losses: number[]; metrics: Record<string, unknown>; runDir: string };

    before(async () => {
      dir = tempDir(`bottleneck-${placement}`);
      const ctx = stubContext(path.join(dir, 'run-a'));
      const summary = await runTune(loadTune(writeBottleneckConfig(dir, { placement })), ctx);
      first = { losses: stepLosses(ctx.metrics), metrics: summary.metrics ?? {}, runDir: ctx.runDir };
    });

    it('drives the training loss on 32 examples well down (final < 0.5 x initial); summary has the usual fields', () => {
      const { losses, metrics } = first;
      assert.equal(losses.length, 30);
      const a = losses[0] ?? NaN;
      const b = losses[losses.length - 1] ?? NaN;
      console.log(`      ${placement}: loss ${a.toFixed(4)} -> ${b.toFixed(4)}, eval loss ${String(metrics.evalLoss)}`);
      assert.ok(b < 0.5 * a, `loss ${a} -> ${b}`);
      assert.equal(metrics.finalLoss, b);
      assert.equal(metrics.firstLoss, a);
      // demo model: 2 layers; c_attn 32 -> 96, attn.c_proj 32 -> 32, c_fc 32 -> 128, mlp.c_proj 128 -> 32; size 8.
      const d = placement === 'series' ? { c_attn: 96, attn_proj: 32, c_fc: 128, mlp_proj: 32 } : { c_attn: 32, attn_proj: 32, c_fc: 32, mlp_proj: 128 };
      const out = { c_attn: 96, attn_proj: 32, c_fc: 128, mlp_proj: 32 };
      const perLayer = (Object.keys(d) as (keyof typeof d)[]).reduce((n, k) => n + 8 * d[k] + 8 + out[k] * 8 + out[k], 0);
      assert.equal(metrics.trainableParams, 2 * perLayer);
      assert.equal(typeof metrics.optimizerStateBytes, 'number');
      assert.equal(typeof metrics.evalPerplexity, 'number');
    });

    it('writes adapter_config.json (peft_type BOTTLENECK) and adapter_model.safetensors with the documented names and shapes', () => {
      const adapterDir = path.join(first.runDir, 'adapter');
      const cfg = JSON.parse(fs.readFileSync(path.join(adapterDir, 'adapter_config.json'), 'utf8')) as Record<string, unknown>;
      assert.deepEqual(
        Object.fromEntries(['peft_type', 'task_type', 'bottleneck_size', 'non_linearity', 'use_parallel_adapter', 'scaling', 'target_modules', 'adapter_dropout'].map((k) => [k, cfg[k]])),
        { peft_type: 'BOTTLENECK', task_type: 'CAUSAL_LM', bottleneck_size: 8, non_linearity: 'tanh', use_parallel_adapter: placement === 'parallel', scaling: 1, target_modules: ['c_attn', 'c_proj', 'c_fc'], adapter_dropout: 0.05 },
      );
      const file = SafetensorsFile.open(path.join(adapterDir, 'adapter_model.safetensors'));
      try {
        const shapes = Object.fromEntries([...file.tensors.values()].map((t) => [t.name, t.shape]));
        const p = 'base_model.model.transformer.h';
        assert.deepEqual(shapes[`${p}.0.mlp.c_fc.adapter_down.weight`], [8, placement === 'series' ? 128 : 32]);
        assert.deepEqual(shapes[`${p}.0.mlp.c_fc.adapter_down.bias`], [8]);
        assert.deepEqual(shapes[`${p}.1.mlp.c_fc.adapter_up.weight`], [128, 8]);
        assert.deepEqual(shapes[`${p}.1.mlp.c_fc.adapter_up.bias`], [128]);
        assert.deepEqual(shapes[`${p}.1.mlp.c_proj.adapter_down.weight`], [8, placement === 'series' ? 32 : 128]);
        assert.deepEqual(shapes[`${p}.1.attn.c_attn.adapter_up.weight`], [96, 8]);
        assert.equal(Object.keys(shapes).length, 2 * 4 * 4);
        for (const name of Object.keys(shapes)) assert.match(name, /^base_model\.model\.transformer\.h\.\d\.(attn|mlp)\.c_(attn|proj|fc)\.adapter_(down|up)\.(weight|bias)$/);
        // Training moved W_up away from its zero start.
        assert.ok(file.readFloat32(`${p}.0.mlp.c_fc.adapter_up.weight`).some((v) => v !== 0));
      } finally {
        file.close();
      }
    });

    it('the saved adapter reloads (peft.init) and gives the same evaluation numbers', async () => {
      const config = loadTune(writeBottleneckConfig(tempDir('bn-reload'), { placement, init: path.join(first.runDir, 'adapter') }));
      const setup = await setupTune(config, { log: () => undefined });
      try {
        const metrics = await evaluateSetup(setup, config);
        assert.equal(metrics.evalLoss, first.metrics.evalLoss);
        assert.equal(metrics.evalPerplexity, first.metrics.evalPerplexity);
      } finally {
        await setup.dispose();
      }
    });

    it('repeats bit-for-bit with the same seed', async () => {
      const again = stubContext(path.join(dir, 'run-b'));
      await runTune(loadTune(writeBottleneckConfig(tempDir('bn-repeat'), { placement })), again);
      assert.deepEqual(stepLosses(again.metrics), first.losses);
      const a = fs.readFileSync(path.join(first.runDir, 'adapter', 'adapter_model.safetensors'));
      const b = fs.readFileSync(path.join(again.runDir, 'adapter', 'adapter_model.safetensors'));
      assert.ok(a.equals(b), 'adapter bytes differ');
    });
  });
}

describe('tune: bottleneck adapter folders that do not fit', function () {
  this.timeout(60_000);

  it('loads an LLM-Adapters-style folder without biases (zero biases); refuses another placement, a LoRA folder and a wrong shape by name', async () => {
    const adapterDir = tempDir('bn-external');
    const size = 4;
    const dims: Record<string, [number, number]> = { 'attn.c_proj': [32, 32], 'mlp.c_proj': [128, 32] };
    const tensors = [];
    for (const layer of [0, 1]) {
      for (const [mod, [inF, outF]] of Object.entries(dims)) {
        tensors.push({ name: `base_model.model.transformer.h.${layer}.${mod}.adapter_down.weight`, dtype: 'F32' as const, shape: [size, inF], data: Array.from({ length: size * inF }, (_, i) => Math.sin(i) * 0.1) });
        tensors.push({ name: `base_model.model.transformer.h.${layer}.${mod}.adapter_up.weight`, dtype: 'F32' as const, shape: [outF, size], data: Array.from({ length: outF * size }, (_, i) => Math.cos(i) * 0.1) });
      }
    }
    writeSafetensors(path.join(adapterDir, 'adapter_model.safetensors'), tensors, { format: 'pt' });
    const adapterConfig = { peft_type: 'BOTTLENECK', bottleneck_size: size, non_linearity: 'tanh', use_parallel_adapter: true, scaling: 1, target_modules: ['c_proj'] };
    fs.writeFileSync(path.join(adapterDir, 'adapter_config.json'), JSON.stringify(adapterConfig));
    const peft = { placement: 'parallel', bottleneckSize: size, targets: ['c_proj'], init: adapterDir };
    const config = loadTune(writeBottleneckConfig(tempDir('bn-ext'), peft));
    const setup = await setupTune(config, { log: () => undefined });
    try {
      assert.ok(setup.adapter instanceof BottleneckAdapter);
      const m = setup.adapter.modules.get('transformer.h.1.mlp.c_proj');
      assert.ok(m !== undefined);
      assert.ok(Math.abs((m.down[1] ?? 0) - Math.sin(1) * 0.1) < 1e-7);
      assert.ok(Math.abs((m.up[2] ?? 0) - Math.cos(2) * 0.1) < 1e-7);
      assert.ok(m.downBias.every((v) => v === 0) && m.upBias.every((v) => v === 0));
      assert.ok(Number.isFinite((await evaluateSetup(setup, config)).evalLoss));
    } finally {
      await setup.dispose();
    }
    const series = loadTune(writeBottleneckConfig(tempDir('bn-ext-series'), { ...peft, placement: 'series' }));
    await assert.rejects(setupTune(series, { log: () => undefined }), /use_parallel_adapter true \(config: peft\.placement series\)/);
    const lora = loadTune(writeTuneConfig(tempDir('bn-ext-lora'), { peft: { init: adapterDir } }));
    await assert.rejects(setupTune(lora, { log: () => undefined }), /peft_type is "BOTTLENECK", but the config's peft\.method lora needs a LORA adapter/);
    const bad = tensors.map((t) => (t.name.endsWith('h.0.mlp.c_proj.adapter_down.weight') ? { ...t, shape: [size, 32], data: t.data.slice(0, size * 32) } : t));
    writeSafetensors(path.join(adapterDir, 'adapter_model.safetensors'), bad, { format: 'pt' });
    await assert.rejects(setupTune(config, { log: () => undefined }), /transformer\.h\.0\.mlp\.c_proj' adapter reads 32 and writes 32 features, the model's projection needs 128 and 32/);
  });
});
