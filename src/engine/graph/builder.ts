// Typed ONNX graph builder: symbolic tensors with static shapes, shape inference at build time, a tape of
// differentiable ops for reverse-mode autodiff (see autodiff.ts), and serialisation (see serialize.ts).
// Opset: ai.onnx 18 (ReduceSum/ReduceMean take axes as an input, Split takes sizes as an input, Pad takes axes).
import { attr, type Attrs } from './attributes';
import { GraphBuildError } from './errors';
import { bytesPerElement, isFloat, matchesDType, typedArrayFrom, type AnyTypedArray, type DType } from './dtype';
import {
  broadcastReductionAxes,
  broadcastShapes,
  formatShape,
  normalizeAxis,
  sameShape,
  sizeOf,
  type Shape,
} from './shape';
import type { GemmOptions, GradEmitter, GradRule, Operand, TapeEntry } from './tape';
import { Tensor } from './tensor';
import * as ew from './rules/elementwise';
import * as lin from './rules/linear';
import * as sh from './rules/shapeOps';
import * as red from './rules/reductions';

export const OPSET_VERSION = 18;

export { GraphBuildError };

/**
 * Initializer bytes produced on demand (e.g. streamed from a safetensors file) so that large frozen weights
 * are never held in memory as one array. `chunks()` must yield exactly `byteLength` bytes, little-endian.
 */
export interface LazyTensorData {
  readonly byteLength: number;
  chunks(): Iterable<Uint8Array>;
}

export type InitializerData = AnyTypedArray | LazyTensorData;

export interface NodeRecord {
  readonly opType: string;
  readonly name: string;
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
  readonly attrs: Attrs;
  readonly domain: string;
}

export interface InitializerRecord {
  readonly tensor: Tensor;
  readonly data: InitializerData;
}

export type { GemmOptions, Operand } from './tape';

export class GraphBuilder implements GradEmitter {
  readonly graphName: string;
  private readonly nodeList: NodeRecord[] = [];
  private readonly inputList: Tensor[] = [];
  private readonly trainableIds = new Set<number>();
  private readonly initializerList: InitializerRecord[] = [];
  private readonly outputList: Tensor[] = [];
  private readonly tapeList: TapeEntry[] = [];
  private readonly usedNames = new Set<string>();
  private readonly constantCache = new Map<string, Tensor>();
  private readonly transposeSources = new Map<number, { source: Tensor; perm: readonly number[] }>();
  private readonly byName = new Map<string, Tensor>();
  private nextId = 0;
  private nodeCounter = 0;
  private scopePrefix = '';
  private taping = true;

  constructor(graphName = 'peft_lab_graph') {
    this.graphName = graphName;
  }

  // ---------------------------------------------------------------- declarations

  /** A graph input fed at run time. `trainable` inputs are what `gradients()` differentiates by default. */
  input(name: string, dtype: DType, shape: Shape, options: { trainable?: boolean } = {}): Tensor {
    this.checkShape('input', name, shape);
    const t = this.newTensor(this.claimName(name, 'input'), dtype, shape);
    this.inputList.push(t);
    if (options.trainable) {
      if (!isFloat(dtype)) throw new GraphBuildError(`input '${name}': only float inputs can be trainable (got ${dtype})`);
      this.trainableIds.add(t.id);
    }
    return t;
  }

  /** A named constant stored in the model (frozen weights). Large ones go to external data when saved. */
  initializer(name: string, dtype: DType, shape: Shape, data: InitializerData): Tensor {
    this.checkShape('initializer', name, shape);
    const expected = sizeOf(shape) * bytesPerElement[dtype];
    if (isLazy(data)) {
      if (data.byteLength !== expected) {
        throw new GraphBuildError(
          `initializer '${name}': lazy data has ${data.byteLength} bytes, ${dtype}${formatShape(shape)} needs ${expected}`,
        );
      }
    } else {
      if (!matchesDType(dtype, data)) {
        throw new GraphBuildError(`initializer '${name}': data is a ${data.constructor.name}, not the array type of ${dtype}`);
      }
      if (data.length !== sizeOf(shape)) {
        throw new GraphBuildError(
          `initializer '${name}': ${data.length} values for shape ${formatShape(shape)} (${sizeOf(shape)} expected)`,
        );
      }
    }
    const t = this.newTensor(this.claimName(name, 'initializer'), dtype, shape);
    this.initializerList.push({ tensor: t, data });
    return t;
  }

  /** A small constant (deduplicated by value). `values` is row-major; a single value with shape [] is a scalar. */
  constant(dtype: DType, shape: Shape, values: ArrayLike<number>): Tensor {
    if (values.length !== sizeOf(shape)) {
      throw new GraphBuildError(`constant: ${values.length} values for shape ${formatShape(shape)}`);
    }
    const key = values.length <= 256 ? `${dtype}|${shape.join(',')}|${Array.from(values).join(',')}` : null;
    const cached = key === null ? undefined : this.constantCache.get(key);
    if (cached) return cached;
    const t = this.newTensor(this.claimName(`const_${this.nextId}`, 'constant'), dtype, shape);
    this.initializerList.push({ tensor: t, data: typedArrayFrom(dtype, values) });
    if (key !== null) this.constantCache.set(key, t);
    return t;
  }

  scalar(value: number, dtype: DType): Tensor {
    return this.constant(dtype, [], [value]);
  }

  /** int64 vector constant (shapes, axes, indices). */
  int64s(values: readonly number[]): Tensor {
    return this.constant('int64', [values.length], values);
  }

  /** Declares a graph output. With `name`, an Identity node gives the value that exact output name. */
  output(t: Tensor, name?: string): Tensor {
    this.own(t, 'output');
    let out = t;
    if (name !== undefined && name !== t.name) {
      out = this.emitNamed('Identity', [t], [{ dtype: t.dtype, shape: t.shape, name }], {}, sh.identityGrad)[0];
    }
    if (this.outputList.some((o) => o.name === out.name)) throw new GraphBuildError(`output '${out.name}' declared twice`);
    this.outputList.push(out);
    return out;
  }

  /** Gives `t` a readable name (Identity node): useful for hooks and outputs. */
  named(t: Tensor, name: string): Tensor {
    return this.emitNamed('Identity', [t], [{ dtype: t.dtype, shape: t.shape, name }], {}, sh.identityGrad)[0];
  }

  /** Runs `fn` with `prefix/` prepended to the names of the nodes and tensors it creates. */
  scope<T>(prefix: string, fn: () => T): T {
    const saved = this.scopePrefix;
    this.scopePrefix = `${saved}${prefix}/`;
    try {
      return fn();
    } finally {
      this.scopePrefix = saved;
    }
  }

  isTrainable(t: Tensor): boolean {
    return this.trainableIds.has(t.id);
  }

  get nodes(): readonly NodeRecord[] { return this.nodeList; }
  get inputs(): readonly Tensor[] { return this.inputList; }
  get trainableInputs(): Tensor[] { return this.inputList.filter((t) => this.trainableIds.has(t.id)); }
  get initializers(): readonly InitializerRecord[] { return this.initializerList; }
  get outputs(): readonly Tensor[] { return this.outputList; }
  get tape(): readonly TapeEntry[] { return this.tapeList; }

  // ---------------------------------------------------------------- low-level emission

  /**
   * Appends one ONNX node (opset 18, default domain unless `domain` is given) and returns its outputs.
   * `rule` is recorded on the tape (null: not differentiable). Used by the op methods and the gradient rules.
   */
  emit(
    opType: string,
    inputs: readonly Tensor[],
    outputs: readonly { dtype: DType; shape: Shape }[],
    attrs: Attrs = {},
    rule: GradRule | null = null,
    domain = '',
  ): Tensor[] {
    return this.emitNamed(opType, inputs, outputs.map((o) => ({ ...o, name: undefined })), attrs, rule, domain);
  }

  /**
   * Runs `fn` without recording its nodes on the tape; for composite ops whose gradient is given by one rule
   * (`recordComposite`) instead of by their parts.
   */
  untaped<T>(fn: () => T): T {
    const saved = this.taping;
    this.taping = false;
    try {
      return fn();
    } finally {
      this.taping = saved;
    }
  }

  /** Records a composite op (emitted with `untaped`) on the tape as one differentiable step. */
  recordComposite(opType: string, inputs: readonly Tensor[], outputs: readonly Tensor[], rule: GradRule): void {
    if (!this.taping) return;
    this.tapeList.push({ opType, nodeName: `${this.scopePrefix}${opType}`, inputs, outputs, rule });
  }

  private emitNamed(
    opType: string,
    inputs: readonly Tensor[],
    outputs: readonly { dtype: DType; shape: Shape; name: string | undefined }[],
    attrs: Attrs,
    rule: GradRule | null,
    domain = '',
  ): Tensor[] {
    for (const t of inputs) this.own(t, opType);
    const nodeName = this.claimName(`${this.scopePrefix}${opType}_${this.nodeCounter++}`, 'node');
    const outs = outputs.map((o, i) =>
      this.newTensor(o.name === undefined ? this.claimName(`${nodeName}_out${i}`, 'tensor') : this.claimName(o.name, 'named tensor'), o.dtype, o.shape),
    );
    this.nodeList.push({
      opType,
      name: nodeName,
      inputs: inputs.map((t) => t.name),
      outputs: outs.map((t) => t.name),
      attrs,
      domain,
    });
    if (this.taping) this.tapeList.push({ opType, nodeName, inputs, outputs: outs, rule });
    return outs;
  }

  // ---------------------------------------------------------------- elementwise

  add(a: Operand, b: Operand): Tensor { return this.binary('Add', a, b, ew.addGrad); }
  sub(a: Operand, b: Operand): Tensor { return this.binary('Sub', a, b, ew.subGrad); }
  mul(a: Operand, b: Operand): Tensor { return this.binary('Mul', a, b, ew.mulGrad); }
  div(a: Operand, b: Operand): Tensor { return this.binary('Div', a, b, ew.divGrad); }
  neg(x: Tensor): Tensor { return this.unary('Neg', x, ew.negGrad); }
  exp(x: Tensor): Tensor { return this.unary('Exp', x, ew.expGrad); }
  log(x: Tensor): Tensor { return this.unary('Log', x, ew.logGrad); }
  sqrt(x: Tensor): Tensor { return this.unary('Sqrt', x, ew.sqrtGrad); }
  reciprocal(x: Tensor): Tensor { return this.unary('Reciprocal', x, ew.reciprocalGrad); }
  tanh(x: Tensor): Tensor { return this.unary('Tanh', x, ew.tanhGrad); }
  sigmoid(x: Tensor): Tensor { return this.unary('Sigmoid', x, ew.sigmoidGrad); }

  /** x ** exponent with a constant exponent. */
  pow(x: Tensor, exponent: number): Tensor {
    this.requireFloat('Pow', x);
    return this.emit('Pow', [x, this.scalar(exponent, x.dtype)], [{ dtype: x.dtype, shape: x.shape }], {}, ew.powGrad(exponent))[0];
  }

  /** Sum of several same-dtype tensors (broadcasting). */
  sum(xs: readonly Tensor[]): Tensor {
    if (xs.length === 0) throw new GraphBuildError('Sum: no inputs');
    if (xs.length === 1) return xs[0];
    const shape = this.broadcastOrThrow('Sum', xs);
    this.sameDType('Sum', xs);
    return this.emit('Sum', xs, [{ dtype: xs[0].dtype, shape }], {}, ew.sumGrad)[0];
  }

  /** Elementwise Max (not differentiated: used for guards such as max(count, 1)). */
  max(a: Operand, b: Operand): Tensor { return this.binary('Max', a, b, null); }

  where(cond: Tensor, a: Operand, b: Operand): Tensor {
    if (cond.dtype !== 'bool') throw new GraphBuildError(`Where: condition ${cond} must be bool`);
    const [ta, tb] = this.operands('Where', a, b);
    const shape = this.broadcastOrThrow('Where', [cond, ta, tb]);
    return this.emit('Where', [cond, ta, tb], [{ dtype: ta.dtype, shape }], {}, ew.whereGrad)[0];
  }

  equal(a: Operand, b: Operand): Tensor { return this.compare('Equal', a, b); }
  less(a: Operand, b: Operand): Tensor { return this.compare('Less', a, b); }
  greater(a: Operand, b: Operand): Tensor { return this.compare('Greater', a, b); }

  not(x: Tensor): Tensor {
    if (x.dtype !== 'bool') throw new GraphBuildError(`Not: input ${x} must be bool`);
    return this.emit('Not', [x], [{ dtype: 'bool', shape: x.shape }])[0];
  }

  cast(x: Tensor, dtype: DType): Tensor {
    if (x.dtype === dtype) return x;
    const rule = isFloat(x.dtype) && isFloat(dtype) ? ew.castGrad : null;
    return this.emit('Cast', [x], [{ dtype, shape: x.shape }], { to: attr.int(onnxTypeCode(dtype)) }, rule)[0];
  }

  // ---------------------------------------------------------------- linear algebra

  /** ONNX MatMul for rank >= 2 operands; batch dimensions broadcast. */
  matmul(a: Tensor, b: Tensor): Tensor {
    this.sameDType('MatMul', [a, b]);
    if (a.rank < 2 || b.rank < 2) {
      throw new GraphBuildError(`MatMul: operands must have rank >= 2, got ${formatShape(a.shape)} and ${formatShape(b.shape)}`);
    }
    const [m, k] = a.shape.slice(-2);
    const [k2, n] = b.shape.slice(-2);
    if (k !== k2) {
      throw new GraphBuildError(
        `MatMul: inner dimensions differ (${k} vs ${k2}) for shapes ${formatShape(a.shape)} and ${formatShape(b.shape)}`,
      );
    }
    const batch = broadcastShapes(a.shape.slice(0, -2), b.shape.slice(0, -2));
    if (batch === null) {
      throw new GraphBuildError(
        `MatMul: batch dimensions do not broadcast for shapes ${formatShape(a.shape)} and ${formatShape(b.shape)}`,
      );
    }
    return this.emit('MatMul', [a, b], [{ dtype: a.dtype, shape: [...batch, m, n] }], {}, lin.matmulGrad)[0];
  }

  /** ONNX Gemm: alpha * op(A) op(B) + beta * C with op = transpose when transA/transB (no copy is made). */
  gemm(a: Tensor, b: Tensor, c?: Tensor, options: GemmOptions = {}): Tensor {
    const { transA = false, transB = false, alpha = 1, beta = 1 } = options;
    const ins = c ? [a, b, c] : [a, b];
    this.sameDType('Gemm', ins);
    if (a.rank !== 2 || b.rank !== 2) {
      throw new GraphBuildError(`Gemm: A and B must be 2-D, got ${formatShape(a.shape)} and ${formatShape(b.shape)}`);
    }
    const [m, k] = transA ? [a.shape[1], a.shape[0]] : [a.shape[0], a.shape[1]];
    const [k2, n] = transB ? [b.shape[1], b.shape[0]] : [b.shape[0], b.shape[1]];
    if (k !== k2) {
      throw new GraphBuildError(
        `Gemm: inner dimensions differ (${k} vs ${k2}) for A ${formatShape(a.shape)} (transA=${transA}) and ` +
          `B ${formatShape(b.shape)} (transB=${transB})`,
      );
    }
    if (c && !sameShape(broadcastShapes(c.shape, [m, n]) ?? [], [m, n])) {
      throw new GraphBuildError(`Gemm: C ${formatShape(c.shape)} does not broadcast to [${m},${n}]`);
    }
    const attrs = {
      transA: attr.int(transA ? 1 : 0),
      transB: attr.int(transB ? 1 : 0),
      alpha: attr.float(alpha),
      beta: attr.float(beta),
    };
    return this.emit('Gemm', ins, [{ dtype: a.dtype, shape: [m, n] }], attrs, lin.gemmGrad({ transA, transB, alpha, beta }))[0];
  }

  // ---------------------------------------------------------------- shape ops

  /** Reshape to a static shape; one -1 is inferred. */
  reshape(x: Tensor, shape: readonly number[]): Tensor {
    const resolved = resolveReshape(x.shape, shape);
    if (resolved === null) {
      throw new GraphBuildError(`Reshape: cannot reshape ${formatShape(x.shape)} (${x.size} elements) to ${formatShape(shape)}`);
    }
    if (sameShape(resolved, x.shape)) return x;
    return this.emit('Reshape', [x, this.int64s(resolved)], [{ dtype: x.dtype, shape: resolved }], {}, sh.reshapeGrad)[0];
  }

  transpose(x: Tensor, perm: readonly number[]): Tensor {
    const valid = perm.length === x.rank && [...perm].sort((p, q) => p - q).every((p, i) => p === i);
    if (!valid) throw new GraphBuildError(`Transpose: perm [${perm.join(',')}] is not a permutation for ${formatShape(x.shape)}`);
    // Transpose(Transpose(a, p1), p2) = Transpose(a, i -> p1[p2[i]]): one copy instead of two (common in the
    // attention backward, where head-split and key transposes meet their inverses).
    const inner = this.transposeSources.get(x.id);
    if (inner) {
      perm = perm.map((p) => inner.perm[p]);
      x = inner.source;
    }
    if (perm.every((p, i) => p === i)) return x;
    const shape = perm.map((p) => x.shape[p]);
    const [y] = this.emit('Transpose', [x], [{ dtype: x.dtype, shape }], { perm: attr.ints(perm) }, sh.transposeGrad(perm));
    this.transposeSources.set(y.id, { source: x, perm });
    return y;
  }

  /** Swaps the last two axes. */
  transposeLast2(x: Tensor): Tensor {
    if (x.rank < 2) throw new GraphBuildError(`Transpose: ${x} has rank < 2, no last two axes to swap`);
    const perm = x.shape.map((_, i) => i);
    perm[x.rank - 1] = x.rank - 2;
    perm[x.rank - 2] = x.rank - 1;
    return this.transpose(x, perm);
  }

  expand(x: Tensor, shape: readonly number[]): Tensor {
    const out = broadcastShapes(x.shape, shape);
    if (out === null) throw new GraphBuildError(`Expand: ${formatShape(x.shape)} does not broadcast to ${formatShape(shape)}`);
    if (sameShape(out, x.shape)) return x;
    return this.emit('Expand', [x, this.int64s(shape)], [{ dtype: x.dtype, shape: out }], {}, sh.expandGrad)[0];
  }

  unsqueeze(x: Tensor, axes: readonly number[]): Tensor {
    const rank = x.rank + axes.length;
    const norm = axes.map((a) => normalizeAxis(a, rank));
    if (norm.some((a) => a === null) || new Set(norm).size !== norm.length) {
      throw new GraphBuildError(`Unsqueeze: bad axes [${axes.join(',')}] for ${formatShape(x.shape)}`);
    }
    const shape: number[] = [];
    let src = 0;
    for (let i = 0; i < rank; i++) shape.push(norm.includes(i) ? 1 : x.shape[src++]);
    return this.emit('Unsqueeze', [x, this.int64s(axes)], [{ dtype: x.dtype, shape }], {}, sh.reshapeGrad)[0];
  }

  squeeze(x: Tensor, axes: readonly number[]): Tensor {
    const norm = axes.map((a) => normalizeAxis(a, x.rank));
    if (norm.some((a) => a === null || x.shape[a] !== 1)) {
      throw new GraphBuildError(`Squeeze: axes [${axes.join(',')}] are not all size-1 axes of ${formatShape(x.shape)}`);
    }
    const shape = x.shape.filter((_, i) => !norm.includes(i));
    return this.emit('Squeeze', [x, this.int64s(axes)], [{ dtype: x.dtype, shape }], {}, sh.reshapeGrad)[0];
  }

  /** Slice with step 1 along `axes` (default: the first starts.length axes); negative indices count from the end. */
  slice(x: Tensor, starts: readonly number[], ends: readonly number[], axes?: readonly number[]): Tensor {
    const ax = axes ?? starts.map((_, i) => i);
    if (starts.length !== ends.length || ax.length !== starts.length) {
      throw new GraphBuildError(`Slice: starts, ends and axes differ in length on ${formatShape(x.shape)}`);
    }
    const shape = [...x.shape];
    const begin = x.shape.map(() => 0);
    const normAxes: number[] = [];
    for (let i = 0; i < ax.length; i++) {
      const a = normalizeAxis(ax[i], x.rank);
      if (a === null) throw new GraphBuildError(`Slice: axis ${ax[i]} out of range for ${formatShape(x.shape)}`);
      const dim = x.shape[a];
      const s = clamp(starts[i] < 0 ? starts[i] + dim : starts[i], 0, dim);
      const e = clamp(ends[i] < 0 ? ends[i] + dim : ends[i], 0, dim);
      if (e <= s) throw new GraphBuildError(`Slice: empty range [${starts[i]}, ${ends[i]}) on axis ${a} of ${formatShape(x.shape)}`);
      shape[a] = e - s;
      begin[a] = s;
      normAxes.push(a);
    }
    const ins = [x, this.int64s(normAxes.map((a) => begin[a])), this.int64s(normAxes.map((a) => begin[a] + shape[a])), this.int64s(normAxes)];
    return this.emit('Slice', ins, [{ dtype: x.dtype, shape }], {}, sh.sliceGrad(begin))[0];
  }

  split(x: Tensor, axis: number, sizes: readonly number[]): Tensor[] {
    const a = normalizeAxis(axis, x.rank);
    if (a === null || sizes.reduce((p, q) => p + q, 0) !== x.shape[a] || sizes.some((s) => s <= 0)) {
      throw new GraphBuildError(`Split: sizes [${sizes.join(',')}] do not partition axis ${axis} of ${formatShape(x.shape)}`);
    }
    const outs = sizes.map((s) => ({ dtype: x.dtype, shape: x.shape.map((d, i) => (i === a ? s : d)) }));
    return this.emit('Split', [x, this.int64s(sizes)], outs, { axis: attr.int(a) }, sh.splitGrad(a));
  }

  concat(xs: readonly Tensor[], axis: number): Tensor {
    if (xs.length === 0) throw new GraphBuildError('Concat: no inputs');
    this.sameDType('Concat', xs);
    const a = normalizeAxis(axis, xs[0].rank);
    const ok = a !== null && xs.every((t) => t.rank === xs[0].rank && t.shape.every((d, i) => i === a || d === xs[0].shape[i]));
    if (!ok || a === null) {
      throw new GraphBuildError(`Concat: shapes ${xs.map((t) => formatShape(t.shape)).join(', ')} cannot be joined on axis ${axis}`);
    }
    if (xs.length === 1) return xs[0];
    const shape = xs[0].shape.map((d, i) => (i === a ? xs.reduce((s, t) => s + t.shape[a], 0) : d));
    return this.emit('Concat', xs, [{ dtype: xs[0].dtype, shape }], { axis: attr.int(a) }, sh.concatGrad(a))[0];
  }

  /** Gather along `axis` with integer indices (embedding lookup when axis = 0). */
  gather(data: Tensor, indices: Tensor, axis = 0): Tensor {
    if (indices.dtype !== 'int64' && indices.dtype !== 'int32') {
      throw new GraphBuildError(`Gather: indices ${indices} must be int64 or int32`);
    }
    const a = normalizeAxis(axis, data.rank);
    if (a === null) throw new GraphBuildError(`Gather: axis ${axis} out of range for ${formatShape(data.shape)}`);
    const shape = [...data.shape.slice(0, a), ...indices.shape, ...data.shape.slice(a + 1)];
    return this.emit('Gather', [data, indices], [{ dtype: data.dtype, shape }], { axis: attr.int(a) }, sh.gatherGrad(a))[0];
  }

  /** Zero padding: pads = [begin_0..begin_{r-1}, end_0..end_{r-1}] (ONNX Pad, constant mode). */
  pad(x: Tensor, pads: readonly number[]): Tensor {
    if (pads.length !== 2 * x.rank || pads.some((p) => p < 0 || !Number.isInteger(p))) {
      throw new GraphBuildError(`Pad: pads [${pads.join(',')}] invalid for ${formatShape(x.shape)}`);
    }
    const begin = pads.slice(0, x.rank);
    const shape = x.shape.map((d, i) => d + pads[i] + pads[i + x.rank]);
    return this.emit('Pad', [x, this.int64s(pads)], [{ dtype: x.dtype, shape }], { mode: attr.string('constant') }, sh.padGrad(begin))[0];
  }

  /** A zero-filled tensor (a broadcast scalar: no large constant is stored). */
  zeros(dtype: DType, shape: Shape): Tensor {
    const zero = this.scalar(0, dtype);
    if (shape.length === 0) return zero;
    return this.emit('Expand', [zero, this.int64s(shape)], [{ dtype, shape }])[0];
  }

  // ---------------------------------------------------------------- reductions and normalisations

  reduceSum(x: Tensor, axes: readonly number[], keepdims = true): Tensor {
    return this.reduce('ReduceSum', x, axes, keepdims, false);
  }

  reduceMean(x: Tensor, axes: readonly number[], keepdims = true): Tensor {
    return this.reduce('ReduceMean', x, axes, keepdims, true);
  }

  /** Sums `g` over broadcast axes so that it has `shape` (the adjoint of broadcasting `shape` up to g.shape). */
  sumToShape(g: Tensor, shape: Shape): Tensor {
    if (sameShape(g.shape, shape)) return g;
    const axes = broadcastReductionAxes(g.shape, shape);
    const reduced = axes.length > 0 ? this.reduceSum(g, axes, true) : g;
    return this.reshape(reduced, shape);
  }

  softmax(x: Tensor, axis = -1): Tensor {
    const a = this.floatAxis('Softmax', x, axis);
    return this.emit('Softmax', [x], [{ dtype: x.dtype, shape: x.shape }], { axis: attr.int(a) }, red.softmaxGrad(a))[0];
  }

  logSoftmax(x: Tensor, axis = -1): Tensor {
    const a = this.floatAxis('LogSoftmax', x, axis);
    return this.emit('LogSoftmax', [x], [{ dtype: x.dtype, shape: x.shape }], { axis: attr.int(a) }, red.logSoftmaxGrad(a))[0];
  }

  /**
   * ONNX LayerNormalization over axes [axis, rank); scale (and bias) have the normalised shape. In float32
   * graphs the node also outputs Mean and InvStdDev for the backward to reuse; in float64 graphs those outputs
   * would be float32 (ORT computes the statistics in float32), so the backward recomputes them instead.
   */
  layerNorm(x: Tensor, scale: Tensor, bias?: Tensor, options: { axis?: number; epsilon?: number } = {}): Tensor {
    const { axis = -1, epsilon = 1e-5 } = options;
    const a = this.floatAxis('LayerNormalization', x, axis);
    const normShape = x.shape.slice(a);
    for (const p of bias ? [scale, bias] : [scale]) {
      if (!sameShape(broadcastShapes(p.shape, normShape) ?? [], normShape) || p.dtype !== x.dtype) {
        throw new GraphBuildError(
          `LayerNormalization: parameter ${p} does not match normalised shape ${formatShape(normShape)} of ${x}`,
        );
      }
    }
    const ins = bias ? [x, scale, bias] : [x, scale];
    const attrs = { axis: attr.int(a), epsilon: attr.float(epsilon) };
    const outs = [{ dtype: x.dtype, shape: x.shape }];
    if (x.dtype === 'float32') {
      const statShape = x.shape.map((d, i) => (i < a ? d : 1));
      outs.push({ dtype: 'float32', shape: statShape }, { dtype: 'float32', shape: statShape });
    }
    return this.emit('LayerNormalization', ins, outs, attrs, red.layerNormGrad(a, epsilon))[0];
  }

  // ---------------------------------------------------------------- helpers

  /** Converts number operands to scalar constants of the tensor operand's dtype. */
  operands(op: string, a: Operand, b: Operand): [Tensor, Tensor] {
    if (typeof a !== 'number') return [a, typeof b === 'number' ? this.scalar(b, a.dtype) : b];
    if (typeof b !== 'number') return [this.scalar(a, b.dtype), b];
    throw new GraphBuildError(`${op}: at least one operand must be a tensor`);
  }

  private binary(op: string, a: Operand, b: Operand, rule: GradRule | null): Tensor {
    const [ta, tb] = this.operands(op, a, b);
    this.sameDType(op, [ta, tb]);
    const shape = this.broadcastOrThrow(op, [ta, tb]);
    return this.emit(op, [ta, tb], [{ dtype: ta.dtype, shape }], {}, rule)[0];
  }

  private compare(op: string, a: Operand, b: Operand): Tensor {
    const [ta, tb] = this.operands(op, a, b);
    this.sameDType(op, [ta, tb]);
    const shape = this.broadcastOrThrow(op, [ta, tb]);
    return this.emit(op, [ta, tb], [{ dtype: 'bool', shape }])[0];
  }

  private unary(op: string, x: Tensor, rule: GradRule): Tensor {
    this.requireFloat(op, x);
    return this.emit(op, [x], [{ dtype: x.dtype, shape: x.shape }], {}, rule)[0];
  }

  private reduce(op: string, x: Tensor, axes: readonly number[], keepdims: boolean, mean: boolean): Tensor {
    const norm = axes.map((a) => normalizeAxis(a, x.rank));
    if (norm.length === 0 || norm.some((a) => a === null) || new Set(norm).size !== norm.length) {
      throw new GraphBuildError(`${op}: bad axes [${axes.join(',')}] for ${formatShape(x.shape)}`);
    }
    const shape = keepdims ? x.shape.map((d, i) => (norm.includes(i) ? 1 : d)) : x.shape.filter((_, i) => !norm.includes(i));
    const sorted = norm.map((a) => a ?? 0).sort((p, q) => p - q);
    const rule = red.reduceGrad(sorted, mean);
    return this.emit(op, [x, this.int64s(sorted)], [{ dtype: x.dtype, shape }], { keepdims: attr.int(keepdims ? 1 : 0) }, rule)[0];
  }

  private floatAxis(op: string, x: Tensor, axis: number): number {
    this.requireFloat(op, x);
    const a = normalizeAxis(axis, x.rank);
    if (a === null) throw new GraphBuildError(`${op}: axis ${axis} out of range for ${formatShape(x.shape)}`);
    return a;
  }

  private broadcastOrThrow(op: string, xs: readonly Tensor[]): number[] {
    const shape = broadcastShapes(...xs.map((t) => t.shape));
    if (shape === null) {
      throw new GraphBuildError(`${op}: shapes ${xs.map((t) => `${t.name} ${formatShape(t.shape)}`).join(' and ')} do not broadcast`);
    }
    return shape;
  }

  private sameDType(op: string, xs: readonly Tensor[]): void {
    if (xs.some((t) => t.dtype !== xs[0].dtype)) {
      throw new GraphBuildError(`${op}: mixed element types ${xs.map((t) => `${t.name}: ${t.dtype}`).join(', ')}`);
    }
  }

  private requireFloat(op: string, x: Tensor): void {
    if (!isFloat(x.dtype)) throw new GraphBuildError(`${op}: input ${x} must be float32 or float64`);
  }

  private checkShape(kind: string, name: string, shape: Shape): void {
    if (!shape.every((d) => Number.isInteger(d) && d > 0)) {
      throw new GraphBuildError(`${kind} '${name}': shape ${formatShape(shape)} must have positive integer dimensions`);
    }
  }

  private own(t: Tensor, op: string): void {
    if (t.owner !== this) throw new GraphBuildError(`${op}: tensor '${t.name}' belongs to another graph builder`);
  }

  private claimName(name: string, kind: string): string {
    if (this.usedNames.has(name)) {
      if (kind !== 'tensor' && kind !== 'node' && kind !== 'constant') throw new GraphBuildError(`${kind} '${name}': name already used in this graph`);
      let i = 1;
      while (this.usedNames.has(`${name}_${i}`)) i++;
      name = `${name}_${i}`;
    }
    this.usedNames.add(name);
    return name;
  }

  private newTensor(name: string, dtype: DType, shape: Shape): Tensor {
    const t = new Tensor(name, dtype, Object.freeze([...shape]), this.nextId++, this);
    this.byName.set(name, t);
    return t;
  }

  /** The tensor of this builder with that ONNX value name (for splitting a graph into parts). */
  tensorNamed(name: string): Tensor {
    const t = this.byName.get(name);
    if (t === undefined) throw new GraphBuildError(`graph '${this.graphName}': no tensor named '${name}'`);
    return t;
  }
}

export function isLazy(data: InitializerData): data is LazyTensorData {
  return !ArrayBuffer.isView(data);
}

function onnxTypeCode(dtype: DType): number {
  return { float32: 1, float64: 11, int64: 7, int32: 6, bool: 9 }[dtype];
}

function clamp(v: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, v));
}

function resolveReshape(from: Shape, to: readonly number[]): number[] | null {
  const total = sizeOf(from);
  const unknown = to.filter((d) => d === -1).length;
  if (unknown > 1 || to.some((d) => d === 0 || d < -1 || !Number.isInteger(d))) return null;
  const known = to.filter((d) => d !== -1).reduce((p, q) => p * q, 1);
  if (unknown === 1) return total % known === 0 ? to.map((d) => (d === -1 ? total / known : d)) : null;
  return known === total ? [...to] : null;
}

