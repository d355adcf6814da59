// The config written by "New Experiment": the one task implemented so far (device-check) with the schema's
// defaults spelled out, so the user sees every knob. Pure, so a unit test validates it against the schema.
import { ConfigSuffix } from '../ids';

/** Why `name` cannot be an experiment name, or undefined when it can (used as the input box's validation). */
export function validateExperimentName(name: string): string | undefined {
  const trimmed = name.trim();
  if (trimmed === '') return 'Enter a name.';
  if (trimmed.length > 100) return 'Use at most 100 characters.';
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(trimmed)) {
    return 'Use letters, digits, ".", "_" and "-" (starting with a letter or digit); the name becomes the file name.';
  }
  if (trimmed.endsWith('.')) return 'The name cannot end with ".".';
  return undefined;
}

/** `my-exp` -> `my-exp.peft.json` (a name already ending in .peft.json is kept). */
export function experimentFileName(name: string): string {
  const trimmed = name.trim();
  return trimmed.endsWith(ConfigSuffix) ? trimmed : `${trimmed}${ConfigSuffix}`;
}

export interface DeviceCheckConfig {
  name: string;
  task: 'device-check';
  deviceCheck: { size: number; repeats: number };
  runtime: { device: 'auto'; threads: number };
}

export function defaultExperimentConfig(name: string): DeviceCheckConfig {
  const trimmed = name.trim();
  const bare = trimmed.endsWith(ConfigSuffix) ? trimmed.slice(0, -ConfigSuffix.length) : trimmed;
  return {
    name: bare,
    task: 'device-check',
    deviceCheck: { size: 512, repeats: 20 },
    runtime: { device: 'auto', threads: 0 },
  };
}

export function renderExperimentConfig(name: string): string {
  return `${JSON.stringify(defaultExperimentConfig(name), null, 2)}\n`;
}
