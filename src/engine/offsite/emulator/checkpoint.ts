/**
 * Writes an emulator as a Hugging Face-layout folder this project loads back (models/emulatorLayout.ts):
 * config.json = the original config with the stored layer count and a `peft_lab_emulator` block, and
 * model.safetensors with the stored layers renumbered 0..n-1. Uncompressed tensors (embeddings, adapter layers,
 * norms) are copied value for value in their stored dtype; compressed attention maps are kept factorized
 * (`<path>.first.weight` [rank, in], `<path>.second.weight` [out, rank], float32) and pruned MLPs keep their
 * channels' rows/columns (and first-layer bias entries) in the stored layout. Tokenizer files are copied.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ModelConfig } from '../../models/config';
import { isStoredDtype } from '../../models/dtype';
import { EMULATOR_CONFIG_KEY, emulatorLayoutToJson, GPT2_QKV_PARTS, type EmulatorLayerLayout, type EmulatorLayout } from '../../models/emulatorLayout';
import type { LoadedModel } from '../../models/model';
import { isRecord } from '../../models/safetensors';
import { writeSafetensors, type TensorToWrite } from '../../models/safetensorsWriter';
import { expectedWeights } from '../../models/weights';
import { layerModules, layerPrefix } from '../stats/modules';
import type { CompressedAttention, CompressedMlp } from './compress';

export interface LayerCompression {
  readonly attention: readonly CompressedAttention[];
  readonly mlp: CompressedMlp;
}

export interface EmulatorPlan {
  readonly method: string;
  readonly adapterLayers: readonly [number, number];
  /** Original layer index of each stored layer, ascending. */
  readonly storedSources: readonly number[];
  /** Stored layer index run at each depth position. */
  readonly layerMap: readonly number[];
  /** Compression of original layers (absent: copied unchanged). */
  readonly compressed: ReadonlyMap<number, LayerCompression>;
}

const TOKENIZER_FILES = ['tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'generation_config.json'];

/** Replacements of one compressed layer's tensors, by name relative to the layer; null = dropped. */
function layerReplacements(model: LoadedModel, source: number, c: LayerCompression): Map<string, Omit<TensorToWrite, 'name'> | null> {
  const config = model.config;
  const prefix = layerPrefix(config, source);
  const mods = layerModules(config);
  const out = new Map<string, Omit<TensorToWrite, 'name'> | null>();
  for (const a of c.attention) {
    const f = a.factorized;
    // Float32Array conversion rounds to nearest like the writer's float32 encoding: same bytes, no per-element loop.
    out.set(`${a.path}.first.weight`, { dtype: 'F32', shape: [f.rank, f.inFeatures], data: new Float32Array(f.first) });
    out.set(`${a.path}.second.weight`, { dtype: 'F32', shape: [f.outFeatures, f.rank], data: new Float32Array(f.second) });
    const dense = config.family === 'gpt2' && (GPT2_QKV_PARTS as readonly string[]).includes(a.path) ? 'attn.c_attn' : a.path;
    out.set(`${dense}.weight`, null);
  }
  const kept = c.mlp.kept;
  const k = kept.length;
  // float32 holds every stored F32 / F16 / BF16 value exactly, so the copied values are unchanged.
  const read = (rel: string) => model.weights.readFloat32(`${prefix}${rel}`);
  const has = (rel: string) => expectedWeights(config).some((s) => s.name === `${prefix}${rel}`);
  const dtypeOf = (rel: string) => {
    const d = model.checkpoint.info(model.weights.storedName(`${prefix}${rel}`)).dtype;
    return isStoredDtype(d) ? d : 'F32';
  };
  // First MLP layer(s): channel j is row j of [inter, d] (out_in) or column j of [d, inter] (in_out).
  for (const rel of [mods.mlp.up, ...(mods.mlp.gate !== undefined ? [mods.mlp.gate] : [])]) {
    const w = read(`${rel}.weight`);
    const inter = c.mlp.fullChannels;
    const d = w.length / inter;
    const data = new Float32Array(k * d);
    if (mods.layout === 'out_in') kept.forEach((j, r) => data.set(w.subarray(j * d, j * d + d), r * d));
    else for (let i = 0; i < d; i++) for (let r = 0; r < k; r++) data[i * k + r] = w[i * inter + (kept[r] as number)] as number;
    out.set(`${rel}.weight`, { dtype: dtypeOf(`${rel}.weight`), shape: mods.layout === 'out_in' ? [k, d] : [d, k], data });
    if (has(`${rel}.bias`)) {
      const b = read(`${rel}.bias`);
      out.set(`${rel}.bias`, { dtype: dtypeOf(`${rel}.bias`), shape: [k], data: kept.map((j) => b[j] as number) });
    }
  }
  // Down projection: channel j is column j of [d, inter] (out_in) or row j of [inter, d] (in_out).
  {
    const rel = mods.mlp.down;
    const w = read(`${rel}.weight`);
    const inter = c.mlp.fullChannels;
    const d = w.length / inter;
    const data = new Float32Array(d * k);
    if (mods.layout === 'out_in') for (let i = 0; i < d; i++) for (let col = 0; col < k; col++) data[i * k + col] = w[i * inter + (kept[col] as number)] as number;
    else kept.forEach((j, r) => data.set(w.subarray(j * d, j * d + d), r * d));
    out.set(`${rel}.weight`, { dtype: dtypeOf(`${rel}.weight`), shape: mods.layout === 'out_in' ? [d, k] : [k, d], data });
  }
  return out;
}

function layerCountKey(config: ModelConfig): string {
  return config.family === 'gpt2' ? 'n_layer' : 'num_hidden_layers';
}

/** Writes the folder; returns the layout written and the number of tensor elements in the checkpoint. */
export function writeEmulatorCheckpoint(model: LoadedModel, plan: EmulatorPlan, dir: string): { layout: EmulatorLayout; parameterCount: number } {
  const config = model.config;
  fs.mkdirSync(dir, { recursive: true });
  const specs = expectedWeights(config);
  const layerOf = (name: string): number | undefined => {
    for (let l = 0; l < config.numLayers; l++) if (name.startsWith(layerPrefix(config, l))) return l;
    return undefined;
  };
  const tensors: TensorToWrite[] = [];
  const copy = (name: string, as: string) => {
    const stored = model.weights.storedName(name);
    const d = model.checkpoint.info(stored).dtype;
    tensors.push({ name: as, dtype: isStoredDtype(d) ? d : 'F32', shape: model.weights.spec(name).shape, data: model.weights.readFloat32(name) });
  };
  for (const s of specs) if (layerOf(s.name) === undefined) copy(s.name, s.name);
  const layers: EmulatorLayerLayout[] = [];
  plan.storedSources.forEach((source, i) => {
    const from = layerPrefix(config, source);
    const to = layerPrefix(config, i);
    const c = plan.compressed.get(source);
    const repl = c === undefined ? new Map<string, Omit<TensorToWrite, 'name'> | null>() : layerReplacements(model, source, c);
    for (const s of specs) {
      if (layerOf(s.name) !== source) continue;
      const rel = s.name.slice(from.length);
      const r = repl.get(rel);
      if (r === null) continue;
      if (r === undefined) copy(s.name, `${to}${rel}`);
      else tensors.push({ name: `${to}${rel}`, ...r });
      repl.delete(rel);
    }
    for (const [rel, r] of repl) if (r !== null) tensors.push({ name: `${to}${rel}`, ...r });
    layers.push({
      source,
      factorized: Object.fromEntries((c?.attention ?? []).map((a) => [a.path, a.factorized.rank])),
      ...(c === undefined ? {} : { intermediateSize: c.mlp.kept.length }),
    });
  });
  const layout: EmulatorLayout = {
    method: plan.method, adapterLayers: [plan.adapterLayers[0], plan.adapterLayers[1]], originalNumLayers: config.numLayers,
    layerMap: [...plan.layerMap], layers,
  };
  writeSafetensors(path.join(dir, 'model.safetensors'), tensors, { format: 'pt' });
  const configPath = path.join(model.dir, 'config.json');
  const original: unknown = JSON.parse(fs.readFileSync(configPath, 'utf8'));
  if (!isRecord(original)) throw new Error(`${configPath}: not a JSON object`);
  const json = { ...original, [layerCountKey(config)]: plan.storedSources.length, [EMULATOR_CONFIG_KEY]: emulatorLayoutToJson(layout) };
  const tmp = path.join(dir, `.config.json.${process.pid}.tmp`);
  fs.writeFileSync(tmp, `${JSON.stringify(json, null, 2)}\n`);
  fs.renameSync(tmp, path.join(dir, 'config.json'));
  for (const f of TOKENIZER_FILES) {
    const src = path.join(model.dir, f);
    if (fs.existsSync(src)) fs.copyFileSync(src, path.join(dir, f));
  }
  return { layout, parameterCount: tensors.reduce((n, t) => n + t.data.length, 0) };
}
