// Turns a GraphBuilder into ONNX ModelProto bytes, in memory or as a file with external data.
// A protobuf message is capped at 2 GiB (2^31 - 1 bytes), so large initializers are written to a side file
// `<model file name>.data` (ONNX external-data convention: location relative to the model's folder, offset and
// length in bytes; offsets aligned so ORT can memory-map them).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { OPSET_VERSION, isLazy, type GraphBuilder, type InitializerData } from './builder';
import { bytesPerElement, onnxTypeOf, type DType } from './dtype';
import type { AttrValue } from './attributes';
import { GraphBuildError } from './errors';
import {
  OnnxAttributeType,
  OnnxDataLocation,
  encodeModel,
  type AttributeMessage,
  type ModelMessage,
  type TensorMessage,
  type ValueInfoMessage,
} from './onnxProto';
import { formatShape, sizeOf, type Shape } from './shape';
import type { Tensor } from './tensor';

/** ONNX IR version 8 is the first that carries opset 18 (onnx/docs/Versioning.md). */
export const IR_VERSION = 8;
/** Largest protobuf message: 2 GiB - 1 byte. */
export const MAX_PROTO_BYTES = 2 ** 31 - 1;
/** Space reserved for nodes, names and small tensors when deciding what fits inline. */
const PROTO_HEADROOM_BYTES = 64 * 1024 * 1024;
export const DEFAULT_EXTERNAL_THRESHOLD_BYTES = 1024 * 1024;
/** 64 KiB: the mmap granularity on Windows, a multiple of the 4 KiB page on Linux/macOS. */
export const DEFAULT_ALIGNMENT_BYTES = 65536;

export interface InitializerSpec {
  readonly name: string;
  readonly dtype: DType;
  readonly shape: Shape;
}

export type StoragePlan = {
  readonly name: string;
  readonly byteLength: number;
  /** Byte offset in the data file, or null when stored inline in the ModelProto. */
  readonly offset: number | null;
}[];

export function byteLengthOf(spec: InitializerSpec): number {
  return sizeOf(spec.shape) * bytesPerElement[spec.dtype];
}

function describe(spec: InitializerSpec): string {
  const bytes = byteLengthOf(spec);
  return `initializer '${spec.name}' (${spec.dtype}${formatShape(spec.shape)}, ${bytes} bytes = ${(bytes / 2 ** 30).toFixed(2)} GiB)`;
}

/**
 * Decides where each initializer goes. mode 'memory': everything inline, refused (naming the tensor and its
 * size) beyond the 2 GiB protobuf cap. mode 'file': tensors of at least `thresholdBytes` go to the data file at
 * aligned offsets, and so do the largest remaining ones if the inline part would still not fit.
 * Works from declared shapes only, so a tensor over 2 GiB is planned without allocating it.
 */
export function planInitializerStorage(
  specs: readonly InitializerSpec[],
  mode: 'memory' | 'file',
  thresholdBytes = DEFAULT_EXTERNAL_THRESHOLD_BYTES,
  alignment = DEFAULT_ALIGNMENT_BYTES,
): StoragePlan {
  const limit = MAX_PROTO_BYTES - PROTO_HEADROOM_BYTES;
  if (mode === 'memory') {
    let total = 0;
    for (const s of specs) {
      const bytes = byteLengthOf(s);
      if (bytes > limit) {
        throw new GraphBuildError(
          `${describe(s)} is too large for an in-memory ModelProto (capped at 2 GiB): save the model to a file ` +
            'so it is written as external data',
        );
      }
      total += bytes;
    }
    if (total > limit) {
      throw new GraphBuildError(
        `initializers total ${total} bytes (${(total / 2 ** 30).toFixed(2)} GiB), over the 2 GiB ModelProto cap: ` +
          'save the model to a file so large ones are written as external data',
      );
    }
    return specs.map((s) => ({ name: s.name, byteLength: byteLengthOf(s), offset: null }));
  }
  const external = new Set<number>();
  let inlineTotal = 0;
  specs.forEach((s, i) => {
    if (byteLengthOf(s) >= thresholdBytes) external.add(i);
    else inlineTotal += byteLengthOf(s);
  });
  // Many tensors just under the threshold could still overflow the cap: move the largest out.
  const bySize = specs.map((_, i) => i).filter((i) => !external.has(i)).sort((p, q) => byteLengthOf(specs[q]) - byteLengthOf(specs[p]));
  for (const i of bySize) {
    if (inlineTotal <= limit) break;
    external.add(i);
    inlineTotal -= byteLengthOf(specs[i]);
  }
  let offset = 0;
  return specs.map((s, i) => {
    const byteLength = byteLengthOf(s);
    if (!external.has(i)) return { name: s.name, byteLength, offset: null };
    offset = Math.ceil(offset / alignment) * alignment;
    const at = offset;
    offset += byteLength;
    return { name: s.name, byteLength, offset: at };
  });
}

/** Serialises the graph with every initializer inline (for `InferenceSession.create(bytes)`). */
export function toModelBytes(b: GraphBuilder): Uint8Array {
  const specs = b.initializers.map((r) => specOf(r.tensor));
  planInitializerStorage(specs, 'memory');
  const initializer = b.initializers.map((r) => inlineTensor(r.tensor, r.data));
  return encodeModel(modelMessage(b, initializer));
}

export interface SaveOptions {
  /** Initializers of at least this many bytes go to the data file (default 1 MiB). */
  externalThresholdBytes?: number;
  alignmentBytes?: number;
}

export interface SavedModel {
  readonly modelPath: string;
  /** The external data file, or null when every initializer fitted inline. */
  readonly dataPath: string | null;
  readonly modelBytes: number;
  readonly externalBytes: number;
}

/**
 * Writes `<modelPath>` and, when needed, `<modelPath>.data` (large initializers, streamed chunk by chunk).
 * Load it with `InferenceSession.create(modelPath)`: ORT finds the data file next to the model.
 */
export function saveModel(b: GraphBuilder, modelPath: string, options: SaveOptions = {}): SavedModel {
  const specs = b.initializers.map((r) => specOf(r.tensor));
  const plan = planInitializerStorage(
    specs,
    'file',
    options.externalThresholdBytes ?? DEFAULT_EXTERNAL_THRESHOLD_BYTES,
    options.alignmentBytes ?? DEFAULT_ALIGNMENT_BYTES,
  );
  const dataName = `${path.basename(modelPath)}.data`;
  const dataPath = path.join(path.dirname(modelPath), dataName);
  const hasExternal = plan.some((p) => p.offset !== null);
  let externalBytes = 0;
  const initializer: TensorMessage[] = [];
  const fd = hasExternal ? fs.openSync(dataPath, 'w') : null;
  try {
    b.initializers.forEach((r, i) => {
      const where = plan[i];
      if (where.offset === null || fd === null) {
        initializer.push(inlineTensor(r.tensor, r.data));
        return;
      }
      let position = where.offset;
      for (const chunk of chunksOf(r.data)) {
        fs.writeSync(fd, chunk, 0, chunk.byteLength, position);
        position += chunk.byteLength;
      }
      if (position - where.offset !== where.byteLength) {
        throw new GraphBuildError(`${describe(specOf(r.tensor))}: its data source yielded ${position - where.offset} bytes`);
      }
      externalBytes = Math.max(externalBytes, position);
      initializer.push({
        name: r.tensor.name,
        dims: [...r.tensor.shape],
        dataType: onnxTypeOf[r.tensor.dtype],
        dataLocation: OnnxDataLocation.EXTERNAL,
        externalData: [
          { key: 'location', value: dataName },
          { key: 'offset', value: String(where.offset) },
          { key: 'length', value: String(where.byteLength) },
        ],
      });
    });
  } finally {
    if (fd !== null) fs.closeSync(fd);
  }
  const bytes = encodeModel(modelMessage(b, initializer));
  fs.writeFileSync(modelPath, bytes);
  return { modelPath, dataPath: hasExternal ? dataPath : null, modelBytes: bytes.byteLength, externalBytes };
}

function specOf(t: Tensor): InitializerSpec {
  return { name: t.name, dtype: t.dtype, shape: t.shape };
}

function* chunksOf(data: InitializerData): Iterable<Uint8Array> {
  if (isLazy(data)) yield* data.chunks();
  else yield new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

function inlineTensor(t: Tensor, data: InitializerData): TensorMessage {
  let raw: Uint8Array;
  if (isLazy(data)) {
    raw = new Uint8Array(data.byteLength);
    let at = 0;
    for (const chunk of data.chunks()) {
      if (at + chunk.byteLength > raw.byteLength) break;
      raw.set(chunk, at);
      at += chunk.byteLength;
    }
    if (at !== data.byteLength) throw new GraphBuildError(`${describe(specOf(t))}: its data source did not yield exactly ${data.byteLength} bytes`);
  } else {
    raw = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  }
  return { name: t.name, dims: [...t.shape], dataType: onnxTypeOf[t.dtype], rawData: raw };
}

function valueInfo(t: Tensor): ValueInfoMessage {
  return {
    name: t.name,
    type: { tensorType: { elemType: onnxTypeOf[t.dtype], shape: { dim: t.shape.map((d) => ({ dimValue: d })) } } },
  };
}

function attribute(name: string, v: AttrValue): AttributeMessage {
  switch (v.kind) {
    case 'int': return { name, type: OnnxAttributeType.INT, i: v.value };
    case 'float': return { name, type: OnnxAttributeType.FLOAT, f: v.value };
    case 'ints': return { name, type: OnnxAttributeType.INTS, ints: [...v.value] };
    case 'floats': return { name, type: OnnxAttributeType.FLOATS, floats: [...v.value] };
    case 'string': return { name, type: OnnxAttributeType.STRING, s: new TextEncoder().encode(v.value) };
  }
}

/** A part of a builder's graph: a subset of its nodes (in order) with their own inputs and outputs. */
export interface GraphPart {
  readonly name: string;
  readonly nodes: GraphBuilder['nodes'];
  readonly inputs: readonly Tensor[];
  readonly outputs: readonly Tensor[];
  /** The builder's initializers the part's nodes read. */
  readonly initializers: GraphBuilder['initializers'];
}

/** Serialises a part of a graph with its initializers inline (see graph/split.ts). */
export function partModelBytes(part: GraphPart): Uint8Array {
  planInitializerStorage(part.initializers.map((r) => specOf(r.tensor)), 'memory');
  return encodeModel(modelMessage({ graphName: part.name, nodes: part.nodes, inputs: part.inputs, outputs: part.outputs },
    part.initializers.map((r) => inlineTensor(r.tensor, r.data))));
}

type GraphShape = Pick<GraphBuilder, 'graphName' | 'nodes' | 'inputs' | 'outputs'>;

function modelMessage(b: GraphShape, initializer: TensorMessage[]): ModelMessage {
  if (b.outputs.length === 0) throw new GraphBuildError(`graph '${b.graphName}': no outputs declared`);
  const domains = new Set(b.nodes.map((n) => n.domain).filter((d) => d !== ''));
  return {
    irVersion: IR_VERSION,
    producerName: 'peft-lab',
    producerVersion: '0.1.0',
    opsetImport: [{ domain: '', version: OPSET_VERSION }, ...[...domains].map((domain) => ({ domain, version: 1 }))],
    graph: {
      name: b.graphName,
      node: b.nodes.map((n) => ({
        input: [...n.inputs],
        output: [...n.outputs],
        name: n.name,
        opType: n.opType,
        domain: n.domain,
        attribute: Object.entries(n.attrs).map(([k, v]) => attribute(k, v)),
      })),
      initializer,
      input: b.inputs.map(valueInfo),
      output: b.outputs.map(valueInfo),
    },
  };
}
