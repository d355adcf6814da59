import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Checkpoint } from '../../../src/engine/models/checkpoint';
import { bf16BitsToNumber, decodeInto, encode, f16BitsToNumber, numberToBf16Bits, numberToF16Bits } from '../../../src/engine/models/dtype';
import { SafetensorsFile } from '../../../src/engine/models/safetensors';
import { writeSafetensors } from '../../../src/engine/models/safetensorsWriter';
import { FIXTURES } from './fixturePaths';

function tmpDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'peft-models-'));
}

describe('models/dtype', () => {
  it('round-trips every finite F16 bit pattern and rounds to nearest even', () => {
    for (let h = 0; h < 0x10000; h++) {
      const v = f16BitsToNumber(h);
      if (!Number.isFinite(v)) continue;
      const back = numberToF16Bits(v);
      // -0 and +0 keep their sign bits.
      assert.equal(back, h, `bits ${h.toString(16)} -> ${v} -> ${back.toString(16)}`);
    }
    // 1 + 2^-11 is halfway between 1 and 1 + 2^-10: ties to even (1).
    assert.equal(numberToF16Bits(1 + 2 ** -11), 0x3c00);
    assert.equal(numberToF16Bits(1 + 3 * 2 ** -11), 0x3c02);
    assert.equal(numberToF16Bits(65504), 0x7bff);
    assert.equal(numberToF16Bits(70000), 0x7c00);
    assert.equal(f16BitsToNumber(0x0001), 2 ** -24);
  });

  it('round-trips BF16 values and rounds to nearest even', () => {
    for (const bits of [0x3f80, 0xbf80, 0x4049, 0x0001, 0x7f7f]) {
      assert.equal(numberToBf16Bits(bf16BitsToNumber(bits)), bits);
    }
    assert.equal(bf16BitsToNumber(0x3f80), 1);
    // 1 + 2^-8 is halfway between bf16 neighbours 1 and 1 + 2^-7: ties to even.
    assert.equal(numberToBf16Bits(1 + 2 ** -8), 0x3f80);
  });
});

describe('models/dtype decodeInto', () => {
  it('decodes aligned and unaligned buffers alike for every stored dtype', () => {
    const values = [0.5, -1.25, 3, 1024, -0.0078125, 7];
    for (const dtype of ['F32', 'F16', 'BF16'] as const) {
      const bytes = encode(dtype, values);
      const shifted = new Uint8Array(bytes.byteLength + 1);
      shifted.set(bytes, 1);
      const aligned = new Float64Array(values.length);
      const unaligned = new Float32Array(values.length + 2);
      decodeInto(dtype, bytes, aligned, 0);
      decodeInto(dtype, shifted.subarray(1), unaligned, 2);
      assert.deepEqual([...aligned], values);
      assert.deepEqual([...unaligned.subarray(2)], values);
    }
  });
});

describe('models/safetensors', () => {
  it('writes and reads F32, F16 and BF16 tensors', () => {
    const dir = tmpDir();
    const file = path.join(dir, 'model.safetensors');
    const values = [0.5, -1.25, 3, 1024, -0.0078125, 7];
    writeSafetensors(file, [
      { name: 'a', dtype: 'F32', shape: [2, 3], data: values },
      { name: 'b', dtype: 'F16', shape: [3, 2], data: values },
      { name: 'c', dtype: 'BF16', shape: [6], data: values },
      { name: 'empty', dtype: 'F32', shape: [0, 4], data: [] },
    ], { format: 'pt' });
    const st = SafetensorsFile.open(file);
    try {
      assert.deepEqual(st.metadata, { format: 'pt' });
      assert.deepEqual([...st.readFloat32('a')], values);
      assert.deepEqual([...st.readFloat64('b')], values);
      assert.deepEqual([...st.readFloat32('c')], values);
      assert.deepEqual(st.info('b').shape, [3, 2]);
      assert.equal(st.readFloat32('empty').length, 0);
      // Header padded so the data section starts on an 8-byte boundary.
      assert.equal((st.info('a').fileBegin) % 8, 0);
    } finally {
      st.close();
    }
  });

  it('reads the fixtures: GPT-2 F32 and LLaMA F16', () => {
    const g = Checkpoint.open(FIXTURES.gpt2);
    const l = Checkpoint.open(FIXTURES.llama);
    try {
      const wte = g.readFloat32('transformer.wte.weight', [1000, 32]);
      assert.equal(wte.length, 32000);
      assert.ok(wte.some((v) => v !== 0));
      const emb = l.readFloat64('model.embed_tokens.weight', [32000, 16]);
      assert.equal(emb.length, 512000);
      // Every F16 value decoded is exactly representable in F16.
      for (let i = 0; i < 1000; i++) assert.equal(f16BitsToNumber(numberToF16Bits(emb[i])), emb[i]);
      assert.deepEqual([...l.dtypeSummary().keys()], ['F16']);
    } finally {
      g.close();
      l.close();
    }
  });

  it('rejects a header that lies about its length', () => {
    const dir = tmpDir();
    const file = path.join(dir, 'model.safetensors');
    writeSafetensors(file, [{ name: 'w', dtype: 'F32', shape: [4], data: [1, 2, 3, 4] }]);
    const bytes = fs.readFileSync(file);
    const n = Number(bytes.readBigUInt64LE(0));
    for (const lie of [n + 4, n - 1, n - 3, n - 8, bytes.length]) {
      const copy = Buffer.from(bytes);
      copy.writeBigUInt64LE(BigInt(lie), 0);
      fs.writeFileSync(file, copy);
      assert.throws(() => SafetensorsFile.open(file), (e: Error) =>
        e.message.includes(file) && /length prefix/.test(e.message));
    }
  });

  it('rejects a truncated file naming the tensor', () => {
    const dir = tmpDir();
    const file = path.join(dir, 'model.safetensors');
    writeSafetensors(file, [
      { name: 'first', dtype: 'F32', shape: [4], data: [1, 2, 3, 4] },
      { name: 'last.weight', dtype: 'F32', shape: [4], data: [1, 2, 3, 4] },
    ]);
    const bytes = fs.readFileSync(file);
    fs.writeFileSync(file, bytes.subarray(0, bytes.length - 5));
    assert.throws(() => SafetensorsFile.open(file), (e: Error) =>
      e.message.includes(file) && e.message.includes("'last.weight'") && /truncated/.test(e.message));
  });

  it('rejects offsets inconsistent with dtype x shape, unknown dtypes and overlaps', () => {
    const dir = tmpDir();
    const file = path.join(dir, 'x.safetensors');
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ w: { dtype: 'F32', shape: [3], data_offsets: [0, 16] } }, /'w'.*needs 12/],
      [{ w: { dtype: 'Q4', shape: [4], data_offsets: [0, 16] } }, /'w'.*unknown dtype/],
      [{ w: { dtype: 'F32', shape: [-1], data_offsets: [0, 16] } }, /'w'.*shape/],
      [{ w: { dtype: 'F32', shape: [4], data_offsets: [8, 0] } }, /'w'.*data_offsets/],
      [{ a: { dtype: 'F32', shape: [4], data_offsets: [0, 16] }, b: { dtype: 'F32', shape: [2], data_offsets: [8, 16] } }, /'b'.*overlaps/],
      [{ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [1], data_offsets: [12, 16] } }, /'b'.*hole/],
      [{ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } }, /cover 8 data bytes but the file has 16/],
    ];
    for (const [header, pattern] of cases) {
      const json = Buffer.from(JSON.stringify(header));
      const prefix = Buffer.alloc(8);
      prefix.writeBigUInt64LE(BigInt(json.length));
      fs.writeFileSync(file, Buffer.concat([prefix, json, Buffer.alloc(16)]));
      assert.throws(() => SafetensorsFile.open(file), (e: Error) => e.message.includes(file) && pattern.test(e.message), JSON.stringify(header));
    }
  });

  it('names file and tensor for a missing tensor and a wrong shape', () => {
    const dir = tmpDir();
    writeSafetensors(path.join(dir, 'model.safetensors'), [{ name: 'w', dtype: 'F32', shape: [2, 2], data: [1, 2, 3, 4] }]);
    const ck = Checkpoint.open(dir);
    try {
      assert.throws(() => ck.readFloat32('missing.weight'), /model\.safetensors: tensor 'missing\.weight': tensor is missing/);
      assert.throws(() => ck.readFloat32('w', [4, 1]), /model\.safetensors: tensor 'w': stored shape \[2, 2\] but config\.json implies \[4, 1\]/);
    } finally {
      ck.close();
    }
  });

  it('reads sharded checkpoints via model.safetensors.index.json and checks the index', () => {
    const dir = tmpDir();
    writeSafetensors(path.join(dir, 'model-00001-of-00002.safetensors'), [{ name: 'a', dtype: 'F32', shape: [2], data: [1, 2] }]);
    writeSafetensors(path.join(dir, 'model-00002-of-00002.safetensors'), [{ name: 'b', dtype: 'BF16', shape: [1], data: [3] }]);
    const index = { metadata: { total_size: 10 }, weight_map: { a: 'model-00001-of-00002.safetensors', b: 'model-00002-of-00002.safetensors' } };
    fs.writeFileSync(path.join(dir, 'model.safetensors.index.json'), JSON.stringify(index));
    const ck = Checkpoint.open(dir);
    assert.deepEqual(ck.names().sort(), ['a', 'b']);
    assert.deepEqual([...ck.readFloat32('a')], [1, 2]);
    assert.deepEqual([...ck.readFloat32('b')], [3]);
    assert.ok(ck.info('b').file.endsWith('model-00002-of-00002.safetensors'));
    ck.close();
    const wrong = { weight_map: { a: 'model-00002-of-00002.safetensors' } };
    fs.writeFileSync(path.join(dir, 'model.safetensors.index.json'), JSON.stringify(wrong));
    assert.throws(() => Checkpoint.open(dir), /model-00002-of-00002\.safetensors: tensor 'a': listed for this shard/);
  });

  it('refuses pytorch_model.bin with a message to convert to safetensors', () => {
    const dir = tmpDir();
    fs.writeFileSync(path.join(dir, 'pytorch_model.bin'), 'not really');
    assert.throws(() => Checkpoint.open(dir), /pytorch_model\.bin.*[Cc]onvert the model to safetensors/);
  });
});

describe('models/checkpoint lazy weights', () => {
  it('streams a tensor converted to float32 or float64, equal to the eager read', () => {
    const ck = Checkpoint.open(FIXTURES.llama);
    try {
      for (const target of ['float32', 'float64'] as const) {
        const lazy = ck.lazy('model.embed_tokens.weight', target, [32000, 16]);
        const parts = [...lazy.chunks()];
        const bytes = Buffer.concat(parts);
        assert.equal(bytes.byteLength, lazy.byteLength);
        const eager = target === 'float32' ? ck.readFloat32('model.embed_tokens.weight') : ck.readFloat64('model.embed_tokens.weight');
        assert.ok(Buffer.from(eager.buffer).equals(bytes));
      }
    } finally {
      ck.close();
    }
  });
});
