// The `lora-train` check a new user tried: LoRA r 8 on q,v, 32 LLM-Adapters examples, lr 0.01, batch 8, AdamW,
// 5 warmup steps, 60 steps. On the tiny random LLaMA fixture the loss moves only from 10.38 to about 10.29, and that
// is the fixture, not the harness: its lm_head rows are tiny (norm <= 0.145) and the final RMSNorm (weight 1) fixes
// |h| = sqrt(16), so no adapter below the norm can move a logit difference by more than
// 2 * max|lm_head row| * sqrt(d) ~ 1.15 nats, which bounds the loss below by log(1 + (V - 1) exp(-1.15)) ~ 9.22,
// above 0.7x the first step's. The same recipe on the built-in lab model, which has learned logits, drops the loss
// far below 0.7x within the 60 steps.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ensureLabData } from '../../../src/engine/lab/labExperiments';
import { SafetensorsFile } from '../../../src/engine/models/safetensors';
import { runTune } from '../../../src/engine/tasks';
import { COMMONSENSE_DIR, LLAMA_DIR } from '../peft/fixtures';
import { loadTune, stepLosses, stubContext, tempDir } from './helpers';

function recipe(dir: string, model: string, train: string, maxLength: number): string {
  const file = path.join(dir, 'lora-train.peft.json');
  fs.writeFileSync(file, JSON.stringify({
    name: 'lora-train', task: 'tune', model,
    data: { train, format: 'llm-adapters', maxLength, limit: { train: 32, eval: 0 } },
    peft: { method: 'lora', r: 8, alpha: 16, dropout: 0.05, targets: ['q_proj', 'v_proj'] },
    train: { steps: 60, batchSize: 8, optimizer: 'adamw', lr: 0.01, warmupSteps: 5, seed: 0, checkpointEvery: 0 },
    runtime: { device: 'cpu', threads: 1 },
  }));
  return file;
}

/** Lower bound of the next-token loss of any model whose logits are W u with |u| <= uNorm (a row-norm bound). */
function logitCapLossFloor(modelDir: string): number {
  const st = SafetensorsFile.open(path.join(modelDir, 'model.safetensors'));
  try {
    const [V = 0, d = 0] = st.info('lm_head.weight').shape;
    const w = st.readFloat32('lm_head.weight');
    const g = st.readFloat32('model.norm.weight');
    let maxRow = 0;
    for (let t = 0; t < V; t++) {
      let s = 0;
      for (let j = 0; j < d; j++) s += (w[t * d + j] ?? 0) ** 2;
      maxRow = Math.max(maxRow, Math.sqrt(s));
    }
    // RMSNorm output: unit RMS per coordinate, times the norm weight.
    const uNorm = Math.sqrt(d) * Math.max(...Array.from(g, Math.abs));
    const maxLogitGap = 2 * maxRow * uNorm;
    return Math.log(1 + (V - 1) * Math.exp(-maxLogitGap));
  } finally {
    st.close();
  }
}

describe('tune: the lora-train check (LoRA r 8 on q,v, 60 steps)', function () {
  this.timeout(120_000);

  it('on the tiny random LLaMA the loss falls but stays above the floor its lm_head and final norm impose', async () => {
    const floor = logitCapLossFloor(LLAMA_DIR);
    const dir = tempDir('lora-train');
    const ctx = stubContext(path.join(dir, 'run'));
    await runTune(loadTune(recipe(dir, LLAMA_DIR, path.join(COMMONSENSE_DIR, 'boolq/train.json'), 256)), ctx);
    const losses = stepLosses(ctx.metrics);
    const first = losses[0] ?? NaN;
    const last = losses[losses.length - 1] ?? NaN;
    assert.equal(losses.length, 60);
    assert.ok(last < first - 0.03, `the adapters learn something: ${first} -> ${last}`);
    assert.ok(losses.every((l) => l > floor), `every loss is above the floor ${floor}`);
    // Why the 0.7x target cannot be met on this fixture by any adapter below the final norm.
    assert.ok(floor > 0.7 * first, `floor ${floor} vs 0.7 x ${first}`);
  });

  it('the same recipe on the built-in lab model takes the loss below 0.7x the first step within 60 steps', async () => {
    const dir = tempDir('lora-train-lab');
    const data = ensureLabData(dir);
    const ctx = stubContext(path.join(dir, 'run'));
    await runTune(loadTune(recipe(dir, 'builtin:demo', path.join(data, 'city-choice', 'train.json'), 128)), ctx);
    const losses = stepLosses(ctx.metrics);
    const first = losses[0] ?? NaN;
    assert.ok(losses.slice(-5).every((l) => l < 0.7 * first), `${first} -> ${losses.slice(-5).join(', ')}`);
  });
});
