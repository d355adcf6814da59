// Emulator assembly: compressing the middle layers (GradOT, SVD, CRaSh, uniform drop, OT distillation) into a model folder.
export { buildEmulator } from './build';
export { DISTILL_DEFAULTS, DistillObjective, distillEmulator, examplesOfBatches, type DistillSettings, type DistillPlan, type DistillLosses, type DistillResult } from './distill';
export { writeEmulatorCheckpoint, type EmulatorPlan, type LayerCompression } from './checkpoint';
export { splitFusedQkv, attentionMaps, type AttentionMap, type CompressedAttention, type CompressedMlp } from './compress';
export {
  EMULATOR_METHODS, type EmulatorMethod, type EmulatorOptions, type EmulatorDiagnostics, type EmulatorPhase, type EmulatorResult,
  type ModuleDiagnostics, type DistillDiagnostics,
} from './types';
