// What the shared graph builder and runner (train/peftGraph.ts) need from a per-layer PEFT method that attaches
// to the models' LinearHook: LoRA (lora.ts) and the bottleneck adapters (bottleneck.ts). Each method owns its
// tensors and graph inputs; the runner only feeds them, reads their gradients and draws their dropout masks.
import type { GraphBuilder } from '../graph/builder';
import type { Tensor } from '../graph/tensor';
import type { LinearHook, LinearSite } from '../models/layers';
import type { Rng } from '../util/random';

/**
 * Graph input [L] of per-layer multipliers of the PEFT output, shared by every per-layer method (entry l
 * multiplies the adapter output of every module in layer l; IST's suppression rollouts feed 1 everywhere but
 * the suppressed layers). The name predates the bottleneck adapters and is kept so LoRA graphs do not change.
 */
export const LAYER_SCALE_INPUT = 'lora_layer_scale';

export interface PeftHookOptions {
  /** Training graph: dropout masks become inputs when the method's dropout p > 0. */
  readonly train: boolean;
  /** float64 is for gradient checks; the feeds are then converted by the caller. */
  readonly dtype?: 'float32' | 'float64';
  /** Adds LAYER_SCALE_INPUT [layerScaleCount] to the graph. */
  readonly layerScaleCount?: number;
}

/** One trainable graph input and the live values the optimizer updates in place. */
export interface AdapterTensor {
  readonly name: string;
  readonly layer: number;
  readonly data: Float32Array;
  readonly dims: readonly number[];
}

/** A dropout mask input [tokens, features] of a train graph. */
export interface AdapterMask {
  readonly name: string;
  readonly features: number;
}

export interface PerLayerAdapter {
  /** For session labels and messages: 'lora', 'bottleneck'. */
  readonly method: string;
  /** Dropout probability on the adapter input (0 = no mask inputs). */
  readonly dropoutRate: number;
  hook(options: PeftHookOptions): LinearHook;
  /** Throws when a built graph adapted nothing (the targets matched no module). */
  assertMatched(availableModules: readonly string[]): void;
  /** Trainable inputs in gradient order (stable: by layer, then module path). */
  trainables(): AdapterTensor[];
  /** Mask inputs of train graphs, in the order their values are drawn. */
  dropoutMasks(): AdapterMask[];
  parameterCount(): number;
}

/**
 * Per-layer scale state of one hook: the LAYER_SCALE_INPUT tensor is created on the first adapted site, and
 * `apply` multiplies a site's adapter output by its layer's entry.
 */
export function layerScaler(options: PeftHookOptions, what: string): (g: GraphBuilder, site: LinearSite, delta: Tensor) => Tensor {
  let layerScale: Tensor | undefined;
  const count = options.layerScaleCount;
  return (g, site, delta) => {
    if (count === undefined) return delta;
    if (site.layer < 0 || site.layer >= count) {
      throw new Error(`${what} ${site.path}: layer ${site.layer} is outside the ${count} entries of ${LAYER_SCALE_INPUT}`);
    }
    layerScale ??= g.input(LAYER_SCALE_INPUT, options.dtype ?? 'float32', [count]);
    return g.mul(delta, g.slice(layerScale, [site.layer], [site.layer + 1], [0]));
  };
}

/** The error of targets that matched nothing, naming the model's modules. */
export function unmatchedTargetsError(targets: readonly string[], availableModules: readonly string[]): Error {
  const unique = [...new Set(availableModules)];
  return new Error(`peft.targets [${targets.join(', ')}] match no projection of the model (its modules: ${unique.join(', ')})`);
}

/** Sorts modules by layer, then path (the gradient order of every per-layer method). */
export function byLayerThenPath<T extends { layer: number; path: string }>(modules: Iterable<T>): T[] {
  return [...modules].sort((x, y) => x.layer - y.layer || (x.path < y.path ? -1 : x.path > y.path ? 1 : 0));
}

/** A seeded 0/1 dropout mask of n values (keep probability 1 - p). */
export function dropoutMask(n: number, p: number, rng: Rng): Float32Array {
  const mask = new Float32Array(n);
  for (let i = 0; i < n; i++) mask[i] = rng.uniform() >= p ? 1 : 0;
  return mask;
}
