// Adapter folders of every per-layer method, for checkpoints, the run's `adapter/` and peft.init: LoRA in
// Hugging Face PEFT format (adapterFormat.ts), DoRA in the same format with use_dora (doraFormat.ts), bottleneck
// adapters in LLM-Adapters' format (bottleneckFormat.ts). The folder's peft_type (and use_dora) must be the
// method the config trains.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ADAPTER_CONFIG_FILE, applyAdapterWeights, loadAdapter, saveAdapter } from './adapterFormat';
import { BottleneckAdapter } from './bottleneck';
import { applyBottleneckWeights, loadBottleneckAdapter, saveBottleneckAdapter } from './bottleneckFormat';
import { DoraAdapter } from './dora';
import { applyDoraWeights, loadDoraAdapter, saveDoraAdapter } from './doraFormat';
import type { LoraAdapter } from './lora';

/** The adapters a tune run trains. */
export type PeftAdapter = LoraAdapter | DoraAdapter | BottleneckAdapter;

/** Writes the adapter folder of the adapter's method. */
export function saveAdapterFolder(dir: string, adapter: PeftAdapter, info: { baseModel: string; modelFamily: string }): void {
  if (adapter instanceof BottleneckAdapter) saveBottleneckAdapter(dir, adapter, info);
  else if (adapter instanceof DoraAdapter) saveDoraAdapter(dir, adapter, info);
  else saveAdapter(dir, adapter, info);
}

/** Loads an adapter folder's weights into `adapter` (its modules created by building a graph). */
export function loadAdapterFolderInto(dir: string, adapter: PeftAdapter): void {
  const expected = adapter instanceof BottleneckAdapter ? 'BOTTLENECK' : 'LORA';
  const configFile = path.join(dir, ADAPTER_CONFIG_FILE);
  let peftType: unknown;
  let useDora = false;
  try {
    const raw: unknown = JSON.parse(fs.readFileSync(configFile, 'utf8'));
    peftType = typeof raw === 'object' && raw !== null && 'peft_type' in raw ? raw.peft_type : undefined;
    useDora = typeof raw === 'object' && raw !== null && 'use_dora' in raw && raw.use_dora === true;
  } catch {
    peftType = undefined; // the method's loader reports an unreadable config
  }
  if (peftType !== undefined && peftType !== expected) {
    throw new Error(`${configFile}: $.peft_type is ${JSON.stringify(peftType)}, but the config's peft.method ${adapter.method} needs a ${expected} adapter`);
  }
  if (adapter instanceof BottleneckAdapter) applyBottleneckWeights(adapter, loadBottleneckAdapter(dir));
  else if (adapter instanceof DoraAdapter) applyDoraWeights(adapter, loadDoraAdapter(dir));
  else if (useDora) throw new Error(`${configFile}: $.use_dora is true (a DoRA adapter), but the config's peft.method is lora; use peft.method dora`);
  else applyAdapterWeights(adapter, loadAdapter(dir));
}
