/**
 * PEFT Lab graph engine: a typed ONNX graph builder (opset 18, IR 8) with reverse-mode autodiff.
 *
 * Usage:
 * ```ts
 * import * as ort from 'onnxruntime-node';
 * import { GraphBuilder, gradients, toModelBytes, saveModel, gelu, crossEntropy } from '../graph';
 *
 * const b = new GraphBuilder('lora_step');
 * // Run-time inputs (static shapes). Trainable ones (adapter weights) are what gradients() differentiates.
 * const x = b.input('x', 'float32', [4, 128, 768]);
 * const labels = b.input('labels', 'int64', [512]);                 // fed as BigInt64Array
 * const loraA = b.input('lora_A', 'float32', [768, 8], { trainable: true });
 * // Frozen weights: initializers (TypedArray, or LazyTensorData streamed when saving with external data).
 * const w = b.initializer('h.0.attn.c_attn.weight', 'float32', [768, 2304], weightData);
 * // Ops infer shapes at build time and throw GraphBuildError naming the op and the shapes.
 * const y = b.scope('layer0', () => b.add(b.matmul(x, w), b.mul(b.matmul(b.matmul(x, loraA), loraB), alpha / r)));
 * const loss = crossEntropy(b, b.reshape(logits, [512, vocab]), labels, { ignoreIndex: -100 });
 * b.output(loss, 'loss');
 * // Backward nodes + outputs 'grad.lora_A', ...; hooks give dL/dy outputs ('grad.<y.name>') in the same run.
 * const { grads, hookGrads } = gradients(b, loss, { hooks: [y] });   // wrt defaults to trainable inputs
 * // wrt may also name frozen initializers (GradOT's dL/dW); perExampleLinearGradient(b, x, hookGrads.get(y)!)
 * // gives [B, in, out] per-example gradients of y = x W, secondMoment(b, x) KFAC's A = E[x x^T].
 * // In memory (all initializers inline, < 2 GiB):
 * const session = await ort.InferenceSession.create(toModelBytes(b));
 * // Or on disk, large initializers in '<file>.data' (aligned offsets):
 * saveModel(b, '/tmp/model.onnx', { externalThresholdBytes: 1 << 20 });
 * const out = await session.run({ x: new ort.Tensor('float32', xData, [4, 128, 768]), ... });
 * ```
 * Names: inputs/initializers keep their names; other tensors are `<scope>/<Op>_<n>_out<i>`; `b.named(t, name)`
 * or `b.output(t, name)` give a tensor a chosen name. float64 graphs run on ORT CPU (no float64 Erf: use `gelu`).
 */
export { GraphBuilder, GraphBuildError, OPSET_VERSION, isLazy } from './builder';
export type { GemmOptions, InitializerData, InitializerRecord, LazyTensorData, NodeRecord, Operand } from './builder';
export { Tensor } from './tensor';
export type { DType, AnyTypedArray, TypedArrayOf } from './dtype';
export { bytesPerElement, isFloat, typedArrayFrom } from './dtype';
export type { Shape } from './shape';
export { broadcastShapes, formatShape, sizeOf } from './shape';
export { gradients } from './autodiff';
export type { GradientOptions, GradientResult } from './autodiff';
export type { GradRule, GradContext, TapeEntry } from './tape';
export { attr } from './attributes';
export type { AttrValue, Attrs } from './attributes';
export {
  applyRope,
  causalMask,
  dropout,
  gelu,
  rmsNorm,
  ropeTables,
  rotateHalf,
  silu,
  swiglu,
} from './composites';
export { crossEntropy, lmHeadCrossEntropy } from './loss';
export type { LmHeadCrossEntropyOptions } from './loss';
export { perExampleLinearGradient, secondMoment } from './perExample';
export {
  DEFAULT_ALIGNMENT_BYTES,
  DEFAULT_EXTERNAL_THRESHOLD_BYTES,
  IR_VERSION,
  MAX_PROTO_BYTES,
  planInitializerStorage,
  saveModel,
  toModelBytes,
} from './serialize';
export type { InitializerSpec, SaveOptions, SavedModel, StoragePlan } from './serialize';
export { decodeModel, encodeModel } from './onnxProto';
