import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  bucketSize, clearProviderProbeCache, createSession, hostTensor, SessionCache, sessionCacheKey, TensorShapeError,
  type ProviderResolution, type RuntimeSession,
} from '../../../src/engine/runtime';
import { encodeTinyModel, matMulModel, OnnxElemType } from './tinyOnnxModel';

const repoRoot = path.resolve(__dirname, '../../..');

function matmulRef(x: Float32Array, w: Float32Array, m: number, k: number, n: number): Float32Array {
  const y = new Float32Array(m * n);
  for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) {
    let s = 0;
    for (let p = 0; p < k; p++) s += (x[i * k + p] ?? 0) * (w[p * n + j] ?? 0);
    y[i * n + j] = s;
  }
  return y;
}

function seq(n: number, scale = 0.1): Float32Array {
  return Float32Array.from({ length: n }, (_, i) => ((i * 7) % 11 - 5) * scale);
}

function assertClose(actual: Float32Array, expected: Float32Array): void {
  assert.equal(actual.length, expected.length);
  for (let i = 0; i < actual.length; i++) assert.ok(Math.abs((actual[i] ?? 0) - (expected[i] ?? 0)) < 1e-5, `element ${i}: ${actual[i]} vs ${expected[i]}`);
}

/** A GPU provider either works here, or the session fell back to cpu saying which provider failed and why. */
function assertUsedOrFellBack(p: ProviderResolution, gpu: 'cuda' | 'webgpu'): void {
  if (p.used === gpu) {
    assert.equal(p.fallbackReason, undefined);
    return;
  }
  assert.equal(p.used, 'cpu');
  const failure = p.failures.find((f) => f.provider === gpu);
  assert.ok(failure, `no ${gpu} failure recorded: ${JSON.stringify(p)}`);
  assert.ok(failure.error.length > 10, `${gpu} error should carry the provider's own message: ${failure.error}`);
  assert.ok(p.fallbackReason?.includes(`"${p.requested}" was requested, using "cpu"`), p.fallbackReason);
  assert.ok(p.fallbackReason?.includes(failure.error), 'fallback reason quotes the provider error');
}

describe('runtime: sessions and execution providers', function () {
  this.timeout(60_000);
  afterEach(() => clearProviderProbeCache());

  it('importing the runtime module does not load onnxruntime-node', () => {
    const script = "require('./src/engine/runtime'); process.stdout.write(String(Object.keys(require.cache).some((k) => k.includes('onnxruntime'))))";
    const out = execFileSync(process.execPath, ['--import', 'tsx', '-e', script], { cwd: repoRoot, encoding: 'utf8' });
    assert.equal(out.trim(), 'false');
  });

  it('runs a MatMul on cpu from bytes and from a file path', async () => {
    const w = seq(12);
    const x = seq(6, 0.3);
    const expected = matmulRef(x, w, 2, 3, 4);
    const dir = mkdtempSync(path.join(tmpdir(), 'peft-runtime-'));
    try {
      const file = path.join(dir, 'mm.onnx');
      writeFileSync(file, matMulModel(2, 3, 4, w));
      for (const source of [{ bytes: matMulModel(2, 3, 4, w) }, { path: file }]) {
        const s = await createSession(source, { executionProvider: 'cpu', intraOpNumThreads: 1 });
        assert.deepEqual(s.provider, { requested: 'cpu', used: 'cpu', failures: [] });
        const out = await s.run({ X: hostTensor('X', x, [2, 3]) });
        assertClose(out.get('Y', 'float32', [2, 4]).data, expected);
        await s.dispose();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('cuda: used when it works, else falls back to cpu naming the reason', async () => {
    const s = await createSession({ bytes: matMulModel(2, 3, 4, seq(12)) }, { executionProvider: 'cuda' });
    assertUsedOrFellBack(s.provider, 'cuda');
    const out = await s.run({ X: hostTensor('X', seq(6), [2, 3]) });
    assertClose(out.get('Y', 'float32').data, matmulRef(seq(6), seq(12), 2, 3, 4));
    await s.dispose();
  });

  it('webgpu: used when it works, else falls back to cpu naming the reason', async () => {
    const s = await createSession({ bytes: matMulModel(2, 3, 4, seq(12)) }, { executionProvider: 'webgpu' });
    assertUsedOrFellBack(s.provider, 'webgpu');
    await s.dispose();
  });

  it('a provider probe that exceeds its time limit falls back instead of hanging', async () => {
    const t0 = Date.now();
    const s = await createSession({ bytes: matMulModel(2, 3, 4, seq(12)) }, { executionProvider: 'webgpu', providerProbeTimeoutMs: 1 });
    assert.ok(Date.now() - t0 < 15_000);
    assert.equal(s.provider.used, 'cpu');
    assert.match(s.provider.fallbackReason ?? '', /webgpu: creating a webgpu session did not finish within 1 ms/);
    await s.dispose();
  });

  it('auto tries cuda, then webgpu, then cpu, and records each failure in order', async () => {
    const s = await createSession({ bytes: matMulModel(2, 3, 4, seq(12)) }, { executionProvider: 'auto' });
    const order = ['cuda', 'webgpu', 'cpu'];
    const usedAt = order.indexOf(s.provider.used);
    assert.ok(usedAt >= 0);
    assert.deepEqual(s.provider.failures.map((f) => f.provider), order.slice(0, usedAt));
    if (usedAt > 0) assert.ok(s.provider.fallbackReason?.startsWith('execution provider "auto" was requested'));
    await s.dispose();
  });

  it('accepts thread count, optimisation level and spinning settings', async () => {
    const s = await createSession({ bytes: matMulModel(2, 3, 4, seq(12)) }, { intraOpNumThreads: 2, graphOptimizationLevel: 'basic', allowSpinning: false });
    const out = await s.run({ X: hostTensor('X', seq(6), [2, 3]) });
    assertClose(out.get('Y', 'float32', [2, 4]).data, matmulRef(seq(6), seq(12), 2, 3, 4));
    await s.dispose();
  });

  it('rejects a bad thread count and names a broken model', async () => {
    await assert.rejects(createSession({ bytes: matMulModel(2, 3, 4) }, { intraOpNumThreads: -1 }), /intraOpNumThreads/);
    const fromUntypedConfig: { executionProvider?: never } = JSON.parse('{"executionProvider": "gpu"}');
    await assert.rejects(createSession({ bytes: matMulModel(2, 3, 4) }, fromUntypedConfig), /executionProvider must be one of auto, cpu, cuda, webgpu, got "gpu"/);
    await assert.rejects(createSession({ bytes: new Uint8Array([1, 2, 3]) }, { label: 'broken-model' }), /broken-model on cpu/);
  });
});

describe('runtime: tensors in and out', function () {
  this.timeout(30_000);
  let session: RuntimeSession;
  before(async () => {
    session = await createSession({ bytes: matMulModel('m', 3, 4) }, { label: 'mm' });
  });
  after(() => session.dispose());

  it('hostTensor checks element count and dims, naming the tensor', () => {
    assert.throws(() => hostTensor('X', new Float32Array(5), [2, 3]), (e: unknown) =>
      e instanceof TensorShapeError && e.tensorName === 'X' && /shape \[2, 3\] needs 6 elements, got 5/.test(e.message));
    assert.throws(() => hostTensor('ids', new BigInt64Array(2), [-1, 2]), /tensor "ids": dimension 0 of \[-1, 2\] is -1/);
    assert.throws(() => hostTensor('h', new Float64Array(2), [2.5]), /tensor "h"/);
  });

  it('feeds are checked against the model inputs (type, fixed dims, missing, unknown)', async () => {
    const w = hostTensor('W', seq(12), [3, 4]);
    await assert.rejects(session.run({ X: hostTensor('X', new Float64Array(6), [2, 3]), W: w }),
      /tensor "X": model input expects float32, got float64/);
    await assert.rejects(session.run({ X: hostTensor('X', new Float32Array(8), [2, 4]), W: w }),
      /tensor "X": model input expects shape \[m, 3\], got \[2, 4\]/);
    await assert.rejects(session.run({ X: hostTensor('X', new Float32Array(6), [2, 3]) }), /tensor "W": input of mm is missing/);
    await assert.rejects(session.run({ X: hostTensor('X', new Float32Array(6), [2, 3]), W: w, Z: w }), /tensor "Z": is not an input of mm/);
    await assert.rejects(session.run({ X: { data: new Float32Array(5), dims: [2, 3] }, W: w }), /tensor "X": shape \[2, 3\] needs 6/);
  });

  it('symbolic dims accept any size; outputs are checked by type and shape', async () => {
    const out = await session.run({ X: hostTensor('X', seq(15), [5, 3]), W: hostTensor('W', seq(12), [3, 4]) });
    assertClose(out.get('Y', 'float32', [5, 4]).data, matmulRef(seq(15), seq(12), 5, 3, 4));
    assert.throws(() => out.get('Y', 'float64'), /tensor "Y": has element type float32, expected float64/);
    assert.throws(() => out.get('Y', 'float32', [4, 5]), /tensor "Y": has shape \[5, 4\], expected \[4, 5\]/);
    assert.throws(() => out.get('nope', 'float32'), /tensor "nope": is not among the session outputs/);
    await assert.rejects(session.run({ X: hostTensor('X', seq(3), [1, 3]), W: hostTensor('W', seq(12), [3, 4]) }, ['Q']), /tensor "Q": is not an output/);
  });

  it('float64 and int64 tensors round-trip', async () => {
    const bytes = encodeTinyModel({
      nodes: [{ opType: 'Identity', inputs: ['D'], outputs: ['D2'] }, { opType: 'Identity', inputs: ['I'], outputs: ['I2'] }],
      inputs: [{ name: 'D', elemType: OnnxElemType.double, dims: [2] }, { name: 'I', elemType: OnnxElemType.int64, dims: [3] }],
      outputs: [{ name: 'D2', elemType: OnnxElemType.double, dims: [2] }, { name: 'I2', elemType: OnnxElemType.int64, dims: [3] }],
    });
    const s = await createSession({ bytes });
    const out = await s.run({ D: hostTensor('D', Float64Array.of(1e-300, Math.PI), [2]), I: hostTensor('I', BigInt64Array.of(-1n, 2n ** 40n, 50256n), [3]) });
    assert.deepEqual([...out.get('D2', 'float64', [2]).data], [1e-300, Math.PI]);
    assert.deepEqual([...out.get('I2', 'int64', [3]).data], [-1n, 2n ** 40n, 50256n]);
    await s.dispose();
  });
});

describe('runtime: shape-bucketed session cache', function () {
  this.timeout(30_000);

  it('bucketSize rounds up to the smallest fitting bucket', () => {
    assert.equal(bucketSize(100, [256, 64, 128]), 128);
    assert.equal(bucketSize(64, [64, 128]), 64);
    assert.throws(() => bucketSize(300, [64, 128], 'sequence length'), /sequence length 300 exceeds the largest bucket \(128\)/);
  });

  it('keys ignore bucket entry order and reject bad sizes', () => {
    assert.equal(sessionCacheKey('m', { batch: 4, seq: 8 }), sessionCacheKey('m', { seq: 8, batch: 4 }));
    assert.notEqual(sessionCacheKey('m', { batch: 4, seq: 8 }), sessionCacheKey('m', { batch: 4, seq: 16 }));
    assert.throws(() => sessionCacheKey('m', { batch: 0 }), /shape bucket of m: batch = 0/);
  });

  it('counts hits and misses per bucket and builds each bucket once', async () => {
    const cache = new SessionCache();
    const built: number[] = [];
    const build = (b: Readonly<Record<string, number>>) => {
      const rows = (b.batch ?? 0) * (b.seq ?? 0);
      built.push(rows);
      return { bytes: matMulModel(rows, 3, 2, seq(6)) };
    };
    const [a1, a2] = await Promise.all([cache.get('mm', { batch: 1, seq: 2 }, build), cache.get('mm', { batch: 1, seq: 2 }, build)]);
    assert.equal(a1, a2, 'concurrent requests share one session');
    const b = await cache.get('mm', { batch: 2, seq: 2 }, build);
    const a3 = await cache.get('mm', { seq: 2, batch: 1 }, build);
    assert.equal(a3, a1);
    assert.notEqual(b, a1);
    assert.deepEqual(cache.stats(), { hits: 2, misses: 2, size: 2 });
    assert.deepEqual(built, [2, 4]);
    const outB = await b.run({ X: hostTensor('X', seq(12), [4, 3]) });
    assert.deepEqual(outB.get('Y', 'float32').dims, [4, 2]);
    await cache.dispose();
    assert.ok(a1.disposed && b.disposed, 'dispose releases every session');
    await assert.rejects(a1.run({ X: hostTensor('X', seq(6), [2, 3]) }), /was disposed/);
    await assert.rejects(cache.get('mm', { batch: 1, seq: 2 }, build), /SessionCache was disposed/);
  });

  it('evicts the least recently used session beyond maxEntries and per model', async () => {
    const cache = new SessionCache({ maxEntries: 2 });
    const build = (b: Readonly<Record<string, number>>) => ({ bytes: matMulModel(b.seq ?? 1, 3, 2, seq(6)) });
    const s1 = await cache.get('mm', { seq: 1 }, build);
    const s2 = await cache.get('mm', { seq: 2 }, build);
    await cache.get('mm', { seq: 1 }, build); // s1 is now the most recent
    const s3 = await cache.get('mm', { seq: 3 }, build);
    assert.ok(s2.disposed && !s1.disposed && !s3.disposed);
    assert.ok(!cache.has('mm', { seq: 2 }));
    const other = await cache.get('other', { seq: 1 }, build);
    assert.ok(s1.disposed, 'the limit applies across models');
    await cache.evictModel('mm');
    assert.ok(s3.disposed && !other.disposed);
    assert.deepEqual(cache.stats().size, 1);
    await cache.dispose();
    assert.ok(other.disposed);
  });

  it('a failing build is not cached', async () => {
    const cache = new SessionCache();
    await assert.rejects(cache.get('bad', { seq: 1 }, () => ({ bytes: new Uint8Array([9, 9]) })), /cannot create an ORT session for bad seq=1/);
    assert.equal(cache.stats().size, 0);
    await cache.dispose();
  });
});
