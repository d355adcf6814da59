// The tape: every differentiable op the builder emits, in emission (= topological) order, with its gradient rule.
import type { Tensor } from './tensor';
import type { Attrs } from './attributes';
import type { DType } from './dtype';
import type { Shape } from './shape';

export interface GradContext {
  readonly inputs: readonly Tensor[];
  readonly outputs: readonly Tensor[];
  /** dL/d(output i), or null when no gradient flows into that output. At least one is non-null. */
  readonly dOutputs: readonly (Tensor | null)[];
  /** needs[i]: the gradient of input i is wanted (it lies on a path from a differentiated tensor). */
  readonly needs: readonly boolean[];
}

/** Emits the backward nodes of one op on the builder; returns dL/d(input i) (null where not needed). */
export type GradRule = (b: GradEmitter, ctx: GradContext) => (Tensor | null)[];

export interface TapeEntry {
  readonly opType: string;
  readonly nodeName: string;
  readonly inputs: readonly Tensor[];
  readonly outputs: readonly Tensor[];
  /** null: the op is not differentiable (comparisons, casts to integers); gradients stop there. */
  readonly rule: GradRule | null;
}


/** A number operand is turned into a scalar constant of the other operand's dtype. */
export type Operand = Tensor | number;

export interface GemmOptions {
  transA?: boolean;
  transB?: boolean;
  alpha?: number;
  beta?: number;
}

/**
 * The ops a gradient rule may emit: the part of GraphBuilder that rules see. Rules are typed against this
 * interface, not the builder class, so the builder can import its rules without an import cycle.
 */
export interface GradEmitter {
  emit(opType: string, inputs: readonly Tensor[], outputs: readonly { dtype: DType; shape: Shape }[], attrs?: Attrs, rule?: GradRule | null, domain?: string): Tensor[];
  add(a: Operand, b: Operand): Tensor;
  sub(a: Operand, b: Operand): Tensor;
  mul(a: Operand, b: Operand): Tensor;
  div(a: Operand, b: Operand): Tensor;
  neg(x: Tensor): Tensor;
  exp(x: Tensor): Tensor;
  sqrt(x: Tensor): Tensor;
  reciprocal(x: Tensor): Tensor;
  pow(x: Tensor, exponent: number): Tensor;
  where(cond: Tensor, a: Operand, b: Operand): Tensor;
  cast(x: Tensor, dtype: DType): Tensor;
  matmul(a: Tensor, b: Tensor): Tensor;
  gemm(a: Tensor, b: Tensor, c?: Tensor, options?: GemmOptions): Tensor;
  reshape(x: Tensor, shape: readonly number[]): Tensor;
  transpose(x: Tensor, perm: readonly number[]): Tensor;
  transposeLast2(x: Tensor): Tensor;
  expand(x: Tensor, shape: readonly number[]): Tensor;
  unsqueeze(x: Tensor, axes: readonly number[]): Tensor;
  slice(x: Tensor, starts: readonly number[], ends: readonly number[], axes?: readonly number[]): Tensor;
  split(x: Tensor, axis: number, sizes: readonly number[]): Tensor[];
  concat(xs: readonly Tensor[], axis: number): Tensor;
  pad(x: Tensor, pads: readonly number[]): Tensor;
  reduceSum(x: Tensor, axes: readonly number[], keepdims?: boolean): Tensor;
  reduceMean(x: Tensor, axes: readonly number[], keepdims?: boolean): Tensor;
  sumToShape(g: Tensor, shape: Shape): Tensor;
  zeros(dtype: DType, shape: Shape): Tensor;
  scalar(value: number, dtype: DType): Tensor;
  gather(data: Tensor, indices: Tensor, axis?: number): Tensor;
  softmax(x: Tensor, axis?: number): Tensor;
}
