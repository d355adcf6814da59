// The graphs and sessions of a LoRA run: the per-layer PEFT graphs and runner of peftGraph.ts for a LoraAdapter
// (train graphs differentiate A and B of every module, or of the layers >= gradFromLayer; score graphs take the
// per-layer LoRA scale input LORA_LAYER_SCALE_INPUT). The shared names stay importable from here.
import type { GraphBuilder } from '../graph/builder';
import type { LoadedModel } from '../models/model';
import type { LoraAdapter } from '../peft/lora';
import { buildPeftGraph, PeftSessionRunner, type PeftGraphOptions, type SessionSettings } from './peftGraph';

export {
  batchFeeds, gradOutputName, LOGPROB_OUTPUT, LOSS_OUTPUT, TARGETS_INPUT, type ProviderInfo, type SessionSettings,
} from './peftGraph';

export type LoraGraphOptions = PeftGraphOptions;

/** Builds a LoRA graph; the adapter's modules are created on the first build. */
export function buildLoraGraph(model: LoadedModel, lora: LoraAdapter, o: LoraGraphOptions): GraphBuilder {
  return buildPeftGraph(model, lora, o);
}

/** Float32 train and score sessions of a LoRA-adapted model (gradients in lora.ordered() order: A then B per module). */
export class LoraRunner extends PeftSessionRunner<LoraAdapter> {
  constructor(model: LoadedModel, readonly lora: LoraAdapter, settings: SessionSettings) {
    super(model, lora, settings);
  }
}
