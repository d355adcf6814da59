// Full fine-tuning of the linear weights of chosen decoder layers (offsite `adapterPeft: "full"`), as a trainable
// additive delta per linear map: y = base(x) + x dW^T with dW [out, in] a graph input initialised to 0. Since
// y = x (W + dW)^T (+ b), dL/d(dW) = dL/dW at W + dW, so training dW is exactly full fine-tuning of W (for
// GPT-2's Conv1D, stored [in, out], the tuned weight is W + dW^T) with SGD or AdamW without weight decay; with
// weight decay > 0, AdamW decays dW rather than W. Norms, biases and embeddings are not tuned. The frozen W stays an initializer; only dW is differentiated.
import type { GraphBuilder } from '../../graph/builder';
import type { LinearHook, LinearSite } from '../../models/layers';
import type { LoadedModel } from '../../models/model';
import {
  byLayerThenPath, layerScaler, type AdapterMask, type AdapterTensor, type PeftHookOptions, type PerLayerAdapter,
} from '../../peft/perLayer';
import { PeftSessionRunner, type SessionSettings } from '../../train/peftGraph';

/** One tuned linear map: dW [out, in], row-major float32. */
export interface DeltaModule {
  readonly path: string;
  readonly module: string;
  readonly layer: number;
  readonly inFeatures: number;
  readonly outFeatures: number;
  readonly delta: Float32Array;
}

/** Graph input name of a map's delta. */
export function deltaInputName(path: string): string {
  return `delta.${path}.weight`;
}

/**
 * The deltas of every linear map in `layers` (site.layer), created (zero) on first sight and shared by every
 * graph. A per-layer PEFT method (peft/perLayer.ts), so the shared graphs and runner (train/peftGraph.ts) run it.
 */
export class FullDeltaAdapter implements PerLayerAdapter {
  readonly method = 'full';
  readonly dropoutRate = 0;
  readonly modules = new Map<string, DeltaModule>();

  constructor(readonly layers: readonly number[]) {}

  matches(site: Pick<LinearSite, 'layer'>): boolean {
    return this.layers.includes(site.layer);
  }

  hook(options: PeftHookOptions): LinearHook {
    const dtype = options.dtype ?? 'float32';
    const layerScale = layerScaler(options, 'full adapter');
    return (g: GraphBuilder, site: LinearSite) => {
      const base = site.base();
      if (!this.matches(site)) return base;
      let m = this.modules.get(site.path);
      if (m === undefined) {
        m = { path: site.path, module: site.module, layer: site.layer, inFeatures: site.inFeatures, outFeatures: site.outFeatures, delta: new Float32Array(site.outFeatures * site.inFeatures) };
        this.modules.set(site.path, m);
      }
      const d = g.input(deltaInputName(site.path), dtype, [m.outFeatures, m.inFeatures], { trainable: true });
      return g.add(base, layerScale(g, site, g.gemm(site.x, d, undefined, { transB: true })));
    };
  }

  assertMatched(): void {
    if (this.modules.size === 0) throw new Error(`full adapter: layers [${this.layers.join(', ')}] have no linear map in this model`);
  }

  /** Modules in a stable order (layer, then path). */
  ordered(): DeltaModule[] {
    return byLayerThenPath(this.modules.values());
  }

  trainables(): AdapterTensor[] {
    return this.ordered().map((m) => ({ name: deltaInputName(m.path), layer: m.layer, data: m.delta, dims: [m.outFeatures, m.inFeatures] }));
  }

  dropoutMasks(): AdapterMask[] {
    return [];
  }

  parameterCount(): number {
    let n = 0;
    for (const m of this.modules.values()) n += m.delta.length;
    return n;
  }
}

/** Float32 train and score sessions of a model with a FullDeltaAdapter. */
export class DeltaRunner extends PeftSessionRunner<FullDeltaAdapter> {
  constructor(model: LoadedModel, adapter: FullDeltaAdapter, settings: SessionSettings) {
    super(model, adapter, settings);
  }
}
