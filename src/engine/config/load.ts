// Reads a *.peft.json from disk, validates it and resolves its relative paths against the config's folder.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { RuntimeOverrides } from '../../protocol/worker';
import { ConfigError } from './issues';
import type { ExperimentConfig } from './types';
import { validateConfigText } from './validate';

/**
 * Loads and validates a config file (synchronous: small file, and callers want errors before forking a job).
 * Throws ConfigError (file:line:col: $.json.path: message) for unreadable, malformed or invalid configs.
 */
export function loadExperimentConfig(configPath: string): ExperimentConfig {
  const file = path.resolve(configPath);
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    throw new ConfigError([{ file, line: 1, column: 1, message: `cannot read the config: ${reason}` }]);
  }
  const result = validateConfigText(text, file);
  if (!result.ok) throw new ConfigError(result.issues);
  return resolveConfigPaths(result.config, path.dirname(file));
}

/** Returns a copy with file paths made absolute against `configDir` (a model that is no local folder stays a hub id). */
export function resolveConfigPaths(config: ExperimentConfig, configDir: string): ExperimentConfig {
  if (config.task !== 'tune' && config.task !== 'offsite') return structuredClone(config);
  const abs = (p: string): string => path.resolve(configDir, p);
  const localModel = abs(config.model);
  const copy = structuredClone(config);
  copy.model = path.isAbsolute(config.model) || config.model.startsWith('.') || fs.existsSync(localModel) ? localModel : config.model;
  copy.data = { ...config.data, train: abs(config.data.train), ...(config.data.eval === undefined ? {} : { eval: abs(config.data.eval) }) };
  copy.peft = { ...config.peft, targets: [...config.peft.targets], ...(config.peft.init === undefined ? {} : { init: abs(config.peft.init) }) };
  if (copy.task === 'offsite' && copy.offsite.emulator.supportData !== undefined) copy.offsite.emulator.supportData = abs(copy.offsite.emulator.supportData);
  return copy;
}

/** Returns a copy whose runtime block has the overrides (CLI --device/--threads, VS Code settings) applied. */
export function applyRuntimeOverrides(config: ExperimentConfig, overrides: RuntimeOverrides | undefined): ExperimentConfig {
  const copy = structuredClone(config);
  if (overrides?.device !== undefined) copy.runtime.device = overrides.device;
  if (overrides?.threads !== undefined) copy.runtime.threads = overrides.threads;
  return copy;
}
