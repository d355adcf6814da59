// One ORT inference session with provider choice and fallback, thread and optimisation settings, and checked
// tensor feeds and fetches.
import type { InferenceSession } from 'onnxruntime-node';
import { loadOrt } from './ort';
import {
  checkProviderAvailable, describeFallback, EXECUTION_PROVIDER_CHOICES, isExecutionProviderChoice, providerCandidates,
  type ExecutionProviderChoice, type ExecutionProviderName, type ProviderFailure, type ProviderResolution,
} from './providers';
import {
  checkFeedAgainstSignature, fromOrtValue, hostTensor, toOrtTensor, TensorShapeError,
  type ElementArray, type HostTensor, type TensorElementType, type TensorSignature,
} from './tensors';

export type GraphOptimizationLevel = 'disabled' | 'basic' | 'extended' | 'all';

/** A model given as serialized ModelProto bytes or as an .onnx file path (external data resolves beside it). */
export type ModelSource = { bytes: Uint8Array } | { path: string };

export interface RuntimeSessionOptions {
  executionProvider?: ExecutionProviderChoice; // default 'cpu'
  /** Threads inside one op (intraOpNumThreads); 0 or absent = ORT's default (one per physical core). */
  intraOpNumThreads?: number;
  graphOptimizationLevel?: GraphOptimizationLevel; // default 'all'
  /**
   * Let ORT's intra-op worker threads spin while waiting for work (ORT's default, true). Spinning lowers latency
   * on an idle machine but burns CPU that other processes on a busy one could use.
   */
  allowSpinning?: boolean;
  /**
   * ORT's CPU arena (default true) keeps each session's peak working memory for reuse; sessions that run one after
   * another (layer-granular execution) would each keep their own peak.
   */
  memoryArena?: boolean;
  /**
   * ORT's memory pattern (default true): after the first run, one block sized for the whole run's planned
   * intermediates is allocated per run. Without the arena that block is a fresh mapping every run.
   */
  memoryPattern?: boolean;
  /** Writes an ORT JSON profile (see RuntimeSession.endProfiling). */
  enableProfiling?: boolean;
  profileFilePrefix?: string;
  /** Time limit for trying a GPU provider in a child process (ms, default 20000). */
  providerProbeTimeoutMs?: number;
  /** ORT log level 0 (verbose) .. 4 (fatal); default 3 (errors only). */
  logSeverityLevel?: 0 | 1 | 2 | 3 | 4;
  /** Short name used in error messages (e.g. "gpt2 train step b4 s128"). */
  label?: string;
}

export const DEFAULT_PROVIDER_PROBE_TIMEOUT_MS = 20_000;

export type FeedTensors = Readonly<Record<string, HostTensor>>;

/** A session ready to run; create it with createSession(), release it with dispose(). */
export interface RuntimeSession {
  readonly label: string;
  readonly provider: ProviderResolution;
  readonly inputs: readonly TensorSignature[];
  readonly outputs: readonly TensorSignature[];
  /** Runs with checked feeds; `fetch` limits the outputs computed (default: all). */
  run(feeds: FeedTensors, fetch?: readonly string[]): Promise<RunResult>;
  /**
   * Stops profiling (only with enableProfiling). ORT writes `<profileFilePrefix>_<date>.json` in the working
   * directory; onnxruntime-node does not return the path.
   */
  endProfiling(): void;
  dispose(): Promise<void>;
  readonly disposed: boolean;
}

/** Outputs of one run, read back with their expected element type. */
export interface RunResult {
  readonly names: readonly string[];
  get<T extends TensorElementType>(name: string, type: T, expectedDims?: readonly number[]): HostTensor<ElementArray<T>>;
}

function ortSessionOptions(provider: ExecutionProviderName, options: RuntimeSessionOptions): InferenceSession.SessionOptions {
  const threads = options.intraOpNumThreads ?? 0;
  if (!Number.isInteger(threads) || threads < 0) {
    throw new RangeError(`intraOpNumThreads must be a non-negative integer (0 = ORT default), got ${threads}`);
  }
  return {
    executionProviders: [provider],
    graphOptimizationLevel: options.graphOptimizationLevel ?? 'all',
    logSeverityLevel: options.logSeverityLevel ?? 3,
    ...(threads > 0 ? { intraOpNumThreads: threads } : {}),
    ...(options.memoryArena === false ? { enableCpuMemArena: false } : {}),
    ...(options.memoryPattern === false ? { enableMemPattern: false } : {}),
    ...(options.allowSpinning === false ? { extra: { session: { intra_op: { allow_spinning: '0' } } } } : {}),
    ...(options.enableProfiling ? { enableProfiling: true, profileFilePrefix: options.profileFilePrefix ?? 'peft-lab-ort-profile' } : {}),
  };
}

function signatures(meta: readonly InferenceSession.ValueMetadata[], names: readonly string[]): TensorSignature[] {
  return names.map((name) => {
    const m = meta.find((x) => x.name === name);
    if (!m || !m.isTensor) return { name, type: 'unknown', dims: [] };
    return { name, type: m.type, dims: [...m.shape] };
  });
}

function errorText(e: unknown): string {
  return (e instanceof Error ? e.message : String(e)).trim();
}

async function createOrtSession(model: ModelSource, opts: InferenceSession.SessionOptions): Promise<InferenceSession> {
  const { InferenceSession: Factory } = loadOrt();
  return 'bytes' in model ? Factory.create(model.bytes, opts) : Factory.create(model.path, opts);
}

/**
 * Creates a session on the requested provider, falling back (in the order of providerCandidates) when a
 * provider is missing, fails its child-process probe, or fails to load this model. Errors of the last
 * provider (cpu) are thrown with the model label.
 */
export async function createSession(model: ModelSource, options: RuntimeSessionOptions = {}): Promise<RuntimeSession> {
  const requested: unknown = options.executionProvider ?? 'cpu';
  if (!isExecutionProviderChoice(requested)) {
    throw new RangeError(`executionProvider must be one of ${EXECUTION_PROVIDER_CHOICES.join(', ')}, got ${JSON.stringify(requested)}`);
  }
  const label = options.label ?? ('path' in model ? model.path : `model (${model.bytes.byteLength} bytes)`);
  const probeTimeout = options.providerProbeTimeoutMs ?? DEFAULT_PROVIDER_PROBE_TIMEOUT_MS;
  const failures: ProviderFailure[] = [];
  for (const provider of providerCandidates(requested)) {
    const ortOptions = ortSessionOptions(provider, options);
    if (provider !== 'cpu') {
      const probe = await checkProviderAvailable(provider, probeTimeout);
      if (!probe.ok) { failures.push({ provider, error: probe.error }); continue; }
    }
    let session: InferenceSession;
    try {
      session = await createOrtSession(model, ortOptions);
    } catch (e) {
      if (provider === 'cpu') throw new Error(`cannot create an ORT session for ${label} on cpu: ${errorText(e)}`);
      failures.push({ provider, error: errorText(e) });
      continue;
    }
    const resolution: ProviderResolution = {
      requested, used: provider, failures,
      ...(failures.length > 0 ? { fallbackReason: describeFallback(requested, provider, failures) } : {}),
    };
    return wrapSession(session, label, resolution);
  }
  throw new Error('unreachable: the provider list always ends with cpu');
}

function wrapSession(session: InferenceSession, label: string, provider: ProviderResolution): RuntimeSession {
  const inputs = signatures(session.inputMetadata, session.inputNames);
  const outputs = signatures(session.outputMetadata, session.outputNames);
  let disposed = false;
  const assertLive = (): void => {
    if (disposed) throw new Error(`session ${label} was disposed`);
  };
  return {
    label, provider, inputs, outputs,
    get disposed() { return disposed; },
    async run(feeds, fetch) {
      assertLive();
      const unexpected = Object.keys(feeds).filter((k) => !inputs.some((s) => s.name === k));
      if (unexpected.length > 0) {
        throw new TensorShapeError(unexpected[0] ?? '', `is not an input of ${label} (inputs: ${inputs.map((s) => s.name).join(', ')})`);
      }
      const ortFeeds: Record<string, ReturnType<typeof toOrtTensor>> = {};
      for (const sig of inputs) {
        const t = feeds[sig.name];
        if (!t) throw new TensorShapeError(sig.name, `input of ${label} is missing from the feeds`);
        const checked = hostTensor(sig.name, t.data, t.dims);
        checkFeedAgainstSignature(checked, sig);
        ortFeeds[sig.name] = toOrtTensor(sig.name, checked);
      }
      for (const name of fetch ?? []) {
        if (!outputs.some((s) => s.name === name)) throw new TensorShapeError(name, `is not an output of ${label}`);
      }
      const result = fetch ? await session.run(ortFeeds, [...fetch]) : await session.run(ortFeeds);
      return {
        names: Object.keys(result),
        get(name, type, expectedDims) {
          return fromOrtValue(name, result[name], type, expectedDims);
        },
      };
    },
    endProfiling() {
      assertLive();
      session.endProfiling();
    },
    async dispose() {
      if (disposed) return;
      disposed = true;
      await session.release();
    },
  };
}
