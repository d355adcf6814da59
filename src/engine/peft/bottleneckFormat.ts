// Bottleneck adapter folders in the layout of LLM-Adapters' PEFT fork (peft_type "BOTTLENECK"): adapter_config.json
// with bottleneck_size, non_linearity, adapter_dropout, use_parallel_adapter, scaling, target_modules, and
// adapter_model.safetensors where the adapter of a wrapped projection is named after that projection, as
// save_pretrained names the fork's AdapterLayer attributes:
//   base_model.model.<module path>.adapter_down.weight [size, d]   (d = out for series, in for parallel)
//   base_model.model.<module path>.adapter_down.bias   [size]
//   base_model.model.<module path>.adapter_up.weight   [out, size]
//   base_model.model.<module path>.adapter_up.bias     [out]
// e.g. base_model.model.model.layers.3.mlp.down_proj.adapter_down.weight. The fork's layers have no biases: a
// folder without the .bias tensors loads with zero biases (the same function).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { SafetensorsFile } from '../models/safetensors';
import { writeSafetensors, type TensorToWrite } from '../models/safetensorsWriter';
import { writeJsonAtomic } from '../runs/atomic';
import { ADAPTER_CONFIG_FILE, ADAPTER_WEIGHTS_FILE, copyLoadedModules, readAdapterConfig, targetModulesOf } from './adapterFormat';
import type { BottleneckActivation, BottleneckAdapter, BottleneckPlacement } from './bottleneck';

const KEY_PREFIX = 'base_model.model.';

export function bottleneckKey(modulePath: string, which: 'adapter_down' | 'adapter_up', part: 'weight' | 'bias'): string {
  return `${KEY_PREFIX}${modulePath}.${which}.${part}`;
}

export interface BottleneckConfigJson {
  peft_type: 'BOTTLENECK';
  task_type: 'CAUSAL_LM';
  bottleneck_size: number;
  non_linearity: BottleneckActivation;
  adapter_dropout: number;
  use_parallel_adapter: boolean;
  use_adapterp: boolean;
  scaling: number;
  target_modules: string[];
  base_model_name_or_path: string;
  inference_mode: boolean;
  init_weights: 'lora';
}

/** Writes `dir/adapter_config.json` and `dir/adapter_model.safetensors` (each atomically). */
export function saveBottleneckAdapter(dir: string, adapter: BottleneckAdapter, info: { baseModel: string }): void {
  fs.mkdirSync(dir, { recursive: true });
  const size = adapter.spec.bottleneckSize;
  const tensors: TensorToWrite[] = adapter.ordered().flatMap((m) => [
    { name: bottleneckKey(m.path, 'adapter_down', 'weight'), dtype: 'F32' as const, shape: [size, m.adapterFeatures], data: m.down },
    { name: bottleneckKey(m.path, 'adapter_down', 'bias'), dtype: 'F32' as const, shape: [size], data: m.downBias },
    { name: bottleneckKey(m.path, 'adapter_up', 'weight'), dtype: 'F32' as const, shape: [m.outFeatures, size], data: m.up },
    { name: bottleneckKey(m.path, 'adapter_up', 'bias'), dtype: 'F32' as const, shape: [m.outFeatures], data: m.upBias },
  ]);
  writeSafetensors(path.join(dir, ADAPTER_WEIGHTS_FILE), tensors, { format: 'pt' });
  const config: BottleneckConfigJson = {
    peft_type: 'BOTTLENECK',
    task_type: 'CAUSAL_LM',
    bottleneck_size: size,
    non_linearity: adapter.spec.activation,
    adapter_dropout: adapter.spec.dropout,
    use_parallel_adapter: adapter.spec.placement === 'parallel',
    // AdapterP (Pfeiffer) placement is not implemented.
    use_adapterp: false,
    scaling: adapter.spec.scaling,
    target_modules: [...adapter.spec.targets],
    base_model_name_or_path: info.baseModel,
    inference_mode: true,
    init_weights: 'lora',
  };
  writeJsonAtomic(path.join(dir, ADAPTER_CONFIG_FILE), config);
}

export interface LoadedBottleneckWeights {
  readonly down: Float32Array;
  readonly downBias: Float32Array | undefined;
  readonly up: Float32Array;
  readonly upBias: Float32Array | undefined;
  /** d of W_down [size, d]. */
  readonly adapterFeatures: number;
  readonly outFeatures: number;
}

/** What a bottleneck adapter folder holds, validated. */
export interface LoadedBottleneckAdapter {
  readonly dir: string;
  readonly bottleneckSize: number;
  readonly activation: BottleneckActivation;
  readonly placement: BottleneckPlacement;
  readonly scaling: number;
  readonly dropout: number;
  readonly targetModules: readonly string[];
  readonly weights: ReadonlyMap<string, LoadedBottleneckWeights>;
}

/** Reads a bottleneck adapter folder; errors name the file and key. */
export function loadBottleneckAdapter(dir: string): LoadedBottleneckAdapter {
  const configFile = path.join(dir, ADAPTER_CONFIG_FILE);
  const weightsFile = path.join(dir, ADAPTER_WEIGHTS_FILE);
  const cfg = readAdapterConfig(configFile);
  if (cfg.peft_type !== 'BOTTLENECK') throw new Error(`${configFile}: $.peft_type is ${JSON.stringify(cfg.peft_type)}, expected BOTTLENECK`);
  const bottleneckSize = cfg.bottleneck_size;
  if (typeof bottleneckSize !== 'number' || !Number.isInteger(bottleneckSize) || bottleneckSize < 1) throw new Error(`${configFile}: $.bottleneck_size must be a positive integer`);
  const activation = cfg.non_linearity ?? 'tanh';
  if (activation !== 'tanh' && activation !== 'relu' && activation !== 'silu') throw new Error(`${configFile}: $.non_linearity is ${JSON.stringify(activation)}; supported: tanh, relu, silu`);
  if (cfg.use_adapterp === true) throw new Error(`${configFile}: $.use_adapterp: AdapterP placement is not supported`);
  const scaling = cfg.scaling ?? 1;
  if (typeof scaling !== 'number' || !Number.isFinite(scaling)) throw new Error(`${configFile}: $.scaling must be a number (got ${JSON.stringify(scaling)}; a learned scalar is not supported)`);
  const dropout = typeof cfg.adapter_dropout === 'number' ? cfg.adapter_dropout : 0;
  const targetModules = targetModulesOf(cfg, configFile);
  if (!fs.existsSync(weightsFile)) throw new Error(`${weightsFile}: missing (only the safetensors adapter format is supported)`);
  const file = SafetensorsFile.open(weightsFile);
  try {
    type Parts = Partial<Record<'adapter_down.weight' | 'adapter_down.bias' | 'adapter_up.weight' | 'adapter_up.bias', { data: Float32Array; shape: readonly number[] }>>;
    const parts = new Map<string, Parts>();
    for (const name of file.tensors.keys()) {
      const match = /^(?:base_model\.model\.)?(.+)\.(adapter_down|adapter_up)\.(weight|bias)$/.exec(name);
      if (match === null) throw new Error(`${weightsFile}: tensor '${name}' is not a bottleneck adapter weight (expected base_model.model.<module>.adapter_down.weight / adapter_up.weight / .bias)`);
      const modulePath = match[1] ?? '';
      const key = `${match[2] ?? ''}.${match[3] ?? ''}` as keyof Parts;
      const shape = file.info(name).shape;
      const rank = key.endsWith('weight') ? 2 : 1;
      if (shape.length !== rank) throw new Error(`${weightsFile}: tensor '${name}' has shape [${shape.join(', ')}], expected ${rank}-D`);
      const sizeAxis = key === 'adapter_down.weight' || key === 'adapter_down.bias' ? 0 : 1;
      if (key !== 'adapter_up.bias' && shape[sizeAxis] !== bottleneckSize) {
        throw new Error(`${weightsFile}: '${name}' has shape [${shape.join(', ')}], expected bottleneck_size ${bottleneckSize} on axis ${sizeAxis}`);
      }
      const entry = parts.get(modulePath) ?? {};
      entry[key] = { data: file.readFloat32(name), shape };
      parts.set(modulePath, entry);
    }
    const weights = new Map<string, LoadedBottleneckWeights>();
    for (const [modulePath, p] of parts) {
      const down = p['adapter_down.weight'];
      const up = p['adapter_up.weight'];
      if (down === undefined || up === undefined) throw new Error(`${weightsFile}: module '${modulePath}' has ${down === undefined ? 'adapter_down' : 'adapter_up'}.weight missing`);
      const outFeatures = up.shape[0] ?? 0;
      const upBias = p['adapter_up.bias'];
      if (upBias !== undefined && upBias.shape[0] !== outFeatures) throw new Error(`${weightsFile}: '${modulePath}.adapter_up.bias' has ${upBias.shape[0]} values, adapter_up.weight has ${outFeatures} rows`);
      weights.set(modulePath, { down: down.data, downBias: p['adapter_down.bias']?.data, up: up.data, upBias: upBias?.data, adapterFeatures: down.shape[1] ?? 0, outFeatures });
    }
    if (weights.size === 0) throw new Error(`${weightsFile}: no bottleneck adapter tensors`);
    const placement: BottleneckPlacement = cfg.use_parallel_adapter === true ? 'parallel' : 'series';
    return { dir, bottleneckSize, activation, placement, scaling, dropout, targetModules, weights };
  } finally {
    file.close();
  }
}

/**
 * Copies a loaded adapter's weights into `adapter` (whose modules were created by building a graph). The folder
 * must describe the same function (size, placement, nonlinearity, scaling), and every module of either side
 * must match by path and shape.
 */
export function applyBottleneckWeights(adapter: BottleneckAdapter, loaded: LoadedBottleneckAdapter): void {
  const where = path.join(loaded.dir, ADAPTER_CONFIG_FILE);
  const { spec } = adapter;
  const differ: string[] = [];
  if (loaded.bottleneckSize !== spec.bottleneckSize) differ.push(`bottleneck_size ${loaded.bottleneckSize} (config: peft.bottleneckSize ${spec.bottleneckSize})`);
  if (loaded.placement !== spec.placement) differ.push(`use_parallel_adapter ${loaded.placement === 'parallel'} (config: peft.placement ${spec.placement})`);
  if (loaded.activation !== spec.activation) differ.push(`non_linearity ${loaded.activation} (config: peft.activation ${spec.activation})`);
  if (loaded.scaling !== spec.scaling) differ.push(`scaling ${loaded.scaling} (config: peft.scaling ${spec.scaling})`);
  if (differ.length > 0) throw new Error(`${where}: the adapter has ${differ.join(', ')}`);
  const weightsFile = path.join(loaded.dir, ADAPTER_WEIGHTS_FILE);
  copyLoadedModules(weightsFile, adapter.modules, loaded.weights, (m, w) => (w.adapterFeatures === m.adapterFeatures && w.outFeatures === m.outFeatures
    ? undefined
    : `adapter reads ${w.adapterFeatures} and writes ${w.outFeatures} features, the model's projection needs ${m.adapterFeatures} and ${m.outFeatures}`), (m, w) => {
    m.down.set(w.down);
    m.up.set(w.up);
    if (w.downBias === undefined) m.downBias.fill(0);
    else m.downBias.set(w.downBias);
    if (w.upBias === undefined) m.upBias.fill(0);
    else m.upBias.set(w.upBias);
  });
}
