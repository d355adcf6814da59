// The machine's MatMul rate on ORT CPU (float32), on the shapes of the GPT-2-small LoRA step (512 tokens).
import { GraphBuilder, toModelBytes } from '../src/engine/graph';
import { createSession, hostTensor } from '../src/engine/runtime';
import { randomFloat32 } from './randomWeights';
import { bestOf } from './report';

export interface MatMulShape {
  label: string;
  m: number;
  k: number;
  n: number;
  /** Weight stored [n, k] and used through Gemm transB=1 (as the backward pass and the tied LM head do). */
  transB: boolean;
}

export interface MatMulResult extends MatMulShape {
  bestMs: number;
  gflops: number;
}

/** 2mkn: one multiply and one add per inner-product term. */
export function matmulFlops(m: number, k: number, n: number): number {
  return 2 * m * k * n;
}

export function stepShapes(tokens: number, d: number, vocab: number): MatMulShape[] {
  return [
    { label: `c_attn [${tokens}x${d}]x[${d}x${3 * d}]`, m: tokens, k: d, n: 3 * d, transB: false },
    { label: `mlp.c_fc [${tokens}x${d}]x[${d}x${4 * d}]`, m: tokens, k: d, n: 4 * d, transB: false },
    { label: `mlp.c_proj [${tokens}x${4 * d}]x[${4 * d}x${d}]`, m: tokens, k: 4 * d, n: d, transB: false },
    { label: `c_fc backward dX [${tokens}x${4 * d}]x[${d}x${4 * d}]^T`, m: tokens, k: 4 * d, n: d, transB: true },
    { label: `lm_head [${tokens}x${d}]x[${vocab}x${d}]^T`, m: tokens, k: d, n: vocab, transB: true },
  ];
}

/** A session computing one product of `shape`, and a run() that feeds it. */
export async function openMatMulSession(shape: MatMulShape, threads: number, allowSpinning = true): Promise<{ run(): Promise<unknown>; dispose(): Promise<void> }> {
  const { m, k, n, transB } = shape;
  const b = new GraphBuilder('matmul_bench');
  const x = b.input('X', 'float32', [m, k]);
  const w = b.initializer('W', 'float32', transB ? [n, k] : [k, n], randomFloat32(k * n, 7, 0.05));
  b.output(transB ? b.gemm(x, w, undefined, { transB: true }) : b.matmul(x, w), 'Y');
  const session = await createSession({ bytes: toModelBytes(b) }, { executionProvider: 'cpu', intraOpNumThreads: threads, allowSpinning, label: shape.label });
  const feeds = { X: hostTensor('X', randomFloat32(m * k, 3, 1), [m, k]) };
  return { run: () => session.run(feeds), dispose: () => session.dispose() };
}

export async function measureMatMul(shape: MatMulShape, repeats: number, threads: number, allowSpinning = true): Promise<MatMulResult> {
  const s = await openMatMulSession(shape, threads, allowSpinning);
  try {
    const { best } = await bestOf(repeats, 1, () => s.run());
    return { ...shape, bestMs: best, gflops: matmulFlops(shape.m, shape.k, shape.n) / (best * 1e6) };
  } finally {
    await s.dispose();
  }
}
