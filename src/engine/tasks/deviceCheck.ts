// The device-check task: load ONNX Runtime on the requested device (with fallback), run an N x N float32 MatMul
// `repeats` times, verify entries of the result against a float64 TypeScript dot product, and report GFLOP/s.
import type { DeviceCheckRecord } from '../../protocol/runFiles';
import type { DeviceCheckSettings, RuntimeSettings } from '../config/types';
import { createSession, hostTensor, type RuntimeSession } from '../runtime';
import { checkPositions, dotProductErrorBound, matmulGflops, referenceEntry, testMatrix } from './matmulMath';
import { encodeMatMulModel } from './matmulModel';
import { TaskError, type TaskContext } from './context';

export async function runDeviceCheck(settings: DeviceCheckSettings, runtime: RuntimeSettings, ctx: TaskContext): Promise<DeviceCheckRecord> {
  const n = settings.size;
  const where = (phase: string): string => `task device-check (size ${n}): ${phase}`;
  ctx.progress(0, `loading ONNX Runtime (device ${runtime.device})`);
  let session: RuntimeSession;
  try {
    session = await createSession(
      { bytes: encodeMatMulModel(n) },
      { executionProvider: runtime.device, intraOpNumThreads: runtime.threads, label: `device-check MatMul ${n}x${n}` },
    );
  } catch (err) {
    throw new TaskError(err instanceof Error ? err.message : String(err), where('create session'));
  }
  try {
    const device = {
      requested: session.provider.requested,
      used: session.provider.used,
      ...(session.provider.fallbackReason === undefined ? {} : { fallbackReason: session.provider.fallbackReason }),
    };
    ctx.log('info', `session on ${device.used} (requested ${device.requested})${device.fallbackReason ? `: ${device.fallbackReason}` : ''}`);
    const a = testMatrix(n, 1);
    const b = testMatrix(n, 2);
    const feeds = { A: hostTensor('A', a, [n, n]), B: hostTensor('B', b, [n, n]) };
    const runOnce = async (): Promise<Float32Array> => (await session.run(feeds)).get('C', 'float32', [n, n]).data;

    // Warm-up (first-run allocations, kernel selection), verified but not timed.
    const maxAbsError = verify(await runOnce(), a, b, n, where('verify warm-up result'));
    let totalMs = 0;
    let last: Float32Array | undefined;
    for (let r = 0; r < settings.repeats; r++) {
      ctx.throwIfCancelled();
      const t0 = performance.now();
      last = await runOnce();
      totalMs += performance.now() - t0;
      ctx.progress((r + 1) / settings.repeats, `MatMul ${r + 1}/${settings.repeats} on ${device.used}`);
      // Lets IPC messages (cancel) be handled between native runs.
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
    const lastError = last === undefined ? 0 : verify(last, a, b, n, where('verify last result'));
    const msPerMatMul = totalMs / settings.repeats;
    return {
      type: 'device-check',
      size: n,
      repeats: settings.repeats,
      msPerMatMul,
      gflops: matmulGflops(n, msPerMatMul),
      maxAbsError: Math.max(maxAbsError, lastError),
      device,
    };
  } finally {
    await session.dispose();
  }
}

/** Checks entries of C against float64 references within the float32 dot-product bound; returns the max error. */
function verify(c: Float32Array, a: Float32Array, b: Float32Array, n: number, where: string): number {
  let maxAbsError = 0;
  for (const [i, j] of checkPositions(n)) {
    const ref = referenceEntry(a, b, n, i, j);
    const got = c[i * n + j] ?? Number.NaN;
    const err = Math.abs(got - ref.value);
    // A small absolute slack covers the float32 rounding of the reference itself.
    const bound = dotProductErrorBound(n, ref.absSum) + 2 ** -24 * Math.abs(ref.value) + 1e-30;
    if (!(err <= bound)) {
      throw new TaskError(`MatMul result C[${i}][${j}] = ${got}, expected ${ref.value} (error ${err} > bound ${bound})`, where);
    }
    maxAbsError = Math.max(maxAbsError, err);
  }
  return maxAbsError;
}
