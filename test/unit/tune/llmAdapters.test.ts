// An LLM-Adapters tune on the tiny LLaMA fixture (text through its tokenizer): trains on ARC-Easy examples with
// the loss on the response only (trainOnInputs false), evaluates perplexity, multiple-choice accuracy by log-likelihood and by generation,
// and writes PEFT key names.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { SafetensorsFile } from '../../../src/engine/models/safetensors';
import { runTune } from '../../../src/engine/tasks';
import { COMMONSENSE_DIR, LLAMA_DIR } from '../peft/fixtures';
import { loadTune, stepLosses, stubContext, tempDir } from './helpers';

describe('tune: LLM-Adapters data on the tiny LLaMA', function () {
  this.timeout(120_000);
  it('trains, reports eval loss and choice accuracy, and saves q_proj/v_proj adapters under PEFT names', async () => {
    const dir = tempDir('llama');
    const file = path.join(dir, 'arc.peft.json');
    fs.writeFileSync(file, JSON.stringify({
      name: 'arc', task: 'tune', model: LLAMA_DIR,
      data: { train: path.join(COMMONSENSE_DIR, 'ARC-Easy/train.json'), eval: path.join(COMMONSENSE_DIR, 'ARC-Easy/test.json'), format: 'llm-adapters', maxLength: 160, trainOnInputs: false, limit: { train: 8, eval: 4 } },
      peft: { r: 4, alpha: 8, dropout: 0, targets: ['q_proj', 'v_proj'] },
      train: { steps: 4, batchSize: 4, gradAccum: 2, lr: 0.01, warmupSteps: 0, seed: 0, evalEvery: 0, evalBatchSize: 4, evalGenerationTokens: 4 },
      runtime: { device: 'cpu', threads: 1 },
    }));
    const ctx = stubContext(path.join(dir, 'run'));
    const summary = await runTune(loadTune(file), ctx);
    const losses = stepLosses(ctx.metrics);
    assert.equal(losses.length, 4);
    assert.ok(losses.every(Number.isFinite));
    const m = summary.metrics ?? {};
    assert.equal(m.evalTotal, 4);
    assert.ok(typeof m.evalAccuracy === 'number' && m.evalAccuracy >= 0 && m.evalAccuracy <= 1);
    assert.ok(typeof m.evalLoss === 'number' && Number.isFinite(m.evalLoss));
    // Generation-based accuracy (evalGenerationTokens > 0): a count of the 4 items, and the matching fraction.
    assert.ok(typeof m.evalGenerationCorrect === 'number' && Number.isInteger(m.evalGenerationCorrect) && m.evalGenerationCorrect >= 0 && m.evalGenerationCorrect <= 4);
    assert.equal(m.evalGenerationAccuracy, m.evalGenerationCorrect / 4);
    // Loss on the response only: "the correct answer is answerN" + EOS, a handful of tokens per example.
    const evalRecord = ctx.metrics.find((r) => r.type === 'eval');
    assert.ok(typeof evalRecord?.evalTokens === 'number' && evalRecord.evalTokens > 4 * 5 && evalRecord.evalTokens < 4 * 15, String(evalRecord?.evalTokens));
    const st = SafetensorsFile.open(path.join(ctx.runDir, 'adapter', 'adapter_model.safetensors'));
    try {
      assert.deepEqual(st.info('base_model.model.model.layers.1.self_attn.q_proj.lora_A.weight').shape, [4, 16]);
      assert.deepEqual(st.info('base_model.model.model.layers.1.self_attn.v_proj.lora_B.weight').shape, [16, 4]);
      assert.equal(st.tensors.size, 2 * 2 * 2);
    } finally {
      st.close();
    }
    const cfg: unknown = JSON.parse(fs.readFileSync(path.join(ctx.runDir, 'adapter', 'adapter_config.json'), 'utf8'));
    assert.ok(typeof cfg === 'object' && cfg !== null && 'fan_in_fan_out' in cfg && cfg.fan_in_fan_out === false);
  });
});
