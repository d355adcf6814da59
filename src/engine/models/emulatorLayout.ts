// The `peft_lab_emulator` block of an offsite-tuning emulator's config.json (issue 7): which stored decoder layer
// came from which layer of the original model, the order the layers run in (CRaSh repeats layers), and per stored
// layer the projections kept factorized (`<path>.first.weight` [rank, in], `<path>.second.weight` [out, rank];
// y = second (first x) + bias) and the pruned MLP width. The loader (weights.ts, causalLm.ts) reads only this
// structure; method details live in the emulator's diagnostics.
import { isRecord } from './safetensors';

export interface EmulatorLayerLayout {
  /** Index of this stored layer in the original model. */
  readonly source: number;
  /** Projections kept as two factors, by path relative to the layer (e.g. `self_attn.q_proj`, `attn.c_attn.q`) -> rank. */
  readonly factorized: Readonly<Record<string, number>>;
  /** MLP intermediate width of this layer when channels were pruned (absent: the config's). */
  readonly intermediateSize?: number;
}

export interface EmulatorLayout {
  readonly method: string;
  /** Adapter layers [bottom, top] of the original model, kept unchanged as the first/last stored layers. */
  readonly adapterLayers: readonly [number, number];
  readonly originalNumLayers: number;
  /** Stored layers in execution order (length = the emulator's depth; repeats share weights). */
  readonly layerMap: readonly number[];
  /** One entry per stored layer (length = the config's layer count). */
  readonly layers: readonly EmulatorLayerLayout[];
}

export const EMULATOR_CONFIG_KEY = 'peft_lab_emulator';

/** GPT-2's fused c_attn, when compressed, is stored as three factorized maps (q, k, v parts of its output). */
export const GPT2_QKV_PARTS = ['attn.c_attn.q', 'attn.c_attn.k', 'attn.c_attn.v'] as const;

/**
 * Parses and checks the block; `fail(key, detail)` throws naming config.json and the key.
 * @param numLayers the config's stored layer count
 */
export function parseEmulatorLayout(raw: unknown, numLayers: number, fail: (key: string, detail: string) => never): EmulatorLayout {
  const K = EMULATOR_CONFIG_KEY;
  if (!isRecord(raw)) fail(K, 'expected an object');
  const int = (v: unknown, key: string, min: number): number => {
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min) fail(key, `expected an integer >= ${min}, got ${JSON.stringify(v)}`);
    return v;
  };
  const method = raw.method;
  if (typeof method !== 'string') fail(`${K}.method`, `expected a string, got ${JSON.stringify(method)}`);
  const adapters = raw.adapter_layers;
  if (!Array.isArray(adapters) || adapters.length !== 2) fail(`${K}.adapter_layers`, 'expected [bottom, top]');
  const adapterLayers: [number, number] = [int(adapters[0], `${K}.adapter_layers[0]`, 0), int(adapters[1], `${K}.adapter_layers[1]`, 0)];
  const originalNumLayers = int(raw.original_num_layers, `${K}.original_num_layers`, 1);
  const layersRaw = raw.layers;
  if (!Array.isArray(layersRaw) || layersRaw.length !== numLayers) {
    fail(`${K}.layers`, `expected an array with one entry per stored layer (${numLayers})`);
  }
  const layers = layersRaw.map((l, i): EmulatorLayerLayout => {
    const key = `${K}.layers[${i}]`;
    if (!isRecord(l)) fail(key, 'expected an object');
    const source = int(l.source, `${key}.source`, 0);
    if (source >= originalNumLayers) fail(`${key}.source`, `${source} is not below original_num_layers ${originalNumLayers}`);
    const factorized: Record<string, number> = {};
    if (l.factorized !== undefined) {
      if (!isRecord(l.factorized)) fail(`${key}.factorized`, 'expected an object {module path: rank}');
      for (const [p, r] of Object.entries(l.factorized)) factorized[p] = int(r, `${key}.factorized.${p}`, 1);
    }
    const parts = GPT2_QKV_PARTS.filter((p) => factorized[p] !== undefined).length;
    if (parts !== 0 && parts !== GPT2_QKV_PARTS.length) fail(`${key}.factorized`, `${GPT2_QKV_PARTS.join(', ')} must be factorized together`);
    return {
      source, factorized,
      ...(l.intermediate_size === undefined ? {} : { intermediateSize: int(l.intermediate_size, `${key}.intermediate_size`, 1) }),
    };
  });
  const mapRaw = raw.layer_map;
  if (!Array.isArray(mapRaw) || mapRaw.length === 0) fail(`${K}.layer_map`, 'expected a non-empty array of stored layer indices');
  const layerMap = mapRaw.map((v, i) => {
    const idx = int(v, `${K}.layer_map[${i}]`, 0);
    if (idx >= numLayers) fail(`${K}.layer_map[${i}]`, `${idx} is not a stored layer (0..${numLayers - 1})`);
    return idx;
  });
  return { method, adapterLayers, originalNumLayers, layerMap, layers };
}

/** The layout as written to config.json (inverse of parseEmulatorLayout). */
export function emulatorLayoutToJson(layout: EmulatorLayout): Record<string, unknown> {
  return {
    method: layout.method,
    adapter_layers: [...layout.adapterLayers],
    original_num_layers: layout.originalNumLayers,
    layer_map: [...layout.layerMap],
    layers: layout.layers.map((l) => ({
      source: l.source,
      ...(Object.keys(l.factorized).length > 0 ? { factorized: { ...l.factorized } } : {}),
      ...(l.intermediateSize === undefined ? {} : { intermediate_size: l.intermediateSize }),
    })),
  };
}
