// Bottleneck adapters attached to named linear maps through the models' LinearHook, as LLM-Adapters (Hu et al.
// 2023, "LLM-Adapters: An Adapter Family for Parameter-Efficient Fine-Tuning of Large Language Models") wraps a
// target module: a down-projection W_down [size, d] + b_down, a nonlinearity f, an up-projection W_up [out, size]
// + b_up and a scaling s.
//  - series (Houlsby et al. 2019, "Parameter-Efficient Transfer Learning for NLP"): the adapter reads the
//    module's output y:  y' = y + s (W_up f(W_down y + b_down) + b_up),  d = out;
//  - parallel (He et al. 2022, "Towards a Unified View of Parameter-Efficient Transfer Learning"): it reads the
//    module's input x:   y' = y + s (W_up f(W_down x + b_down) + b_up),  d = in.
// LLM-Adapters' default is series on the MLP output projection (LLaMA down_proj, GPT-2 mlp c_proj).
// Initialisation: W_down as LoRA's A, kaiming_uniform_(a = sqrt(5)), i.e. U(-1/sqrt(d), 1/sqrt(d)); W_up = 0 and
// both biases 0 (the zero up-projection of LoRA-style adapter initialisations), so the adapter output is exactly 0
// and training starts at the base model. (LLM-Adapters' layers have no biases; ours start at 0, so
// an adapter saved without them loads as the same function.)
import { dropout as dropoutOp, silu } from '../graph/composites';
import type { GraphBuilder } from '../graph/builder';
import type { Tensor } from '../graph/tensor';
import type { LinearHook, LinearSite } from '../models/layers';
import type { Rng } from '../util/random';
import { kaimingUniformBound } from './lora';
import {
  byLayerThenPath, layerScaler, unmatchedTargetsError,
  type AdapterMask, type AdapterTensor, type PeftHookOptions, type PerLayerAdapter,
} from './perLayer';

export type BottleneckPlacement = 'series' | 'parallel';
/** LLM-Adapters' non_linearity names (transformers' ACT2FN keys). */
export type BottleneckActivation = 'tanh' | 'relu' | 'silu';

export interface BottleneckSpec {
  readonly placement: BottleneckPlacement;
  readonly bottleneckSize: number;
  readonly activation: BottleneckActivation;
  readonly scaling: number;
  readonly dropout: number;
  /** Module names as the model names them (site.module): down_proj, c_proj, ... */
  readonly targets: readonly string[];
}

/** One adapted projection, row-major float32. */
export interface BottleneckModule {
  /** Hugging Face module path of the wrapped projection, e.g. `model.layers.0.mlp.down_proj`. */
  readonly path: string;
  readonly module: string;
  readonly layer: number;
  readonly inFeatures: number;
  readonly outFeatures: number;
  /** Width the adapter reads: outFeatures (series) or inFeatures (parallel). */
  readonly adapterFeatures: number;
  /** W_down [size, adapterFeatures]. */
  readonly down: Float32Array;
  /** b_down [size]. */
  readonly downBias: Float32Array;
  /** W_up [outFeatures, size]. */
  readonly up: Float32Array;
  /** b_up [outFeatures]. */
  readonly upBias: Float32Array;
}

/** Graph input names of a module's tensors. */
export function bottleneckInputNames(path: string): { down: string; downBias: string; up: string; upBias: string; mask: string } {
  const p = `bottleneck.${path}`;
  return { down: `${p}.down`, downBias: `${p}.down_bias`, up: `${p}.up`, upBias: `${p}.up_bias`, mask: `${p}.dropout_mask` };
}

function activate(g: GraphBuilder, x: Tensor, f: BottleneckActivation): Tensor {
  switch (f) {
    case 'tanh':
      return g.tanh(x);
    case 'silu':
      return silu(g, x);
    case 'relu':
      // max(x, 0) as Where(x > 0, x, 0): Where has a gradient rule (the condition is a constant of the tape).
      return g.where(g.greater(x, 0), x, 0);
  }
}

/**
 * The adapter weights of a model, created on first sight of each targeted projection (graph order, so the
 * initialisation is deterministic for a seed) and shared by every graph built with `hook()`.
 */
export class BottleneckAdapter implements PerLayerAdapter {
  readonly method = 'bottleneck';
  readonly modules = new Map<string, BottleneckModule>();

  constructor(readonly spec: BottleneckSpec, private readonly initRng: Rng) {
    if (!Number.isInteger(spec.bottleneckSize) || spec.bottleneckSize < 1) throw new RangeError(`bottleneck size must be a positive integer, got ${spec.bottleneckSize}`);
    if (!Number.isFinite(spec.scaling)) throw new RangeError(`bottleneck scaling must be finite, got ${spec.scaling}`);
    if (!(spec.dropout >= 0 && spec.dropout < 1)) throw new RangeError(`bottleneck dropout must be in [0, 1), got ${spec.dropout}`);
    if (!['tanh', 'relu', 'silu'].includes(spec.activation)) throw new RangeError(`bottleneck activation must be tanh, relu or silu, got ${String(spec.activation)}`);
    if (spec.placement !== 'series' && spec.placement !== 'parallel') throw new RangeError(`bottleneck placement must be series or parallel, got ${String(spec.placement)}`);
  }

  get dropoutRate(): number {
    return this.spec.dropout;
  }

  matches(site: Pick<LinearSite, 'module'>): boolean {
    return this.spec.targets.includes(site.module);
  }

  /** The module for a site, created (W_down Kaiming-uniform, the rest zero) when first seen. */
  moduleFor(site: LinearSite): BottleneckModule {
    const existing = this.modules.get(site.path);
    if (existing !== undefined) {
      if (existing.inFeatures !== site.inFeatures || existing.outFeatures !== site.outFeatures) {
        throw new Error(`bottleneck ${site.path}: adapter is for [${existing.outFeatures} x ${existing.inFeatures}], the model's projection is [${site.outFeatures} x ${site.inFeatures}]`);
      }
      return existing;
    }
    const size = this.spec.bottleneckSize;
    const d = this.spec.placement === 'series' ? site.outFeatures : site.inFeatures;
    const bound = kaimingUniformBound(d);
    const down = new Float32Array(size * d);
    for (let i = 0; i < down.length; i++) down[i] = (this.initRng.uniform() * 2 - 1) * bound;
    const m: BottleneckModule = {
      path: site.path, module: site.module, layer: site.layer, inFeatures: site.inFeatures, outFeatures: site.outFeatures, adapterFeatures: d,
      down, downBias: new Float32Array(size), up: new Float32Array(site.outFeatures * size), upBias: new Float32Array(site.outFeatures),
    };
    this.modules.set(site.path, m);
    return m;
  }

  /**
   * A LinearHook that adds the adapter to the targeted projections. With `train` and dropout p > 0 the adapter
   * input gets a mask input [tokens, adapterFeatures] (values 0 or 1; the graph divides by 1 - p). With
   * `layerScaleCount` = L the graph takes LAYER_SCALE_INPUT [L] (perLayer.ts), entry l multiplying the whole
   * adapter output s (W_up f(.) + b_up) of layer l's modules, as LoRA's.
   */
  hook(options: PeftHookOptions): LinearHook {
    const dtype = options.dtype ?? 'float32';
    const layerScale = layerScaler(options, 'bottleneck');
    return (g: GraphBuilder, site: LinearSite): Tensor => {
      const y = site.base();
      if (!this.matches(site)) return y;
      const m = this.moduleFor(site);
      const names = bottleneckInputNames(site.path);
      const size = this.spec.bottleneckSize;
      const down = g.input(names.down, dtype, [size, m.adapterFeatures], { trainable: true });
      const downBias = g.input(names.downBias, dtype, [size], { trainable: true });
      const up = g.input(names.up, dtype, [m.outFeatures, size], { trainable: true });
      const upBias = g.input(names.upBias, dtype, [m.outFeatures], { trainable: true });
      let h = this.spec.placement === 'series' ? y : site.x;
      if (options.train && this.spec.dropout > 0) {
        const mask = g.input(names.mask, dtype, [h.shape[0] ?? 0, m.adapterFeatures]);
        h = dropoutOp(g, h, mask, this.spec.dropout);
      }
      const hidden = activate(g, g.gemm(h, down, downBias, { transB: true }), this.spec.activation);
      const out = g.gemm(hidden, up, upBias, { transB: true });
      return g.add(y, layerScale(g, site, g.mul(out, this.spec.scaling)));
    };
  }

  assertMatched(availableModules: readonly string[]): void {
    if (this.modules.size === 0) throw unmatchedTargetsError(this.spec.targets, availableModules);
  }

  /** Modules in a stable order (layer, then path). */
  ordered(): BottleneckModule[] {
    return byLayerThenPath(this.modules.values());
  }

  /** W_down, b_down, W_up, b_up of each module, in ordered() order. */
  trainables(): AdapterTensor[] {
    const size = this.spec.bottleneckSize;
    return this.ordered().flatMap((m) => {
      const n = bottleneckInputNames(m.path);
      return [
        { name: n.down, layer: m.layer, data: m.down, dims: [size, m.adapterFeatures] },
        { name: n.downBias, layer: m.layer, data: m.downBias, dims: [size] },
        { name: n.up, layer: m.layer, data: m.up, dims: [m.outFeatures, size] },
        { name: n.upBias, layer: m.layer, data: m.upBias, dims: [m.outFeatures] },
      ];
    });
  }

  /** One mask [tokens, adapterFeatures] per module (train graphs with dropout > 0). */
  dropoutMasks(): AdapterMask[] {
    return this.spec.dropout > 0 ? this.ordered().map((m) => ({ name: bottleneckInputNames(m.path).mask, features: m.adapterFeatures })) : [];
  }

  parameterCount(): number {
    let n = 0;
    for (const m of this.modules.values()) n += m.down.length + m.downBias.length + m.up.length + m.upBias.length;
    return n;
  }
}
