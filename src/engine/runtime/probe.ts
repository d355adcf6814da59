// Trying an execution provider in a short-lived child process, so a provider that crashes or hangs during session
// creation cannot take the job process with it. The child loads the same onnxruntime-node copy as this process.
import { execFile } from 'node:child_process';
import { ortEntryPath } from './ort';
import { encodeProbeModel } from './probeModel';

export type ProviderProbeResult = { ok: true } | { ok: false; error: string };

// Creates a session for Y = X + X on the provider and runs it once; prints one JSON line.
const CHILD_SCRIPT = `
const ort = require(process.env.PEFT_LAB_ORT_PATH);
const provider = process.env.PEFT_LAB_PROBE_PROVIDER;
const bytes = new Uint8Array(Buffer.from(process.env.PEFT_LAB_PROBE_MODEL, 'base64'));
const say = (o) => process.stdout.write(JSON.stringify(o) + '\\n');
(async () => {
  try {
    const s = await ort.InferenceSession.create(bytes, { executionProviders: [provider], logSeverityLevel: 3 });
    const out = await s.run({ X: new ort.Tensor('float32', new Float32Array([1, 2]), [2]) });
    const y = Array.from(out.Y.data);
    await s.release();
    say(y[0] === 2 && y[1] === 4 ? { ok: true } : { ok: false, error: 'probe model gave wrong output ' + JSON.stringify(y) });
  } catch (e) {
    say({ ok: false, error: String(e && e.message ? e.message : e).trim() });
  }
})();
`;

function parseProbeOutput(stdout: string): ProviderProbeResult | undefined {
  const line = stdout.trim().split('\n').pop();
  if (!line) return undefined;
  try {
    const parsed: unknown = JSON.parse(line);
    if (typeof parsed !== 'object' || parsed === null || !('ok' in parsed)) return undefined;
    if (parsed.ok === true) return { ok: true };
    const error = 'error' in parsed && typeof parsed.error === 'string' ? parsed.error : 'unknown error';
    return { ok: false, error };
  } catch {
    return undefined;
  }
}

/**
 * ORT often puts the useful part of a provider failure only in its log (e.g. which shared library could not be
 * opened and why); returns the last error-looking log line, without colour codes, shortened from the front.
 */
function ortLogDetail(stderr: string): string | undefined {
  // eslint-disable-next-line no-control-regex
  const lines = stderr.replace(/\u001b\[[0-9;]*m/g, '').split('\n').map((l) => l.trim()).filter(Boolean);
  const hit = lines.reverse().find((l) => /fail|error|cannot|not found/i.test(l));
  if (!hit) return undefined;
  const text = hit.replace(/^.*?\] /, '');
  return text.length > 400 ? `...${text.slice(-400)}` : text; // the cause is at the end
}

/** Runs the probe for `provider` with a wall-clock limit; never rejects. */
export function probeProviderInChildProcess(provider: string, timeoutMs: number): Promise<ProviderProbeResult> {
  return new Promise((resolve) => {
    let ortPath: string;
    try {
      ortPath = ortEntryPath();
    } catch (e) {
      resolve({ ok: false, error: `cannot resolve onnxruntime-node: ${String(e)}` });
      return;
    }
    execFile(process.execPath, ['-e', CHILD_SCRIPT], {
      timeout: timeoutMs,
      killSignal: 'SIGKILL',
      maxBuffer: 1 << 20,
      env: {
        ...process.env,
        ELECTRON_RUN_AS_NODE: '1', // under VS Code's Electron, process.execPath is Electron itself
        ORT_DISABLE_TELEMETRY: '1',
        PEFT_LAB_ORT_PATH: ortPath,
        PEFT_LAB_PROBE_PROVIDER: provider,
        PEFT_LAB_PROBE_MODEL: Buffer.from(encodeProbeModel()).toString('base64'),
      },
    }, (err, stdout, stderr) => {
      const parsed = parseProbeOutput(stdout);
      if (parsed) {
        const logged = parsed.ok ? undefined : ortLogDetail(stderr);
        resolve(parsed.ok || !logged ? parsed : { ok: false, error: `${parsed.error} [ORT log: ${logged}]` });
        return;
      }
      if (err && 'killed' in err && err.killed) {
        resolve({ ok: false, error: `creating a ${provider} session did not finish within ${timeoutMs} ms (probe process killed)` });
        return;
      }
      const detail = (stderr.trim() || (err ? err.message : '')).split('\n').slice(-3).join(' | ');
      resolve({ ok: false, error: `probe process for ${provider} failed: ${detail || 'no output'}` });
    });
  });
}
