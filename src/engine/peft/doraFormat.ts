// DoRA adapter folders in Hugging Face PEFT's format: a LoRA folder (adapterFormat.ts; peft_type LORA, the same
// config fields) with `use_dora: true`, and beside each module's `...lora_A.weight` [r, in] / `...lora_B.weight`
// [out, r] its magnitude `base_model.model.<module path>.lora_magnitude_vector` [out]. PEFT's save_pretrained
// writes that key without a `.weight` suffix (get_peft_model_state_dict strips it, keeping the key of its earlier
// ParameterDict layout) and without the adapter name; loading also accepts the `.weight` / `.default` spellings.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { SafetensorsFile } from '../models/safetensors';
import { writeSafetensors, type TensorToWrite } from '../models/safetensorsWriter';
import { writeJsonAtomic } from '../runs/atomic';
import {
  ADAPTER_CONFIG_FILE, ADAPTER_WEIGHTS_FILE, copyLoadedModules, loraAdapterConfig, peftKey, projectionShapeMismatch, readAdapterConfig, targetModulesOf,
} from './adapterFormat';
import type { DoraAdapter } from './dora';
import { loraScaling } from './lora';

const KEY_PREFIX = 'base_model.model.';

/** The saved key of a module's magnitude vector. */
export function doraMagnitudeKey(modulePath: string): string {
  return `${KEY_PREFIX}${modulePath}.lora_magnitude_vector`;
}

/** Writes `dir/adapter_config.json` and `dir/adapter_model.safetensors` (each atomically). */
export function saveDoraAdapter(dir: string, adapter: DoraAdapter, info: { baseModel: string; modelFamily: string }): void {
  fs.mkdirSync(dir, { recursive: true });
  const { r } = adapter.spec;
  const tensors: TensorToWrite[] = adapter.ordered().flatMap((m) => [
    { name: peftKey(m.path, 'A'), dtype: 'F32' as const, shape: [r, m.inFeatures], data: m.a },
    { name: peftKey(m.path, 'B'), dtype: 'F32' as const, shape: [m.outFeatures, r], data: m.b },
    { name: doraMagnitudeKey(m.path), dtype: 'F32' as const, shape: [m.outFeatures], data: m.magnitude },
  ]);
  writeSafetensors(path.join(dir, ADAPTER_WEIGHTS_FILE), tensors, { format: 'pt' });
  writeJsonAtomic(path.join(dir, ADAPTER_CONFIG_FILE), { ...loraAdapterConfig(adapter.spec, info), use_dora: true });
}

export interface LoadedDoraWeights {
  readonly a: Float32Array;
  readonly b: Float32Array;
  readonly magnitude: Float32Array;
  readonly inFeatures: number;
  readonly outFeatures: number;
}

/** What a DoRA adapter folder holds, validated. */
export interface LoadedDoraAdapter {
  readonly dir: string;
  readonly r: number;
  readonly alpha: number;
  readonly dropout: number;
  readonly rsLora: boolean;
  readonly targetModules: readonly string[];
  readonly weights: ReadonlyMap<string, LoadedDoraWeights>;
}

/** Reads a PEFT LoRA folder with use_dora true; errors name the file and key. */
export function loadDoraAdapter(dir: string): LoadedDoraAdapter {
  const configFile = path.join(dir, ADAPTER_CONFIG_FILE);
  const weightsFile = path.join(dir, ADAPTER_WEIGHTS_FILE);
  const cfg = readAdapterConfig(configFile);
  if (cfg.peft_type !== 'LORA') throw new Error(`${configFile}: $.peft_type is ${JSON.stringify(cfg.peft_type)}, a DoRA adapter is a LORA folder with use_dora true`);
  if (cfg.use_dora !== true) throw new Error(`${configFile}: $.use_dora is ${JSON.stringify(cfg.use_dora ?? false)}: a plain LoRA adapter, not DoRA (load it with peft.method lora)`);
  const num = (key: string, fallback?: number): number => {
    const v = cfg[key] ?? fallback;
    if (typeof v !== 'number' || !Number.isFinite(v)) throw new Error(`${configFile}: $.${key} must be a number (got ${JSON.stringify(v)})`);
    return v;
  };
  const r = num('r');
  const alpha = num('lora_alpha', 8);
  const dropout = num('lora_dropout', 0);
  const rsLora = cfg.use_rslora === true;
  const targetModules = targetModulesOf(cfg, configFile);
  if (!fs.existsSync(weightsFile)) throw new Error(`${weightsFile}: missing (only the safetensors adapter format is supported)`);
  const file = SafetensorsFile.open(weightsFile);
  try {
    type Part = { data: Float32Array; shape: readonly number[] };
    const parts = new Map<string, { A?: Part; B?: Part; m?: Part }>();
    for (const name of file.tensors.keys()) {
      const lora = /^(?:base_model\.model\.)?(.+)\.lora_([AB])(?:\.default)?\.weight$/.exec(name);
      const mag = lora === null ? /^(?:base_model\.model\.)?(.+)\.lora_magnitude_vector(?:\.default)?(?:\.weight)?$/.exec(name) : null;
      const match = lora ?? mag;
      if (match === null) throw new Error(`${weightsFile}: tensor '${name}' is not a DoRA weight (expected base_model.model.<module>.lora_A.weight / lora_B.weight / lora_magnitude_vector)`);
      const which = lora === null ? 'm' : (lora[2] as 'A' | 'B');
      const shape = file.info(name).shape;
      const rank = which === 'm' ? 1 : 2;
      if (shape.length !== rank) throw new Error(`${weightsFile}: tensor '${name}' has shape [${shape.join(', ')}], expected ${rank}-D`);
      if (which === 'A' && shape[0] !== r) throw new Error(`${weightsFile}: '${name}' has shape [${shape.join(', ')}], expected [r=${r}, in]`);
      if (which === 'B' && shape[1] !== r) throw new Error(`${weightsFile}: '${name}' has shape [${shape.join(', ')}], expected [out, r=${r}]`);
      const modulePath = match[1] ?? '';
      const entry = parts.get(modulePath) ?? {};
      entry[which] = { data: file.readFloat32(name), shape };
      parts.set(modulePath, entry);
    }
    const weights = new Map<string, LoadedDoraWeights>();
    for (const [modulePath, p] of parts) {
      if (p.A === undefined || p.B === undefined || p.m === undefined) {
        const missing = p.A === undefined ? 'lora_A.weight' : p.B === undefined ? 'lora_B.weight' : 'lora_magnitude_vector';
        throw new Error(`${weightsFile}: module '${modulePath}' has ${missing} missing`);
      }
      const outFeatures = p.B.shape[0] ?? 0;
      if (p.m.shape[0] !== outFeatures) throw new Error(`${weightsFile}: '${modulePath}.lora_magnitude_vector' has ${p.m.shape[0]} values, lora_B.weight has ${outFeatures} rows`);
      weights.set(modulePath, { a: p.A.data, b: p.B.data, magnitude: p.m.data, inFeatures: p.A.shape[1] ?? 0, outFeatures });
    }
    if (weights.size === 0) throw new Error(`${weightsFile}: no DoRA tensors`);
    return { dir, r, alpha, dropout, rsLora, targetModules, weights };
  } finally {
    file.close();
  }
}

/**
 * Copies a loaded adapter's weights into `adapter` (whose modules were created by building a graph). The folder
 * must have the config's rank and scaling (the weight norm, hence the function, depends on s), and every module
 * of either side must match by path and shape.
 */
export function applyDoraWeights(adapter: DoraAdapter, loaded: LoadedDoraAdapter): void {
  const where = path.join(loaded.dir, ADAPTER_CONFIG_FILE);
  const { spec } = adapter;
  if (loaded.r !== spec.r) throw new Error(`${where}: adapter rank r=${loaded.r}, the config asks for r=${spec.r}`);
  if (loraScaling({ r: loaded.r, alpha: loaded.alpha, rsLora: loaded.rsLora }) !== adapter.scaling) {
    throw new Error(`${where}: the adapter has lora_alpha ${loaded.alpha}, use_rslora ${loaded.rsLora} (config: peft.alpha ${spec.alpha}, peft.rsLora ${spec.rsLora === true})`);
  }
  const weightsFile = path.join(loaded.dir, ADAPTER_WEIGHTS_FILE);
  copyLoadedModules(weightsFile, adapter.modules, loaded.weights, projectionShapeMismatch, (m, w) => {
    m.a.set(w.a);
    m.b.set(w.b);
    m.magnitude.set(w.magnitude);
  });
}
