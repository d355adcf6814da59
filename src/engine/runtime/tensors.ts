// Host-side tensors (typed array + dims) and their conversion to and from ORT tensors, with shape and type
// checks whose errors name the tensor. Only the element types the engine uses are supported.
import type { OnnxValue, Tensor as OrtTensor } from 'onnxruntime-node';
import { loadOrt } from './ort';

export type TensorData = Float32Array | Float64Array | BigInt64Array | Int32Array;
export type TensorElementType = 'float32' | 'float64' | 'int64' | 'int32';

/** A dense row-major tensor held in JavaScript memory. */
export interface HostTensor<D extends TensorData = TensorData> {
  readonly data: D;
  readonly dims: readonly number[];
}

/** Raised for a tensor whose data, dims or element type does not fit; the message names the tensor. */
export class TensorShapeError extends Error {
  constructor(readonly tensorName: string, message: string) {
    super(`tensor "${tensorName}": ${message}`);
    this.name = 'TensorShapeError';
  }
}

export function formatDims(dims: ReadonlyArray<number | string>): string {
  return `[${dims.join(', ')}]`;
}

/** Number of elements of a shape; throws if a dimension is not a non-negative safe integer. */
export function elementCount(name: string, dims: readonly number[]): number {
  let n = 1;
  for (const [i, d] of dims.entries()) {
    if (!Number.isSafeInteger(d) || d < 0) {
      throw new TensorShapeError(name, `dimension ${i} of ${formatDims(dims)} is ${d}, expected a non-negative integer`);
    }
    n *= d;
  }
  return n;
}

export function elementTypeOf(data: TensorData): TensorElementType {
  if (data instanceof Float32Array) return 'float32';
  if (data instanceof Float64Array) return 'float64';
  if (data instanceof BigInt64Array) return 'int64';
  return 'int32';
}

/** Wraps `data` with `dims` after checking that the element count matches (no copy). */
export function hostTensor<D extends TensorData>(name: string, data: D, dims: readonly number[]): HostTensor<D> {
  const n = elementCount(name, dims);
  if (data.length !== n) {
    throw new TensorShapeError(name, `shape ${formatDims(dims)} needs ${n} elements, got ${data.length} (${elementTypeOf(data)})`);
  }
  return { data, dims: [...dims] };
}

/** Converts to an ORT tensor (shares the buffer). */
export function toOrtTensor(name: string, t: HostTensor): OrtTensor {
  const checked = hostTensor(name, t.data, t.dims);
  const { Tensor } = loadOrt();
  const dims = [...checked.dims];
  const data = checked.data;
  if (data instanceof Float32Array) return new Tensor('float32', data, dims);
  if (data instanceof Float64Array) return new Tensor('float64', data, dims);
  if (data instanceof BigInt64Array) return new Tensor('int64', data, dims);
  return new Tensor('int32', data, dims);
}

function isOrtTensor(value: OnnxValue): value is OrtTensor {
  return typeof value === 'object' && value !== null && 'dims' in value && 'type' in value && 'data' in value;
}

/** Reads an ORT output back as a host tensor of the expected element type, optionally checking its dims. */
export function fromOrtValue<T extends TensorElementType>(name: string, value: OnnxValue | undefined, type: T, expectedDims?: readonly number[]): HostTensor<ElementArray<T>> {
  if (value === undefined) throw new TensorShapeError(name, 'is not among the session outputs');
  if (!isOrtTensor(value)) throw new TensorShapeError(name, 'is not a tensor');
  if (value.type !== type) throw new TensorShapeError(name, `has element type ${value.type}, expected ${type}`);
  const dims = [...value.dims];
  if (expectedDims && (dims.length !== expectedDims.length || dims.some((d, i) => d !== expectedDims[i]))) {
    throw new TensorShapeError(name, `has shape ${formatDims(dims)}, expected ${formatDims(expectedDims)}`);
  }
  const data = value.data;
  if (!isElementArray(type, data)) throw new TensorShapeError(name, `data is not a ${type} typed array`);
  return { data, dims };
}

export type ElementArray<T extends TensorElementType> =
  T extends 'float32' ? Float32Array : T extends 'float64' ? Float64Array : T extends 'int64' ? BigInt64Array : Int32Array;

function isElementArray<T extends TensorElementType>(type: T, data: unknown): data is ElementArray<T> {
  switch (type) {
    case 'float32': return data instanceof Float32Array;
    case 'float64': return data instanceof Float64Array;
    case 'int64': return data instanceof BigInt64Array;
    default: return data instanceof Int32Array;
  }
}

/** Model input/output description as the session reports it; string dims are symbolic (any size). */
export interface TensorSignature {
  name: string;
  type: string;
  dims: ReadonlyArray<number | string>;
}

/** Checks one feed against the model's declared input: element type, rank and every fixed dimension. */
export function checkFeedAgainstSignature(t: HostTensor, sig: TensorSignature): void {
  const type = elementTypeOf(t.data);
  if (type !== sig.type) {
    throw new TensorShapeError(sig.name, `model input expects ${sig.type}, got ${type} with shape ${formatDims(t.dims)}`);
  }
  if (sig.dims.length === 0 && t.dims.length === 0) return;
  const mismatch = sig.dims.length !== t.dims.length ||
    sig.dims.some((d, i) => typeof d === 'number' && d >= 0 && d !== t.dims[i]);
  if (mismatch) {
    throw new TensorShapeError(sig.name, `model input expects shape ${formatDims(sig.dims)}, got ${formatDims(t.dims)}`);
  }
}
