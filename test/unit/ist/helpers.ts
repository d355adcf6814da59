// A 4-layer variant of the demo model (the demo has 2 layers, too few to see sparse selection), written with the
// demo's recipe, and tune configs over the demo's learnable cycle data.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { TINY_GPT2_CONFIG, writeCycleTokens } from '../../../src/engine/models/tinyRandomGpt2';
import { parseModelConfig } from '../../../src/engine/models/config';
import { writeSafetensors } from '../../../src/engine/models/safetensorsWriter';
import { expectedWeights } from '../../../src/engine/models/weights';
import { Rng } from '../../../src/engine/util/random';
import { tempDir } from '../tune/helpers';

export const LAYERS = 4;

let modelDir: string | undefined;
/** Demo-like GPT-2 with LAYERS layers: wte ~ N(0, 0.3^2), wpe ~ N(0, 0.1^2), other matrices ~ N(0, 0.02^2). */
export function fourLayerModel(): string {
  if (modelDir !== undefined) return modelDir;
  const dir = path.join(tempDir('ist-model'), 'model');
  fs.mkdirSync(dir, { recursive: true });
  const raw = { ...TINY_GPT2_CONFIG, n_layer: LAYERS };
  const rng = new Rng(7);
  const tensors = expectedWeights(parseModelConfig(raw)).map((spec) => {
    const n = spec.shape.reduce((a, d) => a * d, 1);
    const isLnWeight = /ln_\d|ln_f/.test(spec.name) && spec.name.endsWith('.weight');
    const std = spec.name === 'transformer.wte.weight' ? 0.3 : spec.name === 'transformer.wpe.weight' ? 0.1 : 0.02;
    const data = Float32Array.from({ length: n }, () => (isLnWeight ? 1 : spec.name.endsWith('.bias') ? 0 : rng.normal() * std));
    return { name: spec.name, dtype: 'F32' as const, shape: spec.shape, data };
  });
  writeSafetensors(path.join(dir, 'model.safetensors'), tensors, { format: 'pt' });
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(raw));
  modelDir = dir;
  return dir;
}

/** A tune config on the 4-layer model; `extra` is merged at the top level (layerSelection, ist). */
export function writeIstConfig(dir: string, extra: Record<string, unknown>, train: Record<string, unknown> = {}): string {
  writeCycleTokens(path.join(dir, 'train.jsonl'), { count: 32, length: 12, seed: 1 });
  writeCycleTokens(path.join(dir, 'eval.jsonl'), { count: 8, length: 12, seed: 2 });
  const config = {
    name: 'ist', task: 'tune', model: fourLayerModel(),
    data: { train: 'train.jsonl', eval: 'eval.jsonl', format: 'tokens', maxLength: 12 },
    peft: { r: 4, alpha: 8, dropout: 0.05, targets: ['c_attn', 'c_proj', 'c_fc'] },
    train: { steps: 12, batchSize: 8, lr: 0.02, warmupSteps: 2, seed: 3, evalEvery: 0, checkpointEvery: 0, ...train },
    runtime: { device: 'cpu', threads: 1 },
    ...extra,
  };
  const file = path.join(dir, 'ist.peft.json');
  fs.writeFileSync(file, JSON.stringify(config, null, 2));
  return file;
}
