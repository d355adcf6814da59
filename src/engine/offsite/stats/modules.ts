/**
 * Which linear maps of a decoder layer an emulator compresses, per architecture family, by path relative to the
 * layer: the attention projections (DRD) and the MLP's up / gate / down projections (SCP). GPT-2's fused c_attn
 * [in, 3 H] is compressed as its three [H, H] parts q, k, v (emulatorLayout.ts GPT2_QKV_PARTS): q, k and v are
 * different maps that only share their input, so each gets its own SVD and rank budget, as in LLaMA and OPT.
 */
import type { ModelConfig } from '../../models/config';

export interface LayerModules {
  /** Attention projections as they appear in the checkpoint (GPT-2: the fused c_attn, then c_proj). */
  readonly attention: readonly string[];
  readonly mlp: { readonly up: string; readonly gate?: string; readonly down: string };
  /** Stored layout of the weights ('in_out' for GPT-2 Conv1D). */
  readonly layout: 'out_in' | 'in_out';
}

export function layerModules(config: ModelConfig): LayerModules {
  switch (config.family) {
    case 'gpt2':
      return { attention: ['attn.c_attn', 'attn.c_proj'], mlp: { up: 'mlp.c_fc', down: 'mlp.c_proj' }, layout: 'in_out' };
    case 'llama':
      return {
        attention: ['self_attn.q_proj', 'self_attn.k_proj', 'self_attn.v_proj', 'self_attn.o_proj'],
        mlp: { gate: 'mlp.gate_proj', up: 'mlp.up_proj', down: 'mlp.down_proj' },
        layout: 'out_in',
      };
    case 'opt':
      return {
        attention: ['self_attn.q_proj', 'self_attn.k_proj', 'self_attn.v_proj', 'self_attn.out_proj'],
        mlp: { up: 'fc1', down: 'fc2' },
        layout: 'out_in',
      };
  }
}

/** Hugging Face name prefix of decoder layer l, e.g. `model.layers.3.`. */
export function layerPrefix(config: ModelConfig, l: number): string {
  switch (config.family) {
    case 'gpt2': return `transformer.h.${l}.`;
    case 'llama': return `model.layers.${l}.`;
    case 'opt': return `model.decoder.layers.${l}.`;
  }
}

/** The MLP's intermediate width from the config. */
export function intermediateSize(config: ModelConfig): number {
  switch (config.family) {
    case 'gpt2': return config.innerSize;
    case 'llama': return config.intermediateSize;
    case 'opt': return config.ffnDim;
  }
}

/** Whether the MLP projections have biases (the first layer's bias is pruned with its channels). */
export function mlpHasBias(config: ModelConfig): boolean {
  switch (config.family) {
    case 'gpt2': return true;
    case 'llama': return config.mlpBias;
    case 'opt': return config.enableBias;
  }
}

/**
 * The middle layers between the adapters: [bottom, numLayers - top). Throws unless at least one layer is left.
 */
export function middleLayers(numLayers: number, adapterLayers: readonly [number, number]): number[] {
  const [bottom, top] = adapterLayers;
  if (!Number.isInteger(bottom) || !Number.isInteger(top) || bottom < 0 || top < 0) {
    throw new Error(`offsite.adapterLayers: [${bottom}, ${top}] must be two non-negative integers`);
  }
  if (bottom + top >= numLayers) {
    throw new Error(`offsite.adapterLayers: [${bottom}, ${top}] leave no middle layer in a ${numLayers}-layer model`);
  }
  return Array.from({ length: numLayers - bottom - top }, (_, i) => bottom + i);
}
