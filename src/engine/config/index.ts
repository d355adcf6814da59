// Experiment configs (*.peft.json): JSON Schema validation with positions, typed results, file checks.
export * from './types';
export * from './issues';
export { validateConfigText, experimentConfigSchema, jsonPath, type ConfigValidation } from './validate';
export { loadExperimentConfig, resolveConfigPaths, applyRuntimeOverrides } from './load';
export { defaultDeviceCheckConfig } from './defaults';
export { checkConfigFiles } from './files';
