// Reader for the safetensors format (https://github.com/huggingface/safetensors, "Format" section):
// 8-byte little-endian u64 N, then N bytes of JSON header {name: {dtype, shape, data_offsets: [begin, end]}, ...,
// "__metadata__": {string: string}}, then the data section; offsets are relative to the data section's start.
// Tensors are read one at a time at their file offsets, so a multi-GB file is never held in memory whole.
import * as fs from 'node:fs';
import * as os from 'node:os';
import { CheckpointError } from './checkpointError';
import { DTYPE_BYTES, decodeInto, isStoredDtype, type StoredDtype } from './dtype';

/** The spec caps the header at 100 MB; larger values mean a corrupt or non-safetensors file. */
const MAX_HEADER_BYTES = 100_000_000;
/** Bytes read per readSync call when decoding a tensor (keeps the temporary buffer small). */
const READ_CHUNK_BYTES = 16 * 1024 * 1024;

export interface SafetensorsTensorInfo {
  readonly name: string;
  readonly dtype: string;
  readonly shape: readonly number[];
  /** Absolute byte offset of the first byte in the file. */
  readonly fileBegin: number;
  readonly byteLength: number;
}

export class SafetensorsFile {
  private fd: number | undefined;

  private constructor(
    readonly path: string,
    fd: number,
    readonly tensors: ReadonlyMap<string, SafetensorsTensorInfo>,
    readonly metadata: Readonly<Record<string, string>>,
  ) {
    this.fd = fd;
  }

  /** Opens and validates the header (dtypes, shapes, offsets inside the file and consistent with dtype x shape). */
  static open(path: string): SafetensorsFile {
    let fd: number;
    try {
      fd = fs.openSync(path, 'r');
    } catch (e) {
      throw new CheckpointError(path, undefined, `cannot open: ${e instanceof Error ? e.message : String(e)}`);
    }
    try {
      const { tensors, metadata } = readHeader(path, fd);
      return new SafetensorsFile(path, fd, tensors, metadata);
    } catch (e) {
      fs.closeSync(fd);
      throw e;
    }
  }

  has(name: string): boolean {
    return this.tensors.has(name);
  }

  info(name: string): SafetensorsTensorInfo {
    const info = this.tensors.get(name);
    if (info === undefined) throw new CheckpointError(this.path, name, 'tensor not found in this file');
    return info;
  }

  readFloat32(name: string): Float32Array {
    const info = this.info(name);
    const out = new Float32Array(info.byteLength / DTYPE_BYTES[info.dtype]);
    this.readInto(info, out);
    return out;
  }

  readFloat64(name: string): Float64Array {
    const info = this.info(name);
    const out = new Float64Array(info.byteLength / DTYPE_BYTES[info.dtype]);
    this.readInto(info, out);
    return out;
  }

  /**
   * The tensor converted to `target`, produced in chunks of at most ~16 MB on each iteration (re-read from the
   * file every time), so a graph writer can stream a large weight without holding it whole.
   */
  *chunks(name: string, target: 'float32' | 'float64'): Generator<Uint8Array> {
    const info = this.info(name);
    const dtype = info.dtype;
    if (!isStoredDtype(dtype)) {
      throw new CheckpointError(this.path, name, `dtype ${dtype} is not supported (supported: F32, F16, BF16)`);
    }
    const fd = this.fd;
    if (fd === undefined) throw new CheckpointError(this.path, name, 'file is closed');
    const elementBytes = DTYPE_BYTES[dtype];
    const total = info.byteLength / elementBytes;
    const chunkElements = Math.max(1, Math.floor(READ_CHUNK_BYTES / 8));
    const raw = new Uint8Array(Math.min(info.byteLength, chunkElements * elementBytes));
    for (let element = 0; element < total; element += chunkElements) {
      const count = Math.min(chunkElements, total - element);
      const bytes = raw.subarray(0, count * elementBytes);
      this.readExactly(fd, bytes, info.fileBegin + element * elementBytes, name);
      const out = target === 'float32' ? new Float32Array(count) : new Float64Array(count);
      decodeInto(dtype, bytes, out, 0);
      yield new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
    }
  }

  close(): void {
    if (this.fd !== undefined) fs.closeSync(this.fd);
    this.fd = undefined;
  }

  private readInto(info: SafetensorsTensorInfo, out: Float32Array | Float64Array): void {
    const dtype = info.dtype;
    if (!isStoredDtype(dtype)) {
      throw new CheckpointError(this.path, info.name, `dtype ${dtype} is not supported (supported: F32, F16, BF16)`);
    }
    const fd = this.fd;
    if (fd === undefined) throw new CheckpointError(this.path, info.name, 'file is closed');
    if (dtype === 'F32' && out instanceof Float32Array && os.endianness() === 'LE') {
      // Stored bytes are the in-memory layout: read straight into the result, no second copy.
      this.readExactly(fd, new Uint8Array(out.buffer, out.byteOffset, out.byteLength), info.fileBegin, info.name);
      return;
    }
    this.readDecoded(fd, info, dtype, out);
  }

  private readDecoded(fd: number, info: SafetensorsTensorInfo, dtype: StoredDtype, out: Float32Array | Float64Array): void {
    const elementBytes = DTYPE_BYTES[dtype];
    const chunkElements = Math.max(1, Math.floor(READ_CHUNK_BYTES / elementBytes));
    const chunk = new Uint8Array(Math.min(info.byteLength, chunkElements * elementBytes));
    for (let element = 0; element < out.length; element += chunkElements) {
      const count = Math.min(chunkElements, out.length - element);
      const bytes = chunk.subarray(0, count * elementBytes);
      this.readExactly(fd, bytes, info.fileBegin + element * elementBytes, info.name);
      decodeInto(dtype, bytes, out, element);
    }
  }

  private readExactly(fd: number, target: Uint8Array, position: number, tensor: string): void {
    let done = 0;
    while (done < target.byteLength) {
      const length = Math.min(READ_CHUNK_BYTES * 4, target.byteLength - done);
      const n = fs.readSync(fd, target, done, length, position + done);
      if (n === 0) {
        throw new CheckpointError(this.path, tensor, `file ended after ${position + done} bytes while reading the tensor (truncated?)`);
      }
      done += n;
    }
  }
}

function readHeader(path: string, fd: number): {
  tensors: Map<string, SafetensorsTensorInfo>; metadata: Record<string, string>;
} {
  const fileSize = fs.fstatSync(fd).size;
  if (fileSize < 8) throw new CheckpointError(path, undefined, `file is ${fileSize} bytes, too short for a safetensors header`);
  const prefix = Buffer.alloc(8);
  fs.readSync(fd, prefix, 0, 8, 0);
  const headerLength = prefix.readBigUInt64LE(0);
  if (headerLength > BigInt(Math.min(MAX_HEADER_BYTES, fileSize - 8))) {
    throw new CheckpointError(path, undefined,
      `header length prefix says ${headerLength} bytes but the file has ${fileSize - 8} bytes after the prefix ` +
      `(limit ${MAX_HEADER_BYTES}); the file is truncated or not safetensors`);
  }
  const n = Number(headerLength);
  const headerBytes = Buffer.alloc(n);
  fs.readSync(fd, headerBytes, 0, n, 8);
  let header: unknown;
  try {
    header = JSON.parse(headerBytes.toString('utf8'));
  } catch (e) {
    throw new CheckpointError(path, undefined,
      `header (${n} bytes per its length prefix) is not valid JSON: ${e instanceof Error ? e.message : String(e)}; ` +
      'the length prefix may be wrong or the file corrupt');
  }
  if (!isRecord(header)) throw new CheckpointError(path, undefined, 'header is not a JSON object');
  const dataStart = 8 + n;
  const dataSize = fileSize - dataStart;
  const tensors = new Map<string, SafetensorsTensorInfo>();
  let metadata: Record<string, string> = {};
  for (const [name, entry] of Object.entries(header)) {
    if (name === '__metadata__') {
      metadata = parseMetadata(path, entry);
      continue;
    }
    tensors.set(name, parseEntry(path, name, entry, dataStart, dataSize));
  }
  checkLayout(path, [...tensors.values()], dataStart, dataSize);
  return { tensors, metadata };
}

function parseEntry(path: string, name: string, entry: unknown, dataStart: number, dataSize: number): SafetensorsTensorInfo {
  if (!isRecord(entry)) throw new CheckpointError(path, name, 'header entry is not an object');
  const { dtype, shape, data_offsets: offsets } = entry;
  if (typeof dtype !== 'string' || !(dtype in DTYPE_BYTES)) {
    throw new CheckpointError(path, name, `unknown dtype ${JSON.stringify(dtype)}`);
  }
  if (!Array.isArray(shape) || !shape.every((d): d is number => Number.isSafeInteger(d) && d >= 0)) {
    throw new CheckpointError(path, name, `shape ${JSON.stringify(shape)} is not a list of non-negative integers`);
  }
  if (!Array.isArray(offsets) || offsets.length !== 2 ||
      !offsets.every((o): o is number => Number.isSafeInteger(o) && o >= 0) || offsets[0] > offsets[1]) {
    throw new CheckpointError(path, name, `data_offsets ${JSON.stringify(offsets)} is not [begin, end] with 0 <= begin <= end`);
  }
  const [begin, end] = offsets;
  const numel = shape.reduce((a: number, d: number) => a * d, 1);
  const expected = numel * DTYPE_BYTES[dtype];
  if (end - begin !== expected) {
    throw new CheckpointError(path, name,
      `data_offsets [${begin}, ${end}] span ${end - begin} bytes but ${dtype} x [${shape.join(', ')}] needs ${expected}`);
  }
  if (end > dataSize) {
    throw new CheckpointError(path, name,
      `data ends at byte ${end} of the data section but the file holds only ${dataSize} data bytes (truncated?)`);
  }
  return { name, dtype, shape, fileBegin: dataStart + begin, byteLength: end - begin };
}

function parseMetadata(path: string, entry: unknown): Record<string, string> {
  if (!isRecord(entry)) throw new CheckpointError(path, undefined, '__metadata__ is not an object');
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(entry)) {
    if (typeof v !== 'string') throw new CheckpointError(path, undefined, `__metadata__.${k} is not a string`);
    out[k] = v;
  }
  return out;
}

// The spec requires the data section to be covered exactly, without holes or overlaps: checking it catches a
// length prefix that is off by a few bytes (the JSON may still parse) and trailing garbage.
function checkLayout(path: string, infos: SafetensorsTensorInfo[], dataStart: number, dataSize: number): void {
  const sorted = infos.filter((t) => t.byteLength > 0).sort((a, b) => a.fileBegin - b.fileBegin);
  let expectedBegin = dataStart;
  for (let i = 0; i < sorted.length; i++) {
    const t = sorted[i];
    if (t.fileBegin < expectedBegin) {
      throw new CheckpointError(path, t.name, `data overlaps tensor '${sorted[i - 1].name}'`);
    }
    if (t.fileBegin > expectedBegin) {
      throw new CheckpointError(path, t.name, `hole of ${t.fileBegin - expectedBegin} bytes before the tensor's data`);
    }
    expectedBegin = t.fileBegin + t.byteLength;
  }
  const covered = expectedBegin - dataStart;
  if (covered !== dataSize) {
    throw new CheckpointError(path, undefined,
      `tensors cover ${covered} data bytes but the file has ${dataSize} after the header; ` +
      'the header length prefix is wrong or the file has extra bytes');
  }
}

export function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}
