/**
 * ORT runtime layer: sessions on cpu / cuda / webgpu with fallback, a shape-bucketed session cache, and checked
 * tensors in and out. Importing this module does not load onnxruntime-node; the first session does.
 *
 *   const s = await createSession({ bytes }, { executionProvider: 'auto', intraOpNumThreads: 0 });
 *   s.provider            // { requested: 'auto', used: 'cpu', fallbackReason: 'execution provider "auto" ...' }
 *   const out = await s.run({ X: hostTensor('X', new Float32Array(6), [2, 3]) });
 *   out.get('Y', 'float32', [2, 4]).data
 *   await s.dispose();
 *
 *   const cache = new SessionCache({ session: { executionProvider: 'cpu' } });
 *   const s2 = await cache.get('gpt2-train', { batch: 4, seq: bucketSize(100, [64, 128]) }, (b) => ({ bytes: build(b) }));
 *   await cache.dispose();
 */
export { collectGarbage, WORKER_NODE_FLAGS } from './garbage';
export { loadOrt, isOrtLoaded } from './ort';
export {
  EXECUTION_PROVIDER_CHOICES, isExecutionProviderChoice, providerCandidates, supportedBackendNames,
  checkProviderAvailable, clearProviderProbeCache, describeFallback,
  type ExecutionProviderChoice, type ExecutionProviderName, type ProviderFailure, type ProviderResolution,
} from './providers';
export type { ProviderProbeResult } from './probe';
export {
  createSession, DEFAULT_PROVIDER_PROBE_TIMEOUT_MS,
  type GraphOptimizationLevel, type ModelSource, type RuntimeSessionOptions, type RuntimeSession, type RunResult, type FeedTensors,
} from './session';
export {
  SessionCache, bucketSize, sessionCacheKey,
  type ShapeBucket, type BucketModelBuilder, type SessionCacheStats, type SessionCacheOptions,
} from './sessionCache';
export {
  hostTensor, toOrtTensor, fromOrtValue, elementCount, elementTypeOf, formatDims, checkFeedAgainstSignature, TensorShapeError,
  type HostTensor, type TensorData, type TensorElementType, type ElementArray, type TensorSignature,
} from './tensors';
