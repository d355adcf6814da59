// LoRA (Hu et al. 2021, "LoRA: Low-Rank Adaptation of Large Language Models") attached to named linear maps
// through the models' LinearHook: y = base(x) + s * (dropout(x) A^T) B^T with A [r, in], B [out, r] as trainable
// graph inputs (Hugging Face PEFT's lora_A / lora_B layouts, for torch Linear and GPT-2 Conv1D alike: PEFT's
// fan_in_fan_out only transposes the frozen base weight). s = alpha / r, or alpha / sqrt(r) with rsLoRA
// (Kalajdzievski 2023). Initialisation as PEFT's LoraLayer.reset_lora_parameters(init_lora_weights=True):
// A ~ kaiming_uniform_(a = sqrt(5)), i.e. U(-1/sqrt(in), 1/sqrt(in)); B = 0, so training starts at the base model.
import { dropout as dropoutOp } from '../graph/composites';
import type { GraphBuilder } from '../graph/builder';
import type { Tensor } from '../graph/tensor';
import type { LinearHook, LinearSite } from '../models/layers';
import type { Rng } from '../util/random';
import {
  byLayerThenPath, LAYER_SCALE_INPUT, layerScaler, unmatchedTargetsError,
  type AdapterMask, type AdapterTensor, type PeftHookOptions, type PerLayerAdapter,
} from './perLayer';

export { dropoutMask } from './perLayer';

export interface LoraSpec {
  readonly r: number;
  readonly alpha: number;
  readonly dropout: number;
  /** Module names as the model names them (site.module): c_attn, q_proj, ... */
  readonly targets: readonly string[];
  /** rsLoRA: scaling alpha / sqrt(r) instead of alpha / r. */
  readonly rsLora?: boolean;
  /** Only these decoder layers (site.layer, the checkpoint's layer index) are adapted; default every layer. */
  readonly layers?: readonly number[];
}

/** One adapted projection: A [r, in] and B [out, r], row-major float32. */
export interface LoraModule {
  /** Hugging Face module path, e.g. `model.layers.0.self_attn.q_proj`. */
  readonly path: string;
  readonly module: string;
  readonly layer: number;
  readonly inFeatures: number;
  readonly outFeatures: number;
  readonly a: Float32Array;
  readonly b: Float32Array;
}

/** LoRA scaling factor: alpha / r (Hu et al.), or alpha / sqrt(r) (rsLoRA, Kalajdzievski 2023). */
export function loraScaling(spec: Pick<LoraSpec, 'r' | 'alpha' | 'rsLora'>): number {
  return spec.rsLora === true ? spec.alpha / Math.sqrt(spec.r) : spec.alpha / spec.r;
}

/**
 * Bound of torch.nn.init.kaiming_uniform_(w, a) for fan_in: gain * sqrt(3 / fan_in), gain = sqrt(2 / (1 + a^2)).
 * With PEFT's a = sqrt(5) this is 1 / sqrt(fan_in).
 */
export function kaimingUniformBound(fanIn: number, a = Math.sqrt(5)): number {
  return Math.sqrt(2 / (1 + a * a)) * Math.sqrt(3 / fanIn);
}

/** Checks r, alpha and dropout of a LoRA-style spec (LoRA and DoRA share them); `method` names it in the message. */
export function assertLoraSpec(spec: Pick<LoraSpec, 'r' | 'alpha' | 'dropout'>, method: string): void {
  if (!Number.isInteger(spec.r) || spec.r < 1) throw new RangeError(`${method} r must be a positive integer, got ${spec.r}`);
  if (!(spec.alpha > 0)) throw new RangeError(`${method} alpha must be > 0, got ${spec.alpha}`);
  if (!(spec.dropout >= 0 && spec.dropout < 1)) throw new RangeError(`${method} dropout must be in [0, 1), got ${spec.dropout}`);
}

/** Whether a LoRA-style spec adapts `site`: its module is a target, in one of `layers` when given. */
export function loraTargets(spec: Pick<LoraSpec, 'targets' | 'layers'>, site: Pick<LinearSite, 'module' | 'layer'>): boolean {
  return spec.targets.includes(site.module) && (spec.layers === undefined || spec.layers.includes(site.layer));
}

/** A module already made for `site` must have its shape; throws naming the method and path otherwise. */
export function assertModuleShape(existing: { inFeatures: number; outFeatures: number }, site: LinearSite, method: string): void {
  if (existing.inFeatures !== site.inFeatures || existing.outFeatures !== site.outFeatures) {
    throw new Error(`${method} ${site.path}: adapter is [${existing.outFeatures} x ${existing.inFeatures}], the model's projection is [${site.outFeatures} x ${site.inFeatures}]`);
  }
}

/** LoRA's A [r, in], Kaiming-uniform as PEFT initialises it, drawn from `rng` in row-major order. */
export function kaimingUniformA(rng: Rng, r: number, inFeatures: number): Float32Array {
  const bound = kaimingUniformBound(inFeatures);
  const a = new Float32Array(r * inFeatures);
  for (let i = 0; i < a.length; i++) a[i] = (rng.uniform() * 2 - 1) * bound;
  return a;
}

/** Graph input [L] of per-layer multipliers of the LoRA output (see LoraAdapter.hook's layerScaleCount). */
export const LORA_LAYER_SCALE_INPUT = LAYER_SCALE_INPUT;

/** Graph input names of a module's tensors. */
export function loraInputNames(path: string): { a: string; b: string; mask: string } {
  return { a: `lora.${path}.A`, b: `lora.${path}.B`, mask: `lora.${path}.dropout_mask` };
}

/**
 * The adapter weights of a model, created on first sight of each targeted projection (graph order, so the
 * initialisation is deterministic for a seed) and shared by every graph built with `hook()`.
 */
export class LoraAdapter implements PerLayerAdapter {
  readonly method = 'lora';
  readonly modules = new Map<string, LoraModule>();
  /** Per-module multiplier of the scaling (IST's suppression sets use it); default 1. */
  readonly scaleOverrides = new Map<string, number>();

  constructor(readonly spec: LoraSpec, private readonly initRng: Rng) {
    assertLoraSpec(spec, 'LoRA');
  }

  get dropoutRate(): number {
    return this.spec.dropout;
  }

  get scaling(): number {
    return loraScaling(this.spec);
  }

  matches(site: Pick<LinearSite, 'module' | 'layer'>): boolean {
    return loraTargets(this.spec, site);
  }

  /** The module for a site, created (A Kaiming-uniform, B zero) when first seen. */
  moduleFor(site: LinearSite): LoraModule {
    const existing = this.modules.get(site.path);
    if (existing !== undefined) {
      assertModuleShape(existing, site, 'LoRA');
      return existing;
    }
    const { r } = this.spec;
    const a = kaimingUniformA(this.initRng, r, site.inFeatures);
    const m: LoraModule = {
      path: site.path, module: site.module, layer: site.layer, inFeatures: site.inFeatures, outFeatures: site.outFeatures,
      a, b: new Float32Array(site.outFeatures * r),
    };
    this.modules.set(site.path, m);
    return m;
  }

  /**
   * A LinearHook that wraps the targeted projections. With `train`, dropout p > 0 adds an input mask
   * [tokens, in] per module (values 0 or 1; the graph divides by 1 - p), so the seeded mask is drawn in TypeScript.
   * `dtype` float64 is for gradient checks; the feeds are then converted by the caller.
   * With `layerScaleCount` = L, the graph gets one more input LORA_LAYER_SCALE_INPUT [L] whose entry l multiplies
   * the LoRA output of every module in layer l (IST's suppression rollouts feed 1 everywhere but the suppressed
   * layers, so one session serves every suppression set).
   */
  hook(options: PeftHookOptions): LinearHook {
    const dtype = options.dtype ?? 'float32';
    const layerScale = layerScaler(options, 'LoRA');
    return (g: GraphBuilder, site: LinearSite): Tensor => {
      const base = site.base();
      if (!this.matches(site)) return base;
      const m = this.moduleFor(site);
      const names = loraInputNames(site.path);
      const { r } = this.spec;
      const a = g.input(names.a, dtype, [r, m.inFeatures], { trainable: true });
      const b = g.input(names.b, dtype, [m.outFeatures, r], { trainable: true });
      let x = site.x;
      if (options.train && this.spec.dropout > 0) {
        const mask = g.input(names.mask, dtype, [site.x.shape[0] ?? 0, m.inFeatures]);
        x = dropoutOp(g, x, mask, this.spec.dropout);
      }
      const down = g.gemm(x, a, undefined, { transB: true });
      const up = g.gemm(down, b, undefined, { transB: true });
      const scale = this.scaling * (this.scaleOverrides.get(site.path) ?? 1);
      return g.add(base, layerScale(g, site, g.mul(up, scale)));
    };
  }

  /** Checks that the targets matched something once a graph has been built. */
  assertMatched(availableModules: readonly string[]): void {
    if (this.modules.size === 0) throw unmatchedTargetsError(this.spec.targets, availableModules);
  }

  /** Modules in a stable order (layer, then path). */
  ordered(): LoraModule[] {
    return byLayerThenPath(this.modules.values());
  }

  /** A then B of each module, in ordered() order. */
  trainables(): AdapterTensor[] {
    const { r } = this.spec;
    return this.ordered().flatMap((m) => {
      const names = loraInputNames(m.path);
      return [
        { name: names.a, layer: m.layer, data: m.a, dims: [r, m.inFeatures] },
        { name: names.b, layer: m.layer, data: m.b, dims: [m.outFeatures, r] },
      ];
    });
  }

  /** One input mask [tokens, in] per module (train graphs with dropout > 0). */
  dropoutMasks(): AdapterMask[] {
    return this.spec.dropout > 0 ? this.ordered().map((m) => ({ name: loraInputNames(m.path).mask, features: m.inFeatures })) : [];
  }

  parameterCount(): number {
    let n = 0;
    for (const m of this.modules.values()) n += m.a.length + m.b.length;
    return n;
  }
}
