// Runs bench/torch_lora_step.py with Debian's python (not a pyenv python on PATH) when torch imports there.
import { execFile, execFileSync } from 'node:child_process';
import { cpus } from 'node:os';
import path from 'node:path';

export const SYSTEM_PYTHON = '/usr/bin/python3';
export const TORCH_INSTALL_HINT =
  'PyTorch baseline skipped: `/usr/bin/python3 -c "import torch"` failed. On Debian/Ubuntu install it with ' +
  '`sudo apt-get update && sudo apt-get install -y python3-torch libopenblas0-pthread` ' +
  '(OpenBLAS for a fair baseline: without it torch uses the slow reference BLAS).';

export interface TorchStepTiming {
  torch: string;
  threads: number;
  layers: number;
  forward_ms: number;
  step_ms: number;
}

export function torchAvailable(): boolean {
  try {
    execFileSync(SYSTEM_PYTHON, ['-c', 'import torch'], { stdio: 'ignore', timeout: 60_000 });
    return true;
  } catch {
    return false;
  }
}

function isTiming(x: unknown): x is TorchStepTiming {
  if (typeof x !== 'object' || x === null) return false;
  return 'forward_ms' in x && typeof x.forward_ms === 'number' && 'step_ms' in x && typeof x.step_ms === 'number' &&
    'torch' in x && typeof x.torch === 'string' && 'threads' in x && typeof x.threads === 'number' &&
    'layers' in x && typeof x.layers === 'number';
}

export function runTorchStep(options: { repeats: number; layers: number; timeoutMs: number }): Promise<TorchStepTiming> {
  const script = path.join(__dirname, 'torch_lora_step.py');
  const args = [script, '--repeats', String(options.repeats), '--layers', String(options.layers), '--threads', String(cpus().length)];
  return new Promise((resolve, reject) => {
    execFile(SYSTEM_PYTHON, args, { timeout: options.timeoutMs, killSignal: 'SIGKILL' }, (err, stdout, stderr) => {
      if (err) { reject(new Error(`${SYSTEM_PYTHON} ${path.basename(script)} failed: ${err.message} ${stderr}`)); return; }
      const last = stdout.trim().split('\n').pop() ?? '';
      let parsed: unknown;
      try { parsed = JSON.parse(last); } catch { reject(new Error(`unexpected output from ${script}: ${last}`)); return; }
      if (!isTiming(parsed)) { reject(new Error(`unexpected output from ${script}: ${last}`)); return; }
      resolve(parsed);
    });
  });
}
