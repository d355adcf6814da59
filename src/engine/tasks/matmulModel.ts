// The device check's graph: C = MatMul(A, B) with A, B float32 [n, n] inputs.
import { encodeModel, OnnxDataType, type ValueInfoMessage } from '../graph/onnxProto';

function squareFloatInput(name: string, n: number): ValueInfoMessage {
  return { name, type: { tensorType: { elemType: OnnxDataType.FLOAT, shape: { dim: [{ dimValue: n }, { dimValue: n }] } } } };
}

/** Serialized ModelProto (opset 17) of C = A x B for n x n float32 matrices. */
export function encodeMatMulModel(n: number): Uint8Array {
  return encodeModel({
    irVersion: 8,
    producerName: 'peft-lab',
    producerVersion: '0.1.0',
    opsetImport: [{ domain: '', version: 17 }],
    graph: {
      name: `device-check-matmul-${n}`,
      node: [{ input: ['A', 'B'], output: ['C'], name: 'matmul', opType: 'MatMul', attribute: [] }],
      initializer: [],
      input: [squareFloatInput('A', n), squareFloatInput('B', n)],
      output: [squareFloatInput('C', n)],
    },
  });
}
