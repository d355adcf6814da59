// ModelProto encoding (round trip through our decoder), shape-inference errors, external data for large
// initializers (written, loaded by ORT, run), and the 2 GiB rules checked from declared shapes only.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as ort from 'onnxruntime-node';
import {
  decodeModel,
  GraphBuilder,
  GraphBuildError,
  OPSET_VERSION,
  planInitializerStorage,
  saveModel,
  toModelBytes,
  type LazyTensorData,
} from '../../../src/engine/graph';
import { feed, numbers } from './ortHarness';

function field(o: unknown, key: string): unknown {
  assert.ok(typeof o === 'object' && o !== null && key in o, `missing field ${key}`);
  return (o as Record<string, unknown>)[key];
}
function list(o: unknown, key: string): unknown[] {
  const v = field(o, key);
  assert.ok(Array.isArray(v), `${key} is not a list`);
  return v;
}

describe('graph: ModelProto encode/decode', () => {
  it('round-trips opset, nodes, attributes, initializers and value infos', () => {
    const b = new GraphBuilder('roundtrip');
    const x = b.input('x', 'float32', [2, 3]);
    const w = b.initializer('w', 'float32', [4, 3], Float32Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]));
    const y = b.gemm(x, w, undefined, { transB: true, alpha: 0.5 });
    b.output(b.transpose(y, [1, 0]), 'out');
    const m = decodeModel(toModelBytes(b));
    assert.equal(field(m, 'irVersion'), 8);
    assert.deepEqual(list(m, 'opsetImport').map((o) => field(o, 'version')), [OPSET_VERSION]);
    const g = field(m, 'graph');
    assert.equal(field(g, 'name'), 'roundtrip');
    assert.deepEqual(list(g, 'node').map((n) => field(n, 'opType')), ['Gemm', 'Transpose', 'Identity']);
    const gemm = list(g, 'node')[0];
    const attrs = Object.fromEntries(list(gemm, 'attribute').map((a) => [field(a, 'name'), a]));
    assert.equal(field(attrs.transB, 'i'), 1);
    assert.equal(field(attrs.alpha, 'f'), 0.5);
    assert.deepEqual(list(list(g, 'node')[1], 'attribute').map((a) => list(a, 'ints')), [[1, 0]]);
    const init = list(g, 'initializer').find((t) => field(t, 'name') === 'w');
    assert.deepEqual(list(init, 'dims'), [4, 3]);
    assert.equal(field(init, 'dataType'), 1);
    const raw = field(init, 'rawData');
    assert.ok(raw instanceof Uint8Array);
    assert.deepEqual(Array.from(new Float32Array(new Uint8Array(raw).buffer)), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    const input = list(g, 'input')[0];
    const dims = list(field(field(field(input, 'type'), 'tensorType'), 'shape'), 'dim').map((d) => field(d, 'dimValue'));
    assert.deepEqual(dims, [2, 3]);
    assert.equal(field(list(g, 'output')[0], 'name'), 'out');
  });
});

describe('graph: shape inference errors name the op and the shapes', () => {
  const b = new GraphBuilder();
  const a = b.input('a', 'float32', [2, 3]);
  const c = b.input('c', 'float32', [4, 5]);
  const cases: [string, () => unknown, RegExp][] = [
    ['MatMul', () => b.matmul(a, c), /MatMul: inner dimensions differ \(3 vs 4\) for shapes \[2,3\] and \[4,5\]/],
    ['Add', () => b.add(a, c), /Add: shapes a \[2,3\] and c \[4,5\] do not broadcast/],
    ['Gemm', () => b.gemm(a, c, undefined, { transB: true }), /Gemm: inner dimensions differ \(3 vs 5\).*\[2,3\].*\[4,5\]/],
    ['Reshape', () => b.reshape(a, [4, -1]), /Reshape: cannot reshape \[2,3\] \(6 elements\) to \[4,-1\]/],
    ['Concat', () => b.concat([a, c], 0), /Concat: shapes \[2,3\], \[4,5\] cannot be joined on axis 0/],
    ['Transpose', () => b.transpose(a, [0, 0]), /Transpose: perm \[0,0\] is not a permutation for \[2,3\]/],
  ];
  for (const [op, fn, re] of cases) {
    it(op, () => assert.throws(fn, (e: unknown) => e instanceof GraphBuildError && re.test(e.message)));
  }
});

describe('graph: large initializers and external data', () => {
  it('a graph with ~600 MB of initializers saves with external data, loads into ORT and runs', async function () {
    this.timeout(60000);
    const rows = 150_000, cols = 1000; // 600 MB of float32
    const rowsPerChunk = 2000;
    const value = (r: number): number => (r % 1013) / 64; // one value per row: chunks fill natively
    // Streamed from a generator: the whole table is never held in JavaScript memory.
    const table: LazyTensorData = {
      byteLength: rows * cols * 4,
      *chunks() {
        const chunk = new Float32Array(rowsPerChunk * cols);
        for (let r0 = 0; r0 < rows; r0 += rowsPerChunk) {
          for (let r = 0; r < rowsPerChunk; r++) chunk.fill(value(r0 + r), r * cols, (r + 1) * cols);
          yield new Uint8Array(chunk.buffer);
        }
      },
    };
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'peft-graph-'));
    try {
      const b = new GraphBuilder('big');
      const ids = b.input('ids', 'int64', [3]);
      const big = b.initializer('embedding', 'float32', [rows, cols], table);
      const small = b.initializer('bias', 'float32', [cols], Float32Array.from({ length: cols }, (_, c) => c / 8));
      b.output(b.add(b.gather(big, ids, 0), small), 'rows');
      const saved = saveModel(b, path.join(dir, 'model.onnx'));
      assert.equal(saved.dataPath, path.join(dir, 'model.onnx.data'));
      assert.equal(fs.statSync(path.join(dir, 'model.onnx.data')).size, rows * cols * 4);
      assert.ok(saved.modelBytes < 64 * 1024, `model file is ${saved.modelBytes} bytes: the big tensor is not inline`);
      const s = await ort.InferenceSession.create(saved.modelPath, { intraOpNumThreads: 1 });
      const picks = [0, 123_457, rows - 1];
      const out = numbers((await s.run({ ids: feed('int64', [3], picks) })).rows, 'rows');
      await s.release();
      picks.forEach((r, i) => {
        for (const c of [0, 1, 500, cols - 1]) assert.equal(out[i * cols + c], value(r) + c / 8);
      });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a single tensor over 2 GiB: refused in memory (naming it and its size), external with aligned offsets in a file', () => {
    const huge = { name: 'lm_head.weight', dtype: 'float32' as const, shape: [2 ** 19 + 8, 1024] };
    const bytes = (2 ** 19 + 8) * 1024 * 4;
    assert.throws(
      () => planInitializerStorage([huge], 'memory'),
      (e: unknown) => e instanceof GraphBuildError && e.message.includes("'lm_head.weight'") && e.message.includes(`${bytes} bytes`) && e.message.includes('2.00 GiB'),
    );
    const plan = planInitializerStorage([{ name: 'small', dtype: 'float32', shape: [3] }, huge, { name: 'next', dtype: 'float64', shape: [300_000] }], 'file');
    assert.equal(plan[0].offset, null);
    assert.equal(plan[1].offset, 0);
    assert.equal(plan[1].byteLength, bytes);
    assert.equal(plan[2].offset, Math.ceil(bytes / 65536) * 65536);
    // Through the builder: lazy data of the declared size is never read when the model is refused.
    const b = new GraphBuilder();
    const never: LazyTensorData = { byteLength: bytes, chunks: () => { throw new Error('must not be read'); } };
    b.output(b.initializer('lm_head.weight', 'float32', huge.shape, never));
    assert.throws(() => toModelBytes(b), /'lm_head\.weight'.*too large for an in-memory ModelProto/);
  });

  it('many mid-sized tensors that would overflow 2 GiB inline are moved to the data file', () => {
    const specs = Array.from({ length: 5 }, (_, i) => ({ name: `w${i}`, dtype: 'float32' as const, shape: [1024, 1024, 127] }));
    const plan = planInitializerStorage(specs, 'file', 2 ** 40);
    const inline = plan.filter((p) => p.offset === null).reduce((s, p) => s + p.byteLength, 0);
    assert.ok(inline < 2 ** 31 - 1);
    assert.ok(plan.some((p) => p.offset !== null));
    assert.throws(() => planInitializerStorage(specs, 'memory'), /over the 2 GiB ModelProto cap/);
  });
});

describe('graph: lazily produced initializer data', () => {
  const lazy = (values: number[], extra = 0): LazyTensorData => ({
    byteLength: values.length * 4,
    *chunks() {
      const all = new Float32Array(values.length + extra);
      all.set(values);
      yield new Uint8Array(all.buffer, 0, 8);
      yield new Uint8Array(all.buffer, 8);
    },
  });

  it('is inlined in memory and runs', async () => {
    const b = new GraphBuilder();
    const x = b.input('x', 'float32', [4]);
    b.output(b.mul(x, b.initializer('w', 'float32', [4], lazy([1, 2, 3, 4]))), 'y');
    const s = await ort.InferenceSession.create(toModelBytes(b));
    assert.deepEqual(numbers((await s.run({ x: feed('float32', [4], [1, 1, 2, 2]) })).y, 'y'), [1, 2, 6, 8]);
  });

  it('a source yielding the wrong number of bytes is reported with the tensor name', () => {
    const b = new GraphBuilder();
    b.output(b.neg(b.initializer('bad', 'float32', [4], lazy([1, 2, 3, 4], 1))));
    assert.throws(() => toModelBytes(b), /initializer 'bad' \(float32\[4\], 16 bytes.*did not yield exactly 16 bytes/);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'peft-graph-'));
    try {
      assert.throws(() => saveModel(b, path.join(dir, 'm.onnx'), { externalThresholdBytes: 1 }), /initializer 'bad'.*yielded 20 bytes/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('declared sizes are checked against the shape', () => {
    const b = new GraphBuilder();
    assert.throws(() => b.initializer('w', 'float32', [5], lazy([1, 2, 3, 4])), /initializer 'w': lazy data has 16 bytes, float32\[5\] needs 20/);
    assert.throws(() => b.initializer('v', 'float64', [2], Float32Array.from([1, 2])), /initializer 'v': data is a Float32Array/);
  });
});

describe('graph: names', () => {
  it('refuses a chosen name that is already taken instead of renaming it', () => {
    const b = new GraphBuilder();
    const x = b.input('x', 'float32', [2]);
    assert.throws(() => b.input('x', 'float32', [2]), /input 'x': name already used/);
    b.named(b.neg(x), 'y');
    assert.throws(() => b.output(b.exp(x), 'y'), /named tensor 'y': name already used/);
  });
});
