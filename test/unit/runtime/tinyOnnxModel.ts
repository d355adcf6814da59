// A minimal hand-encoded ONNX ModelProto for the runtime tests, so they do not depend on the graph builder.
// Field numbers follow onnx/onnx.proto (ModelProto, GraphProto, NodeProto, ValueInfoProto, TypeProto, TensorProto).
import protobuf from 'protobufjs';

/** ONNX TensorProto.DataType codes used here. */
export const OnnxElemType = { float: 1, int64: 7, double: 11 } as const;
export type OnnxElemTypeCode = (typeof OnnxElemType)[keyof typeof OnnxElemType];

export interface TinyValue { name: string; elemType: OnnxElemTypeCode; dims: ReadonlyArray<number | string> }
export interface TinyNode { opType: string; inputs: string[]; outputs: string[] }
export interface TinyInitializer { name: string; dims: number[]; values: Float32Array }
export interface TinyGraph {
  nodes: TinyNode[];
  inputs: TinyValue[];
  outputs: TinyValue[];
  initializers?: TinyInitializer[];
  opset?: number;
}

function writeValueInfo(w: protobuf.Writer, field: number, v: TinyValue): void {
  w.uint32((field << 3) | 2).fork();
  w.uint32((1 << 3) | 2).string(v.name);
  w.uint32((2 << 3) | 2).fork(); // TypeProto
  w.uint32((1 << 3) | 2).fork(); // TypeProto.Tensor
  w.uint32((1 << 3) | 0).int32(v.elemType);
  w.uint32((2 << 3) | 2).fork(); // TensorShapeProto
  for (const d of v.dims) {
    w.uint32((1 << 3) | 2).fork();
    if (typeof d === 'number') w.uint32((1 << 3) | 0).int64(d);
    else w.uint32((2 << 3) | 2).string(d);
    w.ldelim();
  }
  w.ldelim().ldelim().ldelim().ldelim();
}

/** Encodes a single-graph ONNX model (default domain, opset 17 unless given). */
export function encodeTinyModel(g: TinyGraph): Uint8Array {
  const w = protobuf.Writer.create();
  w.uint32((1 << 3) | 0).int64(8); // ir_version
  w.uint32((2 << 3) | 2).string('peft-lab-runtime-test');
  w.uint32((7 << 3) | 2).fork(); // graph
  g.nodes.forEach((n, i) => {
    w.uint32((1 << 3) | 2).fork();
    for (const s of n.inputs) w.uint32((1 << 3) | 2).string(s);
    for (const s of n.outputs) w.uint32((2 << 3) | 2).string(s);
    w.uint32((3 << 3) | 2).string(`${n.opType}_${i}`);
    w.uint32((4 << 3) | 2).string(n.opType);
    w.ldelim();
  });
  w.uint32((2 << 3) | 2).string('tiny');
  for (const t of g.initializers ?? []) {
    w.uint32((5 << 3) | 2).fork();
    for (const d of t.dims) w.uint32((1 << 3) | 0).int64(d);
    w.uint32((2 << 3) | 0).int32(OnnxElemType.float);
    w.uint32((8 << 3) | 2).string(t.name);
    w.uint32((9 << 3) | 2).bytes(new Uint8Array(t.values.buffer, t.values.byteOffset, t.values.byteLength));
    w.ldelim();
  }
  for (const v of g.inputs) writeValueInfo(w, 11, v);
  for (const v of g.outputs) writeValueInfo(w, 12, v);
  w.ldelim();
  w.uint32((8 << 3) | 2).fork(); // opset_import
  w.uint32((1 << 3) | 2).string('');
  w.uint32((2 << 3) | 0).int64(g.opset ?? 17);
  w.ldelim();
  return w.finish();
}

/** Y = X @ W with X an input [m, k] and W a graph input or initializer [k, n] (float32). */
export function matMulModel(m: number | string, k: number, n: number, weight?: Float32Array): Uint8Array {
  const x: TinyValue = { name: 'X', elemType: OnnxElemType.float, dims: [m, k] };
  const y: TinyValue = { name: 'Y', elemType: OnnxElemType.float, dims: [m, n] };
  if (weight) {
    return encodeTinyModel({
      nodes: [{ opType: 'MatMul', inputs: ['X', 'W'], outputs: ['Y'] }],
      inputs: [x], outputs: [y], initializers: [{ name: 'W', dims: [k, n], values: weight }],
    });
  }
  return encodeTinyModel({
    nodes: [{ opType: 'MatMul', inputs: ['X', 'W'], outputs: ['Y'] }],
    inputs: [x, { name: 'W', elemType: OnnxElemType.float, dims: [k, n] }], outputs: [y],
  });
}
