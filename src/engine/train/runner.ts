// What the trainer and the evaluators need from a model with trainable PEFT parameters. LoraRunner
// (loraGraph.ts) implements it for LoRA; other per-layer PEFT methods and the offsite adapter layers provide
// their own runners, so the training loop, IST's layer selection and evaluation are shared.
import type { TrainBatch } from '../data/batches';
import type { Rng } from '../util/random';

/** What runner.generate decodes. */
export interface GenerationRequest {
  readonly maxNewTokens: number;
  readonly eosTokenIds?: readonly number[];
  /** Beams (default 1: greedy). */
  readonly numBeams?: number;
}

export interface PeftRunner {
  /** Number of decoder layers (the length of the per-layer PEFT scale). */
  readonly layerCount: number;
  /** Trainable tensors in gradient order; the trainer updates them in place. */
  parameters(): Float32Array[];
  /** The decoder layer of each parameter, in gradient order. */
  parameterLayers(): number[];
  /**
   * Loss and gradients in parameter order on one batch, with `dropout` drawing the dropout masks. With
   * gradFromLayer = l > 0 only parameters of layers >= l need gradients, and with `layers` only those of the
   * listed layers (IST's selection: the backward stops at the lowest one); the others' entries may be empty.
   */
  trainStep(batch: TrainBatch, dropout: Rng, gradFromLayer?: number, layers?: readonly number[]): Promise<{ loss: number; grads: Float32Array[] }>;
  /**
   * log p(target) per position [batch * seq], 0 where the target is ignored, in inference mode.
   * `layerScale` [layerCount] multiplies each layer's PEFT output (default all 1).
   */
  tokenLogprobs(batch: TrainBatch, layerScale?: Float32Array): Promise<Float32Array>;
  /** Mean cross-entropy over the kept targets with the given layer scale (IST's rollouts). */
  meanLoss(batch: TrainBatch, layerScale?: Float32Array): Promise<number>;
  /**
   * Generation with the current PEFT weights (KV cache, a row ends at EOS): the new tokens per prompt, for
   * generation-based evaluation. numBeams > 1: beam search (models/beamSearch.ts), else greedy.
   */
  generate(prompts: readonly (readonly number[])[], options: GenerationRequest): Promise<number[][]>;
  dispose(): Promise<void>;
}
