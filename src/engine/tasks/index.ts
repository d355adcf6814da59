// The jobs a config names: tune, offsite, device-check; their setup, resume checks and summaries.
export { runDeviceCheck } from './deviceCheck';
export { TaskError, TaskCancelled, type RunContext, type TaskContext } from './context';
export { runTune, tuneFingerprint } from './tune';
export { ADAPTER_DIR, evaluateSetup, setupTune, type TuneSetup } from './tuneSetup';
export { encodeMatMulModel } from './matmulModel';
export { matmulGflops, dotProductErrorBound, referenceEntry, testMatrix, checkPositions } from './matmulMath';
export { runOffsite, offsiteFingerprint, offsiteDiagnostics, EMULATOR_DIR, DIAGNOSTICS_FILE, type OffsiteMetric } from './offsite';
export type { OffsiteSummary } from '../../protocol/runFiles';
export { checkResumable } from './resume';
