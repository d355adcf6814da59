// A loaded Hugging Face model folder: config, checkpoint (kept open: weights are read lazily when a graph is
// serialised), and the weight resolver that validates names and shapes against the config.
import { Checkpoint } from './checkpoint';
import { readModelConfig, type ModelConfig } from './config';
import { resolveModelDir } from './hubCache';
import { WeightResolver } from './weights';

export interface LoadedModel {
  readonly dir: string;
  readonly config: ModelConfig;
  readonly checkpoint: Checkpoint;
  readonly weights: WeightResolver;
  close(): void;
}

/**
 * Opens a model folder, or a Hugging Face repo id found in the local hub cache. Every weight the config
 * requires is checked for presence and shape up front, so errors name the file and tensor before any graph work.
 */
export function loadModel(dirOrRepoId: string): LoadedModel {
  const dir = resolveModelDir(dirOrRepoId);
  const config = readModelConfig(dir);
  const checkpoint = Checkpoint.open(dir);
  try {
    const weights = new WeightResolver(checkpoint, config);
    weights.validateAll();
    return { dir, config, checkpoint, weights, close: () => checkpoint.close() };
  } catch (e) {
    checkpoint.close();
    throw e;
  }
}
