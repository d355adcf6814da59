import type { DeviceCheckConfig } from './types';

/** The built-in job of `peft-lab demo`: a device check that needs no download. */
export function defaultDeviceCheckConfig(): DeviceCheckConfig {
  return { name: 'demo', task: 'device-check', deviceCheck: { size: 512, repeats: 20 }, runtime: { device: 'auto', threads: 0, execution: 'blocks', recompute: false } };
}
