// Lazy access to onnxruntime-node. Importing this module (or anything in runtime/) must stay cheap: the extension
// host imports engine types but must never load the native addon at activation, so the addon is required on the
// first call that needs it.
import { createRequire } from 'node:module';
import type * as OrtNamespace from 'onnxruntime-node';

export type Ort = typeof OrtNamespace;

let loaded: Ort | undefined;

/** A require() bound to this file, so the addon resolves from the project's node_modules (also when bundled). */
function requireFromHere(): NodeJS.Require {
  return createRequire(__filename);
}

/** Loads onnxruntime-node once, after disabling its telemetry (it otherwise queues events under ~/.cache). */
export function loadOrt(): Ort {
  if (loaded) return loaded;
  if (process.env.ORT_DISABLE_TELEMETRY === undefined) process.env.ORT_DISABLE_TELEMETRY = '1';
  const mod: Ort = requireFromHere()('onnxruntime-node');
  loaded = mod;
  return mod;
}

/** True once onnxruntime-node has been loaded in this process (used by tests that check laziness). */
export function isOrtLoaded(): boolean {
  return loaded !== undefined;
}

/** Absolute path of onnxruntime-node's entry point, for child processes that must load the same copy. */
export function ortEntryPath(): string {
  return requireFromHere().resolve('onnxruntime-node');
}
