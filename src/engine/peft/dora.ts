// DoRA (Liu et al. 2024, "DoRA: Weight-Decomposed Low-Rank Adaptation") attached to named linear maps through the
// models' LinearHook, in Hugging Face PEFT's formulation (LoRA with use_dora=True, peft/tuners/lora/dora.py):
//   W' = m * (W0 + s B A) / ||W0 + s B A||_c
// with A [r, in], B [out, r] as LoRA's (lora.ts), s = alpha / r (alpha / sqrt(r) with rsLoRA), the norm taken per
// output feature over the input dimension (row-wise in PyTorch's [out, in] layout, "column-wise" in the paper's
// [in, out] notation; for GPT-2's Conv1D, stored [in, out], the same per-output norm), and m [out] a trainable
// magnitude initialised to ||W0||_c, so training starts at the base model (B = 0).
// As PEFT computes it, the output is the base projection plus a correction (bias b not scaled by m):
//   y = base(x) + (m/n - 1) (x_d W0^T) + (m/n) s (x_d A^T B^T),   n = ||W0 + s B A||_c,
// where x_d = dropout(x) in training with p > 0 and x_d = x otherwise (PEFT then reuses base(x) - b for x W0^T).
// Note that with dropout PEFT's (m/n - 1) term reads the dropped input, and only base(x) reads the undropped one.
// Gradient of the norm: by default n is a constant of the backward ("detached"), as the paper's section 4.3
// suggests and PEFT does, so adapters trained here follow PEFT's training dynamics; `weightNorm: 'differentiated'`
// keeps the full chain rule through n (for checks), and 'fed' makes n a graph input (DORA_NORM_INPUT) so a test can
// evaluate the loss with n held fixed, the function whose gradient the detached backward is.
import { dropout as dropoutOp } from '../graph/composites';
import type { GraphBuilder } from '../graph/builder';
import type { Tensor } from '../graph/tensor';
import type { LinearHook, LinearSite } from '../models/layers';
import type { LoadedModel } from '../models/model';
import type { Rng } from '../util/random';
import { assertLoraSpec, assertModuleShape, kaimingUniformA, loraScaling, loraTargets, type LoraSpec } from './lora';
import {
  byLayerThenPath, layerScaler, unmatchedTargetsError,
  type AdapterMask, type AdapterTensor, type PeftHookOptions, type PerLayerAdapter,
} from './perLayer';

/** DoRA takes LoRA's settings (r, alpha, dropout, targets, rsLora, layers). */
export type DoraSpec = LoraSpec;

/** How the backward treats the weight norm n (see the file comment); 'detached' is PEFT's and the default. */
export type DoraWeightNorm = 'detached' | 'differentiated' | 'fed';

/** One adapted projection: A [r, in], B [out, r] and the magnitude m [out], row-major float32. */
export interface DoraModule {
  /** Hugging Face module path, e.g. `model.layers.0.self_attn.q_proj`. */
  readonly path: string;
  readonly module: string;
  readonly layer: number;
  readonly inFeatures: number;
  readonly outFeatures: number;
  /** Layout of the frozen weight (GPT-2 Conv1D: in_out). */
  readonly layout: 'out_in' | 'in_out';
  readonly a: Float32Array;
  readonly b: Float32Array;
  readonly magnitude: Float32Array;
}

/** The frozen weight of a site as stored ([out, in] or [in, out], site.layout), for the magnitude's start value. */
export type BaseWeightReader = (site: LinearSite) => ArrayLike<number>;

/** Reads `<path>.weight` of a loaded model (the name the model graphs give a hookable projection's weight). */
export function modelWeightReader(model: LoadedModel): BaseWeightReader {
  return (site) => model.weights.readFloat32(`${site.path}.weight`);
}

/** Graph input names of a module's tensors. */
export function doraInputNames(path: string): { a: string; b: string; magnitude: string; mask: string; norm: string } {
  const p = `dora.${path}`;
  return { a: `${p}.A`, b: `${p}.B`, magnitude: `${p}.magnitude`, mask: `${p}.dropout_mask`, norm: `${p}.weight_norm` };
}

/**
 * ||W0 + s B A||_c per output feature in float64, for a weight stored in `layout`; without `lora` (or with B = 0)
 * this is ||W0||_c, the magnitude's initial value.
 */
export function doraWeightNorm(
  w0: ArrayLike<number>, layout: 'out_in' | 'in_out', inFeatures: number, outFeatures: number,
  lora?: { a: ArrayLike<number>; b: ArrayLike<number>; r: number; scaling: number },
): Float64Array {
  const sq = new Float64Array(outFeatures);
  for (let o = 0; o < outFeatures; o++) {
    for (let i = 0; i < inFeatures; i++) {
      let w = w0[layout === 'out_in' ? o * inFeatures + i : i * outFeatures + o] ?? 0;
      if (lora !== undefined) {
        let ba = 0;
        for (let k = 0; k < lora.r; k++) ba += (lora.b[o * lora.r + k] ?? 0) * (lora.a[k * inFeatures + i] ?? 0);
        w += lora.scaling * ba;
      }
      sq[o] = (sq[o] ?? 0) + w * w;
    }
  }
  return sq.map(Math.sqrt);
}

/**
 * The DoRA weights of a model, created on first sight of each targeted projection (graph order, so the
 * initialisation is deterministic for a seed) and shared by every graph built with `hook()`. A and B start as
 * LoRA's (A Kaiming-uniform, B = 0), m as ||W0||_c read through `baseWeight`.
 */
export class DoraAdapter implements PerLayerAdapter {
  readonly method = 'dora';
  readonly modules = new Map<string, DoraModule>();
  readonly weightNorm: DoraWeightNorm;

  constructor(readonly spec: DoraSpec, private readonly initRng: Rng, private readonly baseWeight: BaseWeightReader,
    options: { weightNorm?: DoraWeightNorm } = {}) {
    assertLoraSpec(spec, 'DoRA');
    this.weightNorm = options.weightNorm ?? 'detached';
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

  /** The module for a site, created (A Kaiming-uniform, B zero, m = ||W0||_c) when first seen. */
  moduleFor(site: LinearSite): DoraModule {
    const existing = this.modules.get(site.path);
    if (existing !== undefined) {
      assertModuleShape(existing, site, 'DoRA');
      return existing;
    }
    const { r } = this.spec;
    const w0 = this.baseWeight(site);
    if (w0.length !== site.inFeatures * site.outFeatures) {
      throw new Error(`DoRA ${site.path}: the base weight has ${w0.length} values, the projection is [${site.outFeatures} x ${site.inFeatures}]`);
    }
    const a = kaimingUniformA(this.initRng, r, site.inFeatures);
    const m: DoraModule = {
      path: site.path, module: site.module, layer: site.layer, inFeatures: site.inFeatures, outFeatures: site.outFeatures, layout: site.layout,
      a, b: new Float32Array(site.outFeatures * r),
      magnitude: Float32Array.from(doraWeightNorm(w0, site.layout, site.inFeatures, site.outFeatures)),
    };
    this.modules.set(site.path, m);
    return m;
  }

  /**
   * A LinearHook that replaces the targeted projections by DoRA's. With `train` and dropout p > 0 the LoRA
   * branch (and PEFT's correction term) reads a masked input, mask input [tokens, in] (values 0 or 1; the graph
   * divides by 1 - p). With `layerScaleCount` = L the graph takes LAYER_SCALE_INPUT [L] (perLayer.ts), entry l
   * multiplying layer l's whole DoRA correction y - base(x), so 0 gives the base model as for LoRA.
   */
  hook(options: PeftHookOptions): LinearHook {
    const dtype = options.dtype ?? 'float32';
    const layerScale = layerScaler(options, 'DoRA');
    return (g: GraphBuilder, site: LinearSite): Tensor => {
      if (!this.matches(site)) return site.base();
      const m = this.moduleFor(site);
      const names = doraInputNames(site.path);
      const { r } = this.spec;
      const s = this.scaling;
      const a = g.input(names.a, dtype, [r, m.inFeatures], { trainable: true });
      const b = g.input(names.b, dtype, [m.outFeatures, r], { trainable: true });
      const magnitude = g.input(names.magnitude, dtype, [m.outFeatures], { trainable: true });
      const norm = this.normTensor(g, site, a, b, names.norm, dtype);
      const ratio = g.div(magnitude, norm); // m / n, [out], broadcast over the tokens
      const transB = site.layout === 'out_in';
      // x W0^T without the bias: the base output, and PEFT's correction term when there is no dropout.
      const plain = g.gemm(site.x, site.weight, undefined, { transB });
      let x = site.x;
      let corrected = plain;
      if (options.train && this.spec.dropout > 0) {
        const mask = g.input(names.mask, dtype, [site.x.shape[0] ?? 0, m.inFeatures]);
        x = dropoutOp(g, x, mask, this.spec.dropout);
        corrected = g.gemm(x, site.weight, undefined, { transB });
      }
      const lora = g.mul(g.gemm(g.gemm(x, a, undefined, { transB: true }), b, undefined, { transB: true }), s);
      const delta = g.add(g.mul(corrected, g.sub(ratio, 1)), g.mul(lora, ratio));
      const y = g.add(plain, layerScale(g, site, delta));
      return site.bias === undefined ? y : g.add(y, site.bias);
    };
  }

  /** n = ||W0 + s B A||_c [out] in the graph, computed in the weight's stored layout (no copy of W0 transposed). */
  private normTensor(g: GraphBuilder, site: LinearSite, a: Tensor, b: Tensor, fedName: string, dtype: 'float32' | 'float64'): Tensor {
    if (this.weightNorm === 'fed') return g.input(fedName, dtype, [site.outFeatures]);
    const compute = (): Tensor => {
      const outIn = site.layout === 'out_in';
      // [out, in] = B A for Linear; [in, out] = A^T B^T for Conv1D.
      const ba = outIn ? g.matmul(b, a) : g.gemm(a, b, undefined, { transA: true, transB: true });
      const w = g.add(site.weight, g.mul(ba, this.scaling));
      return g.sqrt(g.reduceSum(g.mul(w, w), [outIn ? 1 : 0], false));
    };
    // Untaped nodes have no gradient rule, so autodiff treats n as a constant: PEFT's weight_norm.detach().
    return this.weightNorm === 'detached' ? g.untaped(compute) : compute();
  }

  /** Checks that the targets matched something once a graph has been built. */
  assertMatched(availableModules: readonly string[]): void {
    if (this.modules.size === 0) throw unmatchedTargetsError(this.spec.targets, availableModules);
  }

  /** Modules in a stable order (layer, then path). */
  ordered(): DoraModule[] {
    return byLayerThenPath(this.modules.values());
  }

  /** A, B, then m of each module, in ordered() order. */
  trainables(): AdapterTensor[] {
    const { r } = this.spec;
    return this.ordered().flatMap((m) => {
      const names = doraInputNames(m.path);
      return [
        { name: names.a, layer: m.layer, data: m.a, dims: [r, m.inFeatures] },
        { name: names.b, layer: m.layer, data: m.b, dims: [m.outFeatures, r] },
        { name: names.magnitude, layer: m.layer, data: m.magnitude, dims: [m.outFeatures] },
      ];
    });
  }

  /** One input mask [tokens, in] per module (train graphs with dropout > 0). */
  dropoutMasks(): AdapterMask[] {
    return this.spec.dropout > 0 ? this.ordered().map((m) => ({ name: doraInputNames(m.path).mask, features: m.inFeatures })) : [];
  }

  parameterCount(): number {
    let n = 0;
    for (const m of this.modules.values()) n += m.a.length + m.b.length + m.magnitude.length;
    return n;
  }
}
