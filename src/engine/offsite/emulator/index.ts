export { buildEmulator } from './build';
export { writeEmulatorCheckpoint, type EmulatorPlan, type LayerCompression } from './checkpoint';
export { splitFusedQkv, attentionMaps, type AttentionMap, type CompressedAttention, type CompressedMlp } from './compress';
export {
  EMULATOR_METHODS, type EmulatorMethod, type EmulatorOptions, type EmulatorDiagnostics, type EmulatorPhase, type EmulatorResult,
  type ModuleDiagnostics,
} from './types';
