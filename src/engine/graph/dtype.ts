// Element types the graph builder supports, their ONNX codes, byte sizes and JavaScript array types.
import { OnnxDataType } from './onnxProto';

export type DType = 'float32' | 'float64' | 'int64' | 'int32' | 'bool';

/** The typed array onnxruntime-node uses for each element type (bool is one byte per element). */
export type TypedArrayOf<D extends DType> = D extends 'float32'
  ? Float32Array
  : D extends 'float64'
    ? Float64Array
    : D extends 'int64'
      ? BigInt64Array
      : D extends 'int32'
        ? Int32Array
        : Uint8Array;

export type AnyTypedArray = Float32Array | Float64Array | BigInt64Array | Int32Array | Uint8Array;

export const onnxTypeOf: Record<DType, number> = {
  float32: OnnxDataType.FLOAT,
  float64: OnnxDataType.DOUBLE,
  int64: OnnxDataType.INT64,
  int32: OnnxDataType.INT32,
  bool: OnnxDataType.BOOL,
};

export const bytesPerElement: Record<DType, number> = { float32: 4, float64: 8, int64: 8, int32: 4, bool: 1 };

export function isFloat(dtype: DType): boolean {
  return dtype === 'float32' || dtype === 'float64';
}

/** Builds a typed array of `dtype` from plain numbers (int64 via BigInt, bool as 0/1). */
export function typedArrayFrom(dtype: DType, values: ArrayLike<number>): AnyTypedArray {
  switch (dtype) {
    case 'float32': return Float32Array.from(values);
    case 'float64': return Float64Array.from(values);
    case 'int32': return Int32Array.from(values);
    case 'bool': return Uint8Array.from(values, (v) => (v ? 1 : 0));
    case 'int64': {
      const out = new BigInt64Array(values.length);
      for (let i = 0; i < values.length; i++) out[i] = BigInt(Math.trunc(values[i]));
      return out;
    }
  }
}

/** True when `data` is the array type onnxruntime-node expects for `dtype`. */
export function matchesDType(dtype: DType, data: AnyTypedArray): boolean {
  switch (dtype) {
    case 'float32': return data instanceof Float32Array;
    case 'float64': return data instanceof Float64Array;
    case 'int64': return data instanceof BigInt64Array;
    case 'int32': return data instanceof Int32Array;
    case 'bool': return data instanceof Uint8Array;
  }
}
