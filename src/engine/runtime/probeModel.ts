// The smallest useful ONNX model, Y = X + X with X float32 [2], hand-encoded so that probing a provider does not
// depend on the graph builder. Field numbers from onnx/onnx.proto.
import protobuf from 'protobufjs';

const FLOAT = 1; // TensorProto.DataType.FLOAT

function valueInfo(w: protobuf.Writer, field: number, name: string): void {
  w.uint32((field << 3) | 2).fork();
  w.uint32((1 << 3) | 2).string(name); // ValueInfoProto.name
  w.uint32((2 << 3) | 2).fork(); // .type: TypeProto
  w.uint32((1 << 3) | 2).fork(); // .tensor_type
  w.uint32((1 << 3) | 0).int32(FLOAT); // .elem_type
  w.uint32((2 << 3) | 2).fork(); // .shape
  w.uint32((1 << 3) | 2).fork().uint32((1 << 3) | 0).int64(2).ldelim(); // dim { dim_value: 2 }
  w.ldelim().ldelim().ldelim().ldelim();
}

export function encodeProbeModel(): Uint8Array {
  const w = protobuf.Writer.create();
  w.uint32((1 << 3) | 0).int64(8); // ModelProto.ir_version
  w.uint32((7 << 3) | 2).fork(); // .graph
  w.uint32((1 << 3) | 2).fork(); // GraphProto.node
  w.uint32((1 << 3) | 2).string('X').uint32((1 << 3) | 2).string('X'); // inputs
  w.uint32((2 << 3) | 2).string('Y'); // output
  w.uint32((4 << 3) | 2).string('Add'); // op_type
  w.ldelim();
  w.uint32((2 << 3) | 2).string('probe'); // GraphProto.name
  valueInfo(w, 11, 'X');
  valueInfo(w, 12, 'Y');
  w.ldelim();
  w.uint32((8 << 3) | 2).fork().uint32((2 << 3) | 0).int64(17).ldelim(); // opset_import { version: 17 }
  return w.finish();
}
