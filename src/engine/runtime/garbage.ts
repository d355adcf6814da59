// Garbage collection between train steps. ORT returns every output as a fresh ArrayBuffer (a copy, even into a
// preallocated output), so a step leaves its activations, hidden states and gradients behind as garbage; V8 frees
// ArrayBuffers only when it collects, and waits until their external memory has grown by a large margin. The peak
// RSS of a run then measures that margin more than what the steps hold (GPT-2 small, bench `ist`: uniform and IST
// with pass-through recompute both ~1180 MiB; with a collection after each step 1194 and 1094). The job worker
// runs with --expose-gc (WORKER_NODE_FLAGS); elsewhere (tests, the extension host) there is nothing to call.

/** Node flags of the job worker process (and of the bench's run processes, which stand in for it). */
export const WORKER_NODE_FLAGS: readonly string[] = ['--expose-gc'];

/** Runs a full collection when the process was started with --expose-gc; returns whether it ran. */
export function collectGarbage(): boolean {
  const gc: unknown = Reflect.get(globalThis, 'gc');
  if (typeof gc !== 'function') return false;
  gc();
  return true;
}
