// The offsite adapter on one model (the emulator or the full model): the first `bottom` and last `top` stored
// decoder layers, tuned with LoRA on every linear map or in full (fullDelta.ts). Its parameter groups (one per
// linear map: LoRA A and B, or dW) are named by the full model's module paths, so the emulator's adapter and the
// full model's adapter line up group by group: an emulator's stored layer i is original layer `source` (its
// config's peft_lab_emulator layout), e.g. the last stored layer of a [2, 2] emulator of a 12-layer model is 11.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ADAPTER_FILES } from '../../../protocol/runFolder';
import { derivedRng, RNG_TAGS } from '../../data/batches';
import type { LoadedModel } from '../../models/model';
import { SafetensorsFile } from '../../models/safetensors';
import { writeSafetensors } from '../../models/safetensorsWriter';
import { saveAdapter } from '../../peft/adapterFormat';
import { LoraAdapter } from '../../peft/lora';
import { writeJsonAtomic } from '../../runs/atomic';
import { LoraRunner } from '../../train/loraGraph';
import type { ProviderInfo, SessionSettings } from '../../train/peftGraph';
import { layerPrefix } from '../stats/modules';
import { DeltaRunner, FullDeltaAdapter } from './fullDelta';

export type AdapterPeft = 'full' | 'lora';

/** The linear-map names of each family: LoRA targets every one of them. */
const LINEAR_MODULES: Record<LoadedModel['config']['family'], readonly string[]> = {
  gpt2: ['c_attn', 'c_proj', 'c_fc'],
  llama: ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'],
  opt: ['q_proj', 'k_proj', 'v_proj', 'out_proj', 'fc1', 'fc2'],
};

/** Stored indices of the adapter layers of a model (emulator or full): the first `bottom` and the last `top`. */
export function adapterLayerIndices(numLayers: number, [bottom, top]: readonly [number, number]): number[] {
  if (bottom + top > numLayers) throw new Error(`offsite.adapterLayers: [${bottom}, ${top}] is more than the ${numLayers} layers of the model`);
  return [...Array.from({ length: bottom }, (_, i) => i), ...Array.from({ length: top }, (_, i) => numLayers - top + i)];
}

/** Maps a module path of `model` to the full model's path (emulator stored layer -> its source layer). */
export function fullModelPath(model: LoadedModel, modulePath: string, layer: number): string {
  const layout = model.config.emulator;
  if (layout === undefined) return modulePath;
  const source = layout.layers[layer]?.source;
  if (source === undefined) throw new Error(`emulator ${model.dir}: stored layer ${layer} has no source layer`);
  const from = layerPrefix(model.config, layer);
  if (!modulePath.startsWith(from)) throw new Error(`emulator ${model.dir}: ${modulePath} is not in stored layer ${layer}`);
  return `${layerPrefix(model.config, source)}${modulePath.slice(from.length)}`;
}

export interface ParameterGroup {
  /** The full model's module path. */
  readonly name: string;
  /** The group's tensors (views of the runner's parameters: LoRA [A, B], full [dW]). */
  readonly tensors: readonly Float32Array[];
}

export interface AdapterSpec {
  readonly peft: AdapterPeft;
  readonly adapterLayers: readonly [number, number];
  /** LoRA settings (peft lora). */
  readonly lora?: { readonly r: number; readonly alpha: number; readonly dropout: number; readonly rsLora: boolean };
  readonly seed: number;
}

/** An adapter with its runner on one model. Its parameters exist once `build()` has run. */
export class OffsiteAdapter {
  readonly runner: LoraRunner | DeltaRunner;
  private readonly lora: LoraAdapter | undefined;
  private readonly delta: FullDeltaAdapter | undefined;

  constructor(readonly model: LoadedModel, readonly spec: AdapterSpec, settings: SessionSettings) {
    const layers = adapterLayerIndices(model.config.numLayers, spec.adapterLayers);
    if (spec.peft === 'lora') {
      if (spec.lora === undefined) throw new Error('offsite.adapterPeft lora needs the LoRA settings of the peft block');
      this.lora = new LoraAdapter({ ...spec.lora, targets: LINEAR_MODULES[model.config.family], layers }, derivedRng(spec.seed, RNG_TAGS.init));
      this.runner = new LoraRunner(model, this.lora, settings);
    } else {
      this.delta = new FullDeltaAdapter(layers);
      this.runner = new DeltaRunner(model, this.delta, settings);
    }
  }

  get provider(): ProviderInfo | undefined {
    return this.runner.provider;
  }

  /** Builds the train session of a bucket (creating the parameters: LoRA A Kaiming-uniform from the seed, B = 0; dW = 0). */
  async build(batch: number, seq: number): Promise<void> {
    await this.runner.prepare(batch, seq);
  }

  /** Parameter groups in parameter order, named by the full model's paths. */
  groups(): ParameterGroup[] {
    if (this.lora !== undefined) return this.lora.ordered().map((m) => ({ name: fullModelPath(this.model, m.path, m.layer), tensors: [m.a, m.b] }));
    return (this.delta?.ordered() ?? []).map((m) => ({ name: fullModelPath(this.model, m.path, m.layer), tensors: [m.delta] }));
  }

  parameterCount(): number {
    return this.lora?.parameterCount() ?? this.delta?.parameterCount() ?? 0;
  }

  /** Copies another adapter's values group by group (same names and sizes required): the plug-in. */
  copyFrom(other: OffsiteAdapter): void {
    this.assign(new Map(other.groups().map((g) => [g.name, g.tensors])), `adapter of ${other.model.dir}`);
  }

  /** Current values (copies), by group name. */
  snapshot(): Map<string, Float32Array[]> {
    return new Map(this.groups().map((g) => [g.name, g.tensors.map((t) => t.slice())]));
  }

  assign(values: ReadonlyMap<string, readonly Float32Array[]>, from: string): void {
    const groups = this.groups();
    if (groups.length !== values.size) throw new Error(`plug-in: ${from} has ${values.size} parameter groups, this adapter ${groups.length}`);
    for (const g of groups) {
      const src = values.get(g.name);
      if (src === undefined || src.length !== g.tensors.length) throw new Error(`plug-in: ${from} has no parameter group ${g.name}`);
      g.tensors.forEach((t, i) => {
        const s = src[i];
        if (s === undefined || s.length !== t.length) throw new Error(`plug-in: ${g.name} tensor ${i} has ${s?.length ?? 0} values in ${from}, ${t.length} here`);
        t.set(s);
      });
    }
  }

  /** Writes the values (by group name) to a safetensors file, for resuming later steps. */
  saveValues(file: string): void {
    const tensors = this.groups().flatMap((g) => g.tensors.map((t, i) => ({ name: `${g.name}#${i}`, dtype: 'F32' as const, shape: [t.length], data: t })));
    writeSafetensors(file, tensors, { format: 'peft-lab-offsite-adapter' });
  }

  loadValues(file: string): void {
    const f = SafetensorsFile.open(file);
    try {
      const values = new Map<string, Float32Array[]>();
      for (const key of f.tensors.keys()) {
        const cut = key.lastIndexOf('#');
        const list = values.get(key.slice(0, cut)) ?? [];
        list[Number(key.slice(cut + 1))] = f.readFloat32(key);
        values.set(key.slice(0, cut), list);
      }
      this.assign(values, file);
    } finally {
      f.close();
    }
  }

  /**
   * The user-facing adapter folder for the full model: LoRA in Hugging Face PEFT format (saveAdapter); full as
   * `full_delta.safetensors` (`<module path>.weight_delta` [out, in]) with an adapter_config.json saying so.
   */
  export(dir: string, info: { baseModel: string; modelFamily: string }): void {
    if (this.model.config.emulator !== undefined) throw new Error('offsite: the exported adapter must be the full model\'s (plug in first)');
    if (this.lora !== undefined) {
      saveAdapter(dir, this.lora, info);
      return;
    }
    fs.mkdirSync(dir, { recursive: true });
    const modules = this.delta?.ordered() ?? [];
    writeSafetensors(path.join(dir, 'full_delta.safetensors'), modules.map((m) => ({ name: `${m.path}.weight_delta`, dtype: 'F32' as const, shape: [m.outFeatures, m.inFeatures], data: m.delta })), { format: 'pt' });
    writeJsonAtomic(path.join(dir, ADAPTER_FILES.config), {
      peft_type: 'PEFT_LAB_FULL_DELTA', base_model_name_or_path: info.baseModel, model_family: info.modelFamily,
      layers: this.delta?.layers ?? [],
      note: 'tuned weight = W + weight_delta for [out, in] weights (torch Linear); GPT-2 Conv1D weights are stored [in, out]: add weight_delta transposed',
    });
  }

  dispose(): Promise<void> {
    return this.runner.dispose();
  }
}
