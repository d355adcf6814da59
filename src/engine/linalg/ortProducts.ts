/**
 * Dense float64 matrix products on ONNX Runtime (MatMul on the CPU provider, multi-threaded BLAS-level kernels),
 * for the O(n^3) products of emulator compression (Gram matrices, U = W V, the GCS terms): in single-threaded
 * JavaScript these dominate the compression time of a GPT-2-small-sized model (bench/compress.ts). One session
 * per product shape, cached.
 */
import { GraphBuilder, toModelBytes } from '../graph';
import { createSession, hostTensor, type RuntimeSession, type RuntimeSessionOptions } from '../runtime';

export class OrtProducts {
  private readonly sessions = new Map<string, Promise<RuntimeSession>>();

  private readonly options: RuntimeSessionOptions;

  /**
   * Spinning is off unless `options` turn it on: these runs alternate with JavaScript work (blockedTridiagonal.ts),
   * and spinning intra-op threads slow the main thread's loops down several times on a 2-core machine.
   */
  constructor(options: RuntimeSessionOptions = {}) {
    this.options = { allowSpinning: false, ...options };
  }

  private session(key: string, build: () => Uint8Array): Promise<RuntimeSession> {
    let s = this.sessions.get(key);
    if (s === undefined) {
      s = createSession({ bytes: build() }, { label: `offsite product ${key}`, ...this.options });
      this.sessions.set(key, s);
    }
    return s;
  }

  /**
   * C = op(A) op(B) for A [m, k] (or [k, m] with transA) and B [k, n] (or [n, k] with transB), row-major.
   */
  async product(a: Float64Array, aShape: readonly [number, number], b: Float64Array, bShape: readonly [number, number],
    transA = false, transB = false): Promise<Float64Array> {
    const [m, k] = transA ? [aShape[1], aShape[0]] : aShape;
    const [k2, n] = transB ? [bShape[1], bShape[0]] : bShape;
    if (k !== k2) throw new Error(`offsite product: inner sizes differ, [${aShape.join(', ')}]${transA ? '^T' : ''} x [${bShape.join(', ')}]${transB ? '^T' : ''}`);
    const key = `${aShape.join('x')}${transA ? 'T' : ''}*${bShape.join('x')}${transB ? 'T' : ''}`;
    const session = await this.session(key, () => {
      const g = new GraphBuilder('offsite_product');
      const x = g.input('a', 'float64', [...aShape]);
      const y = g.input('b', 'float64', [...bShape]);
      g.output(g.gemm(x, y, undefined, { transA, transB }), 'c');
      return toModelBytes(g);
    });
    const out = await session.run({ a: hostTensor('a', a, [...aShape]), b: hostTensor('b', b, [...bShape]) });
    return out.get('c', 'float64', [m, n]).data;
  }

  /**
   * Z <- (I - Y_0 T_0 Y_0^T) ... (I - Y_{B-1} T_{B-1} Y_{B-1}^T) Z, applied from the last factor (compact WY
   * blocks of Householder reflectors): y [B, n, nb], t [B, nb, nb], z [n, c]. One run for all blocks.
   */
  async applyWyBlocks(y: Float64Array, t: Float64Array, z: Float64Array, blocks: number, n: number, nb: number, c: number): Promise<Float64Array> {
    const key = `wy ${blocks}x${n}x${nb} * ${n}x${c}`;
    const session = await this.session(key, () => {
      const g = new GraphBuilder('offsite_wy_blocks');
      const ys = g.input('y', 'float64', [blocks, n, nb]);
      const ts = g.input('t', 'float64', [blocks, nb, nb]);
      let acc = g.input('z', 'float64', [n, c]);
      for (let b = blocks - 1; b >= 0; b--) {
        const yb = g.reshape(g.slice(ys, [b], [b + 1], [0]), [n, nb]);
        const tb = g.reshape(g.slice(ts, [b], [b + 1], [0]), [nb, nb]);
        const ytz = g.gemm(yb, acc, undefined, { transA: true }); // [nb, c]
        acc = g.sub(acc, g.matmul(yb, g.matmul(tb, ytz)));
      }
      g.output(acc, 'out');
      return toModelBytes(g);
    });
    const out = await session.run({
      y: hostTensor('y', y, [blocks, n, nb]), t: hostTensor('t', t, [blocks, nb, nb]), z: hostTensor('z', z, [n, c]),
    });
    return out.get('out', 'float64', [n, c]).data;
  }

  /** Y_b^T Y_b for each block of y [B, n, nb]: [B, nb, nb] (batched MatMul). */
  async blockGrams(y: Float64Array, blocks: number, n: number, nb: number): Promise<Float64Array> {
    const session = await this.session(`block grams ${blocks}x${n}x${nb}`, () => {
      const g = new GraphBuilder('offsite_block_grams');
      const ys = g.input('y', 'float64', [blocks, n, nb]);
      g.output(g.matmul(g.transpose(ys, [0, 2, 1]), ys), 'out');
      return toModelBytes(g);
    });
    const out = await session.run({ y: hostTensor('y', y, [blocks, n, nb]) });
    return out.get('out', 'float64', [blocks, nb, nb]).data;
  }

  /**
   * a[skip:, skip:] - p^T q for a [m, m], p and q [k, m - skip] (the rank-k trailing update of a blocked
   * tridiagonalisation, with p = [V; W] and q = [W; V]): one Gemm with alpha = -1, beta = 1.
   */
  async symmetricTrailingUpdate(a: Float64Array, m: number, p: Float64Array, q: Float64Array, k: number, skip: number): Promise<Float64Array> {
    const r = m - skip;
    const session = await this.session(`trailing ${m} -${skip} k${k}`, () => {
      const g = new GraphBuilder('offsite_trailing_update');
      const full = g.input('a', 'float64', [m, m]);
      const trailing = skip === 0 ? full : g.slice(full, [skip, skip], [m, m], [0, 1]);
      const pt = g.input('p', 'float64', [k, r]);
      const qt = g.input('q', 'float64', [k, r]);
      g.output(g.gemm(pt, qt, trailing, { transA: true, alpha: -1, beta: 1 }), 'out');
      return toModelBytes(g);
    });
    const out = await session.run({ a: hostTensor('a', a, [m, m]), p: hostTensor('p', p, [k, r]), q: hostTensor('q', q, [k, r]) });
    return out.get('out', 'float64', [r, r]).data;
  }

  async dispose(): Promise<void> {
    const all = [...this.sessions.values()];
    this.sessions.clear();
    for (const s of all) await (await s).dispose();
  }
}
