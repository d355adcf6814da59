// Adapter folders of either per-layer method, for checkpoints, the run's `adapter/` and peft.init: LoRA in
// Hugging Face PEFT format (adapterFormat.ts), bottleneck adapters in LLM-Adapters' format (bottleneckFormat.ts).
// The folder's peft_type must be the method the config trains.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ADAPTER_CONFIG_FILE, applyAdapterWeights, loadAdapter, saveAdapter } from './adapterFormat';
import { BottleneckAdapter } from './bottleneck';
import { applyBottleneckWeights, loadBottleneckAdapter, saveBottleneckAdapter } from './bottleneckFormat';
import type { LoraAdapter } from './lora';

/** The adapters a tune run trains. */
export type PeftAdapter = LoraAdapter | BottleneckAdapter;

/** Writes the adapter folder of the adapter's method. */
export function saveAdapterFolder(dir: string, adapter: PeftAdapter, info: { baseModel: string; modelFamily: string }): void {
  if (adapter instanceof BottleneckAdapter) saveBottleneckAdapter(dir, adapter, info);
  else saveAdapter(dir, adapter, info);
}

/** Loads an adapter folder's weights into `adapter` (its modules created by building a graph). */
export function loadAdapterFolderInto(dir: string, adapter: PeftAdapter): void {
  const expected = adapter instanceof BottleneckAdapter ? 'BOTTLENECK' : 'LORA';
  const configFile = path.join(dir, ADAPTER_CONFIG_FILE);
  let peftType: unknown;
  try {
    const raw: unknown = JSON.parse(fs.readFileSync(configFile, 'utf8'));
    peftType = typeof raw === 'object' && raw !== null && 'peft_type' in raw ? raw.peft_type : undefined;
  } catch {
    peftType = undefined; // the method's loader reports an unreadable config
  }
  if (peftType !== undefined && peftType !== expected) {
    throw new Error(`${configFile}: $.peft_type is ${JSON.stringify(peftType)}, but the config's peft.method ${adapter.method} needs a ${expected} adapter`);
  }
  if (adapter instanceof BottleneckAdapter) applyBottleneckWeights(adapter, loadBottleneckAdapter(dir));
  else applyAdapterWeights(adapter, loadAdapter(dir));
}
