// Hugging Face PEFT adapter folders: adapter_config.json + adapter_model.safetensors with PEFT's key names
// (`base_model.model.<module path>.lora_A.weight` [r, in], `...lora_B.weight` [out, r]), as
// peft.PeftModel.save_pretrained writes them (the adapter name "default" is stripped from saved keys).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ADAPTER_FILES } from '../../protocol/runFolder';
import { SafetensorsFile } from '../models/safetensors';
import { writeSafetensors, type TensorToWrite } from '../models/safetensorsWriter';
import { writeJsonAtomic } from '../runs/atomic';
import type { LoraAdapter, LoraSpec } from './lora';

export const ADAPTER_CONFIG_FILE = ADAPTER_FILES.config;
export const ADAPTER_WEIGHTS_FILE = ADAPTER_FILES.weights;

const KEY_PREFIX = 'base_model.model.';

export function peftKey(modulePath: string, which: 'A' | 'B'): string {
  return `${KEY_PREFIX}${modulePath}.lora_${which}.weight`;
}

export interface AdapterConfigJson {
  peft_type: 'LORA';
  task_type: 'CAUSAL_LM';
  r: number;
  lora_alpha: number;
  lora_dropout: number;
  target_modules: string[];
  fan_in_fan_out: boolean;
  use_rslora: boolean;
  bias: 'none';
  base_model_name_or_path: string;
  inference_mode: boolean;
  init_lora_weights: boolean;
  /** DoRA adapters (doraFormat.ts) write true; plain LoRA folders omit it (PEFT reads absent as false). */
  use_dora?: boolean;
}

/** The adapter_config.json of LoRA settings (shared by LoRA and DoRA folders). */
export function loraAdapterConfig(spec: LoraSpec, info: { baseModel: string; modelFamily: string }): AdapterConfigJson {
  return {
    peft_type: 'LORA',
    task_type: 'CAUSAL_LM',
    r: spec.r,
    lora_alpha: spec.alpha,
    lora_dropout: spec.dropout,
    target_modules: [...spec.targets],
    // GPT-2's Conv1D stores [in, out]; PEFT needs this flag to merge the delta into such weights.
    fan_in_fan_out: info.modelFamily === 'gpt2',
    use_rslora: spec.rsLora === true,
    bias: 'none',
    base_model_name_or_path: info.baseModel,
    inference_mode: true,
    init_lora_weights: true,
  };
}

/** Writes `dir/adapter_config.json` and `dir/adapter_model.safetensors` (each atomically). */
export function saveAdapter(dir: string, adapter: LoraAdapter, info: { baseModel: string; modelFamily: string }): void {
  fs.mkdirSync(dir, { recursive: true });
  const tensors: TensorToWrite[] = [];
  for (const m of adapter.ordered()) {
    tensors.push({ name: peftKey(m.path, 'A'), dtype: 'F32', shape: [adapter.spec.r, m.inFeatures], data: m.a });
    tensors.push({ name: peftKey(m.path, 'B'), dtype: 'F32', shape: [m.outFeatures, adapter.spec.r], data: m.b });
  }
  writeSafetensors(path.join(dir, ADAPTER_WEIGHTS_FILE), tensors, { format: 'pt' });
  const config = loraAdapterConfig(adapter.spec, info);
  writeJsonAtomic(path.join(dir, ADAPTER_CONFIG_FILE), config);
}

/** What an adapter folder holds, validated. */
export interface LoadedAdapter {
  readonly dir: string;
  readonly r: number;
  readonly alpha: number;
  readonly dropout: number;
  readonly rsLora: boolean;
  readonly targetModules: readonly string[];
  readonly baseModel: string | undefined;
  /** Module path -> A [r, in], B [out, r]. */
  readonly weights: ReadonlyMap<string, { a: Float32Array; b: Float32Array; inFeatures: number; outFeatures: number }>;
}

/** An adapter_config.json as a JSON object (errors name the file); shared with bottleneckFormat.ts. */
export function readAdapterConfig(configFile: string): Record<string, unknown> {
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(configFile, 'utf8'));
  } catch (e) {
    throw new Error(`${configFile}: cannot read the adapter config: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (!isRecord(raw)) throw new Error(`${configFile}: not a JSON object`);
  return raw;
}

/** $.target_modules: a module name or a list of them, as PEFT accepts. */
export function targetModulesOf(cfg: Record<string, unknown>, configFile: string): string[] {
  const targetsRaw = cfg.target_modules;
  const targetModules = typeof targetsRaw === 'string' ? [targetsRaw]
    : Array.isArray(targetsRaw) && targetsRaw.every((t): t is string => typeof t === 'string') ? targetsRaw : undefined;
  if (targetModules === undefined) throw new Error(`${configFile}: $.target_modules must be a list of module names`);
  return targetModules;
}

/** Reads a Hugging Face PEFT LoRA adapter folder; errors name the file and key. */
export function loadAdapter(dir: string): LoadedAdapter {
  const configFile = path.join(dir, ADAPTER_CONFIG_FILE);
  const weightsFile = path.join(dir, ADAPTER_WEIGHTS_FILE);
  const cfg = readAdapterConfig(configFile);
  const num = (key: string, fallback?: number): number => {
    const v = cfg[key] ?? fallback;
    if (typeof v !== 'number' || !Number.isFinite(v)) throw new Error(`${configFile}: $.${key} must be a number (got ${JSON.stringify(v)})`);
    return v;
  };
  if (cfg.peft_type !== 'LORA') throw new Error(`${configFile}: $.peft_type is ${JSON.stringify(cfg.peft_type)}, only LORA adapters are supported`);
  const r = num('r');
  const alpha = num('lora_alpha', 8);
  const dropout = num('lora_dropout', 0);
  const targetModules = targetModulesOf(cfg, configFile);
  const rsLora = cfg.use_rslora === true;
  const baseModel = typeof cfg.base_model_name_or_path === 'string' ? cfg.base_model_name_or_path : undefined;
  if (!fs.existsSync(weightsFile)) throw new Error(`${weightsFile}: missing (only the safetensors adapter format is supported)`);
  const file = SafetensorsFile.open(weightsFile);
  try {
    const pairs = new Map<string, { a?: Float32Array; b?: Float32Array; aShape?: readonly number[]; bShape?: readonly number[] }>();
    for (const name of file.tensors.keys()) {
      const match = /^(?:base_model\.model\.)?(.+)\.lora_([AB])(?:\.default)?\.weight$/.exec(name);
      if (match === null) throw new Error(`${weightsFile}: tensor '${name}' is not a LoRA weight (expected base_model.model.<module>.lora_A.weight / lora_B.weight)`);
      const modulePath = match[1] ?? '';
      const entry = pairs.get(modulePath) ?? {};
      const shape = file.info(name).shape;
      if (shape.length !== 2) throw new Error(`${weightsFile}: tensor '${name}' has shape [${shape.join(', ')}], expected 2-D`);
      if (match[2] === 'A') {
        if (shape[0] !== r) throw new Error(`${weightsFile}: '${name}' has shape [${shape.join(', ')}], expected [r=${r}, in]`);
        entry.a = file.readFloat32(name);
        entry.aShape = shape;
      } else {
        if (shape[1] !== r) throw new Error(`${weightsFile}: '${name}' has shape [${shape.join(', ')}], expected [out, r=${r}]`);
        entry.b = file.readFloat32(name);
        entry.bShape = shape;
      }
      pairs.set(modulePath, entry);
    }
    const weights = new Map<string, { a: Float32Array; b: Float32Array; inFeatures: number; outFeatures: number }>();
    for (const [modulePath, e] of pairs) {
      if (e.a === undefined || e.b === undefined || e.aShape === undefined || e.bShape === undefined) {
        throw new Error(`${weightsFile}: module '${modulePath}' has lora_${e.a === undefined ? 'A' : 'B'}.weight missing`);
      }
      weights.set(modulePath, { a: e.a, b: e.b, inFeatures: e.aShape[1] ?? 0, outFeatures: e.bShape[0] ?? 0 });
    }
    if (weights.size === 0) throw new Error(`${weightsFile}: no LoRA tensors`);
    return { dir, r, alpha, dropout, rsLora, targetModules, baseModel, weights };
  } finally {
    file.close();
  }
}

/**
 * Copies a loaded adapter's weights into `adapter` (whose modules were created by building a graph). Every
 * module of either side must match by path and shape.
 */
export function applyAdapterWeights(adapter: LoraAdapter, loaded: LoadedAdapter): void {
  const where = path.join(loaded.dir, ADAPTER_WEIGHTS_FILE);
  if (loaded.r !== adapter.spec.r) throw new Error(`${where}: adapter rank r=${loaded.r}, the config asks for r=${adapter.spec.r}`);
  copyLoadedModules(where, adapter.modules, loaded.weights, projectionShapeMismatch, (m, w) => {
    m.a.set(w.a);
    m.b.set(w.b);
  });
}

type Shaped = { readonly inFeatures: number; readonly outFeatures: number };

/** The shape check of a module that adapts one projection: its [out x in] must be the projection's. */
export function projectionShapeMismatch(m: Shaped, w: Shaped): string | undefined {
  if (w.inFeatures === m.inFeatures && w.outFeatures === m.outFeatures) return undefined;
  return `is [${w.outFeatures} x ${w.inFeatures}], the model's projection is [${m.outFeatures} x ${m.inFeatures}]`;
}

/**
 * Pairs a loaded file's modules with an adapter's by path, checks their shapes (`mismatch` says how they
 * differ, undefined when they fit), and copies each with `copy`; every module of either side must have its
 * partner. `file` names the weights file in the messages.
 */
export function copyLoadedModules<M, W>(file: string, modules: ReadonlyMap<string, M>, weights: ReadonlyMap<string, W>,
  mismatch: (m: M, w: W) => string | undefined, copy: (m: M, w: W) => void): void {
  for (const [modulePath, w] of weights) {
    const m = modules.get(modulePath);
    if (m === undefined) {
      throw new Error(`${file}: module '${modulePath}' is not among the adapted projections (${[...modules.keys()].slice(0, 6).join(', ')}...); check peft.targets`);
    }
    const differs = mismatch(m, w);
    if (differs !== undefined) throw new Error(`${file}: module '${modulePath}' ${differs}`);
    copy(m, w);
  }
  for (const modulePath of modules.keys()) {
    if (!weights.has(modulePath)) throw new Error(`${file}: no weights for module '${modulePath}'`);
  }
}

function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}
