// Tune configs with peft.method bottleneck over the demo's learnable cycle data (32 training, 8 eval examples).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeCycleTokens } from '../../../src/engine/models/tinyRandomGpt2';
import { tinyModel } from '../tune/helpers';

/**
 * A bottleneck tune config (size 8 on c_attn, c_proj, c_fc) over `model` (default the demo's 2-layer GPT-2,
 * n_embd 32); `top` is merged at the top level (layerSelection, ist).
 */
export function writeBottleneckConfig(
  dir: string, peft: Record<string, unknown>, train: Record<string, unknown> = {}, model = tinyModel(), top: Record<string, unknown> = {},
): string {
  writeCycleTokens(path.join(dir, 'train.jsonl'), { count: 32, length: 12, seed: 1 });
  writeCycleTokens(path.join(dir, 'eval.jsonl'), { count: 8, length: 12, seed: 2 });
  const config = {
    name: 'bottleneck', task: 'tune', model,
    data: { train: 'train.jsonl', eval: 'eval.jsonl', format: 'tokens', maxLength: 12 },
    peft: { method: 'bottleneck', bottleneckSize: 8, dropout: 0.05, targets: ['c_attn', 'c_proj', 'c_fc'], ...peft },
    train: { steps: 30, batchSize: 8, lr: 0.02, warmupSteps: 2, seed: 3, evalEvery: 0, checkpointEvery: 10, ...train },
    runtime: { device: 'cpu', threads: 1 },
    ...top,
  };
  const file = path.join(dir, 'bottleneck.peft.json');
  fs.writeFileSync(file, JSON.stringify(config, null, 2));
  return file;
}
