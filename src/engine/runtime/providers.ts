// Execution-provider choice and fallback. `auto` prefers cuda, then webgpu, then cpu (cpu always works). A GPU
// provider is first checked against listSupportedBackends(), then tried in a child process with a time limit
// (session creation is a blocking native call, so a provider that hangs, e.g. a GPU driver that never answers an
// adapter request, could not be interrupted in-process), and finally used in-process; any failure falls back.
import { deviceNameSchema, type DeviceName } from '../../protocol/runFiles';
import { loadOrt } from './ort';
import { probeProviderInChildProcess, type ProviderProbeResult } from './probe';

export type ExecutionProviderChoice = DeviceName;
export type ExecutionProviderName = Exclude<DeviceName, 'auto'>;

export const EXECUTION_PROVIDER_CHOICES: readonly ExecutionProviderChoice[] = deviceNameSchema.options;

/** One provider that was tried and did not work, with the provider's own error text. */
export interface ProviderFailure {
  provider: ExecutionProviderName;
  error: string;
}

/** Which provider was asked for, which one runs the session, and why they differ (if they do). */
export interface ProviderResolution {
  requested: ExecutionProviderChoice;
  used: ExecutionProviderName;
  /** Set when `used` is not the first provider the request named (for `auto`: not cuda). */
  fallbackReason?: string;
  failures: ProviderFailure[];
}

export function isExecutionProviderChoice(value: unknown): value is ExecutionProviderChoice {
  return typeof value === 'string' && (EXECUTION_PROVIDER_CHOICES as readonly string[]).includes(value);
}

/** Providers to try, in order, for a request; the list always ends with cpu. */
export function providerCandidates(requested: ExecutionProviderChoice): ExecutionProviderName[] {
  switch (requested) {
    case 'auto': return ['cuda', 'webgpu', 'cpu'];
    case 'cuda': return ['cuda', 'cpu'];
    case 'webgpu': return ['webgpu', 'cpu'];
    case 'cpu': return ['cpu'];
  }
}

/** Names onnxruntime-node reports for this build (cpu, webgpu bundled; cuda only with its extra binaries). */
export function supportedBackendNames(): string[] {
  return loadOrt().listSupportedBackends().map((b) => b.name);
}

const probeCache = new Map<string, Promise<ProviderProbeResult>>();

/** Forgets earlier probe results (tests; or after the user installed the CUDA binaries). */
export function clearProviderProbeCache(): void {
  probeCache.clear();
}

/**
 * Checks that a GPU provider can create and run a session here, without risking a hang in this process.
 * Results are cached per provider and time limit for the life of the process.
 */
export async function checkProviderAvailable(provider: Exclude<ExecutionProviderName, 'cpu'>, timeoutMs: number): Promise<ProviderProbeResult> {
  const listed = loadOrt().listSupportedBackends().find((b) => b.name === provider);
  if (!listed) {
    return { ok: false, error: `onnxruntime-node does not list "${provider}" in listSupportedBackends() on ${process.platform}-${process.arch}` };
  }
  const key = `${provider}:${timeoutMs}`;
  let pending = probeCache.get(key);
  if (!pending) {
    pending = probeProviderInChildProcess(provider, timeoutMs);
    probeCache.set(key, pending);
  }
  const result = await pending;
  if (!result.ok && !listed.bundled) {
    return { ok: false, error: `${result.error} (its binaries are not bundled with onnxruntime-node: they are installed separately)` };
  }
  return result;
}

/** The message a user sees when the provider in use is not the one requested. */
export function describeFallback(requested: ExecutionProviderChoice, used: ExecutionProviderName, failures: readonly ProviderFailure[]): string {
  const why = failures.map((f) => `${f.provider}: ${f.error}`).join('; ');
  return `execution provider "${requested}" was requested, using "${used}" instead. ${why}`;
}
