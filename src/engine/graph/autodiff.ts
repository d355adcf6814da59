// Reverse-mode autodiff over the builder's tape. Only tensors on a path from a differentiated tensor (the
// `wrt` tensors and the hooked tensors) to the loss get gradients, so frozen weights cost nothing. Gradients
// reaching a tensor from several consumers are accumulated with one Sum node.
import type { GraphBuilder } from './builder';
import { GraphBuildError } from './errors';
import { formatShape, sameShape } from './shape';
import type { Tensor } from './tensor';

export interface GradientOptions {
  /** Tensors to differentiate with respect to (default: the builder's trainable inputs). Any float tensor. */
  wrt?: readonly Tensor[];
  /**
   * Output-gradient hooks: tensors y whose dL/dy is wanted (e.g. the output of a linear layer, for KFAC or
   * per-example gradients). They count as differentiation sources, so dL/dy is produced even when nothing
   * upstream of y is trainable.
   */
  hooks?: readonly Tensor[];
  /** Declare the gradients as graph outputs named `${prefix}${tensor.name}` (default true). */
  addOutputs?: boolean;
  /** Output name prefix (default 'grad.'). */
  prefix?: string;
  /**
   * dL/d(loss) when `loss` is an intermediate tensor of a larger objective (default 1): a vector-Jacobian
   * product, as layer-granular execution runs the backward pass one block at a time.
   */
  seed?: Tensor;
}

export interface GradientResult {
  /** dL/dw for each `wrt` tensor (zeros when the loss does not depend on it). */
  readonly grads: Map<Tensor, Tensor>;
  /** dL/dy for each hooked tensor. */
  readonly hookGrads: Map<Tensor, Tensor>;
  /** The graph output names, in the order wrt then hooks (empty when addOutputs is false). */
  readonly outputNames: string[];
}

export function gradients(b: GraphBuilder, loss: Tensor, options: GradientOptions = {}): GradientResult {
  const wrt = options.wrt ?? b.trainableInputs;
  const hooks = options.hooks ?? [];
  const prefix = options.prefix ?? 'grad.';
  for (const t of [...wrt, ...hooks]) {
    if (t.dtype !== 'float32' && t.dtype !== 'float64') throw new GraphBuildError(`gradients: cannot differentiate with respect to ${t}`);
  }
  if (loss.dtype !== 'float32' && loss.dtype !== 'float64') throw new GraphBuildError(`gradients: loss ${loss} must be float`);
  const tape = [...b.tape];

  // Forward: which tensors depend on a source.
  const dependent = new Set<number>([...wrt, ...hooks].map((t) => t.id));
  for (const e of tape) if (e.rule !== null && e.inputs.some((t) => dependent.has(t.id))) for (const o of e.outputs) dependent.add(o.id);
  // Backward: which tensors the loss depends on.
  const reaches = new Set<number>([loss.id]);
  for (let i = tape.length - 1; i >= 0; i--) {
    const e = tape[i];
    if (e.outputs.some((t) => reaches.has(t.id))) for (const t of e.inputs) reaches.add(t.id);
  }

  const pending = new Map<number, Tensor[]>();
  const total = new Map<number, Tensor>();
  const accumulate = (t: Tensor, g: Tensor): void => {
    if (!sameShape(g.shape, t.shape) || g.dtype !== t.dtype) {
      throw new GraphBuildError(`gradients: gradient rule produced ${g.dtype}${formatShape(g.shape)} for ${t}`);
    }
    const list = pending.get(t.id) ?? [];
    list.push(g);
    pending.set(t.id, list);
  };
  const gradOf = (t: Tensor): Tensor | null => {
    const done = total.get(t.id);
    if (done) return done;
    const list = pending.get(t.id);
    if (!list) return null;
    const g = b.sum(list);
    total.set(t.id, g);
    return g;
  };

  accumulate(loss, options.seed ?? b.expand(b.scalar(1, loss.dtype), loss.shape));
  for (let i = tape.length - 1; i >= 0; i--) {
    const e = tape[i];
    if (e.rule === null) continue;
    const needs = e.inputs.map((t) => dependent.has(t.id) && reaches.has(t.id));
    if (!needs.some(Boolean)) continue;
    const dOutputs = e.outputs.map(gradOf);
    if (dOutputs.every((g) => g === null)) continue;
    const dInputs = e.rule(b, { inputs: e.inputs, outputs: e.outputs, dOutputs, needs });
    e.inputs.forEach((t, k) => {
      const g = dInputs[k];
      if (needs[k] && g) accumulate(t, g);
    });
  }

  const grads = new Map<Tensor, Tensor>();
  const hookGrads = new Map<Tensor, Tensor>();
  const outputNames: string[] = [];
  const finish = (t: Tensor, into: Map<Tensor, Tensor>): void => {
    let g = gradOf(t) ?? b.zeros(t.dtype, t.shape);
    if (options.addOutputs ?? true) {
      g = b.output(g, `${prefix}${t.name}`);
      outputNames.push(g.name);
    }
    into.set(t, g);
  };
  for (const t of wrt) finish(t, grads);
  for (const t of hooks) finish(t, hookGrads);
  return { grads, hookGrads, outputNames };
}
