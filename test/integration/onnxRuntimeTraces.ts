// Evidence that onnxruntime-node was loaded into the current process (the extension host must never load it:
// jobs run ONNX Runtime in their own process).
import { existsSync, readFileSync } from 'node:fs';

/** Loaded module ids and mapped shared objects naming onnxruntime; empty when it was never loaded. */
export function onnxRuntimeTracesInThisProcess(): string[] {
  const traces = Object.keys(require.cache).filter((id) => /onnxruntime-(node|common)/.test(id));
  // Linux: a dlopen'ed addon shows up in the process's memory maps however it was loaded.
  if (existsSync('/proc/self/maps')) {
    const mapped = readFileSync('/proc/self/maps', 'utf8')
      .split('\n')
      .filter((line) => line.includes('onnxruntime'))
      .map((line) => line.trim().split(/\s+/).pop() ?? line);
    traces.push(...new Set(mapped));
  }
  return traces;
}
