/**
 * The tridiagonal spectra of fastEigen.ts in a worker thread, so that on a 2-core machine one matrix's eigenvalues
 * and inverse iteration (single-threaded JavaScript) overlap the next matrix's tridiagonalisation on the main
 * thread (fastDrd.ts svdFastAll). The worker runs the source of tridiagonalSpectrum.ts's functions (evaluated
 * code: the same in tsx and in the esbuild bundles, whatever names the bundler gave them), so its results are
 * bit-identical to the in-process ones. If the worker cannot start or fails, the spectra are computed in-process.
 */
import { Worker } from 'node:worker_threads';
import { inProcessSpectrum, startVectors, type SpectrumSolver } from './fastEigen';
import { normalise, shiftedSolver, tridiagonalEigenvalues, tridiagonalEigenvectors, tridiagonalQl, tridiagonalSpectrum } from './tridiagonalSpectrum';

interface Reply { id: number; ascending?: Float64Array; zRows?: Float64Array; error?: string }

function workerSource(): string {
  const functions = [normalise, shiftedSolver, tridiagonalQl, tridiagonalEigenvalues, tridiagonalEigenvectors, tridiagonalSpectrum].map((f) => f.toString());
  return [
    'var __name = (f) => f;', // keepNames helper of tsx / esbuild, if the source uses it
    ...functions,
    "const { parentPort } = require('node:worker_threads');",
    'const starts = new Map();',
    'parentPort.on("message", (m) => {',
    '  try {',
    '    if (m.starts !== undefined) starts.set(m.n, m.starts);',
    `    const r = ${tridiagonalSpectrum.name}(m.d, m.e, m.n, starts.get(m.n));`,
    '    parentPort.postMessage({ id: m.id, ascending: r.ascending, zRows: r.zRows }, [r.ascending.buffer, r.zRows.buffer]);',
    '  } catch (e) {',
    '    parentPort.postMessage({ id: m.id, error: String(e && e.stack || e) });',
    '  }',
    '});',
  ].join('\n');
}

/** A SpectrumSolver backed by one worker thread; dispose() ends it. */
export class SpectrumWorker {
  private worker: Worker | undefined;
  private readonly pending = new Map<number, { resolve: (r: Reply) => void }>();
  private readonly sizesSent = new Set<number>();
  private nextId = 0;

  constructor() {
    try {
      const w = new Worker(workerSource(), { eval: true });
      w.on('message', (r: Reply) => this.pending.get(r.id)?.resolve(r));
      w.on('error', () => this.fail());
      w.on('exit', () => this.fail());
      w.unref();
      this.worker = w;
    } catch {
      this.worker = undefined;
    }
  }

  /** Ends the worker; what is still pending is answered in-process. */
  private fail(): void {
    this.worker = undefined;
    for (const [id, p] of this.pending) p.resolve({ id, error: 'spectrum worker stopped' });
    this.pending.clear();
  }

  /** Whether the worker is up (false: every spectrum is computed in-process). */
  get running(): boolean {
    return this.worker !== undefined;
  }

  readonly solve: SpectrumSolver = async (d, e, n) => {
    const w = this.worker;
    if (w === undefined) return inProcessSpectrum(d, e, n);
    const id = this.nextId++;
    const reply = await new Promise<Reply>((resolve) => {
      // Referenced while a reply is awaited (an unreferenced worker would let the process exit first).
      if (this.pending.size === 0) w.ref();
      this.pending.set(id, { resolve });
      const first = !this.sizesSent.has(n);
      this.sizesSent.add(n);
      w.postMessage({ id, n, d, e, ...(first ? { starts: startVectors(n) } : {}) });
    });
    this.pending.delete(id);
    if (this.pending.size === 0) this.worker?.unref();
    if (reply.ascending === undefined || reply.zRows === undefined) return inProcessSpectrum(d, e, n);
    return { ascending: reply.ascending, zRows: reply.zRows };
  };

  async dispose(): Promise<void> {
    const w = this.worker;
    this.worker = undefined;
    if (w !== undefined) await w.terminate();
  }
}
