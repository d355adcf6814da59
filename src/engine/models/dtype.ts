// Conversions between the stored floating-point formats of Hugging Face checkpoints and JavaScript numbers.
// Bit layouts: IEEE 754-2008 binary16 (F16), and bfloat16 (BF16 = the upper 16 bits of an IEEE binary32).

/** Stored tensor element types this project reads and writes. */
export type StoredDtype = 'F32' | 'F16' | 'BF16';

/** Bytes per element of a safetensors dtype (all dtypes of the safetensors spec, so headers can be validated). */
export const DTYPE_BYTES: Readonly<Record<string, number>> = {
  BOOL: 1, U8: 1, I8: 1, F8_E5M2: 1, F8_E4M3: 1,
  I16: 2, U16: 2, F16: 2, BF16: 2,
  I32: 4, U32: 4, F32: 4,
  I64: 8, U64: 8, F64: 8,
};

export function isStoredDtype(dtype: string): dtype is StoredDtype {
  return dtype === 'F32' || dtype === 'F16' || dtype === 'BF16';
}

/** binary16 bits -> number (exact: every binary16 value is representable in binary32/64). */
export function f16BitsToNumber(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exponent = (h >> 10) & 0x1f;
  const fraction = h & 0x3ff;
  if (exponent === 0) return sign * fraction * 2 ** -24; // subnormal: fraction * 2^-14 / 2^10
  if (exponent === 0x1f) return fraction === 0 ? sign * Infinity : NaN;
  return sign * (1 + fraction / 1024) * 2 ** (exponent - 15);
}

const f32Scratch = new Float32Array(1);
const u32Scratch = new Uint32Array(f32Scratch.buffer);

/** bfloat16 bits -> number (bf16 is the high half of a binary32). */
export function bf16BitsToNumber(b: number): number {
  u32Scratch[0] = (b & 0xffff) << 16;
  return f32Scratch[0];
}

/** number -> binary16 bits, rounding to nearest, ties to even (IEEE 754 default rounding). */
export function numberToF16Bits(value: number): number {
  if (Number.isNaN(value)) return 0x7e00;
  const sign = value < 0 || Object.is(value, -0) ? 0x8000 : 0;
  const a = Math.abs(value);
  if (a === Infinity) return sign | 0x7c00;
  if (a >= 65520) return sign | 0x7c00; // rounds to infinity: 65504 + half an ulp (16)
  if (a < 2 ** -14) {
    // Subnormal range: units of 2^-24.
    return sign | roundHalfEven(a * 2 ** 24);
  }
  let exponent = Math.floor(Math.log2(a));
  // log2 can be off by one near powers of two.
  if (2 ** exponent > a) exponent -= 1;
  if (2 ** (exponent + 1) <= a) exponent += 1;
  const mantissa = roundHalfEven((a / 2 ** exponent - 1) * 1024);
  if (mantissa === 1024) return sign | ((exponent + 16) << 10); // rounding carried into the exponent
  return sign | ((exponent + 15) << 10) | mantissa;
}

/** number -> bfloat16 bits, via binary32 then round to nearest even on the low 16 bits. */
export function numberToBf16Bits(value: number): number {
  f32Scratch[0] = value;
  const bits = u32Scratch[0];
  if (Number.isNaN(f32Scratch[0])) return 0x7fc0;
  const lsb = (bits >>> 16) & 1;
  return ((bits + 0x7fff + lsb) >>> 16) & 0xffff;
}

function roundHalfEven(x: number): number {
  const floor = Math.floor(x);
  const diff = x - floor;
  if (diff > 0.5) return floor + 1;
  if (diff < 0.5) return floor;
  return floor % 2 === 0 ? floor : floor + 1;
}

/** Decodes little-endian stored elements from `bytes` into `out` starting at element `outOffset`. */
export function decodeInto(
  dtype: StoredDtype, bytes: Uint8Array, out: Float32Array | Float64Array, outOffset: number,
): void {
  const elementBytes = dtype === 'F32' ? 4 : 2;
  const n = bytes.byteLength / elementBytes;
  // Aligned little-endian buffers are viewed directly (fast path); otherwise read through a DataView.
  if (LITTLE_ENDIAN && bytes.byteOffset % elementBytes === 0) {
    if (dtype === 'F32') {
      out.set(new Float32Array(bytes.buffer, bytes.byteOffset, n), outOffset);
      return;
    }
    const halves = new Uint16Array(bytes.buffer, bytes.byteOffset, n);
    if (dtype === 'F16') {
      for (let i = 0; i < n; i++) out[outOffset + i] = F16_TABLE[halves[i]];
    } else {
      const u32 = new Uint32Array(1);
      const f32 = new Float32Array(u32.buffer);
      for (let i = 0; i < n; i++) {
        u32[0] = halves[i] << 16;
        out[outOffset + i] = f32[0];
      }
    }
    return;
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let i = 0; i < n; i++) {
    if (dtype === 'F32') out[outOffset + i] = view.getFloat32(i * 4, true);
    else if (dtype === 'F16') out[outOffset + i] = F16_TABLE[view.getUint16(i * 2, true)];
    else out[outOffset + i] = bf16BitsToNumber(view.getUint16(i * 2, true));
  }
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** All 65536 binary16 values, so decoding a large F16 tensor is one table lookup per element. */
const F16_TABLE: Float32Array = (() => {
  const table = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) table[h] = f16BitsToNumber(h);
  return table;
})();

/** Encodes numbers as little-endian stored elements. */
export function encode(dtype: StoredDtype, values: ArrayLike<number>): Uint8Array {
  const bytes = new Uint8Array(values.length * (dtype === 'F32' ? 4 : 2));
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < values.length; i++) {
    if (dtype === 'F32') view.setFloat32(i * 4, values[i], true);
    else if (dtype === 'F16') view.setUint16(i * 2, numberToF16Bits(values[i]), true);
    else view.setUint16(i * 2, numberToBf16Bits(values[i]), true);
  }
  return bytes;
}
