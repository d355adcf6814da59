// Writer for the safetensors format (same layout as the reader): the header is padded with spaces to a multiple
// of 8 bytes so the data section is aligned, as the reference implementation does. The file is written to a
// temporary name in the same folder and renamed, so readers never see a half-written checkpoint.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as nodePath from 'node:path';
import { encode, type StoredDtype } from './dtype';

export interface TensorToWrite {
  readonly name: string;
  readonly dtype: StoredDtype;
  readonly shape: readonly number[];
  readonly data: ArrayLike<number>;
}

export function writeSafetensors(path: string, tensors: readonly TensorToWrite[], metadata?: Record<string, string>): void {
  const header: Record<string, unknown> = {};
  if (metadata !== undefined) header.__metadata__ = metadata;
  const blobs: Uint8Array[] = [];
  let offset = 0;
  const seen = new Set<string>();
  for (const t of tensors) {
    if (seen.has(t.name)) throw new Error(`writeSafetensors ${path}: tensor '${t.name}' given twice`);
    seen.add(t.name);
    const numel = t.shape.reduce((a, d) => a * d, 1);
    if (numel !== t.data.length) {
      throw new Error(`writeSafetensors ${path}: tensor '${t.name}' has ${t.data.length} values but shape [${t.shape.join(', ')}] needs ${numel}`);
    }
    const bytes = storedBytes(t);
    header[t.name] = { dtype: t.dtype, shape: [...t.shape], data_offsets: [offset, offset + bytes.byteLength] };
    blobs.push(bytes);
    offset += bytes.byteLength;
  }
  let json = JSON.stringify(header);
  const padded = Math.ceil(Buffer.byteLength(json, 'utf8') / 8) * 8;
  json += ' '.repeat(padded - Buffer.byteLength(json, 'utf8'));
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(BigInt(padded), 0);
  const tmp = nodePath.join(nodePath.dirname(path), `.${nodePath.basename(path)}.${process.pid}.tmp`);
  const fd = fs.openSync(tmp, 'w');
  try {
    writeAll(fd, prefix);
    writeAll(fd, Buffer.from(json, 'utf8'));
    for (const b of blobs) writeAll(fd, b);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, path);
}

/** Bytes of a tensor as stored: float32 data on a little-endian machine is its own encoding (a view, no copy). */
function storedBytes(t: TensorToWrite): Uint8Array {
  if (t.dtype === 'F32' && t.data instanceof Float32Array && os.endianness() === 'LE') {
    return new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
  }
  return encode(t.dtype, t.data);
}

function writeAll(fd: number, bytes: Uint8Array): void {
  let done = 0;
  while (done < bytes.byteLength) done += fs.writeSync(fd, bytes, done, bytes.byteLength - done);
}
