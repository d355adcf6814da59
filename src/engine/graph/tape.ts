// The tape: every differentiable op the builder emits, in emission (= topological) order, with its gradient rule.
import type { Tensor } from './tensor';
import type { GraphBuilder } from './builder';

export interface GradContext {
  readonly inputs: readonly Tensor[];
  readonly outputs: readonly Tensor[];
  /** dL/d(output i), or null when no gradient flows into that output. At least one is non-null. */
  readonly dOutputs: readonly (Tensor | null)[];
  /** needs[i]: the gradient of input i is wanted (it lies on a path from a differentiated tensor). */
  readonly needs: readonly boolean[];
}

/** Emits the backward nodes of one op on the builder; returns dL/d(input i) (null where not needed). */
export type GradRule = (b: GraphBuilder, ctx: GradContext) => (Tensor | null)[];

export interface TapeEntry {
  readonly opType: string;
  readonly nodeName: string;
  readonly inputs: readonly Tensor[];
  readonly outputs: readonly Tensor[];
  /** null: the op is not differentiable (comparisons, casts to integers); gradients stop there. */
  readonly rule: GradRule | null;
}
