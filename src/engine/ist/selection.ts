/**
 * Which layers train in a step, for IST and its baselines (DESIGN.md "IST", baselines list; issue 6):
 * - `uniform`: every layer every step (plain PEFT);
 * - `random`: n = layerBudget(updateRatio, L) layers drawn uniformly without replacement every step
 *   (random sparse tuning);
 * - `lisa`: n layers drawn uniformly, kept for `interval` steps, redrawn at steps 0, interval, 2*interval, ...
 *   (LISA-style switching);
 * - `ist`: n layers drawn every step with weights sigmoid(-s) (sampleUpdateLayers).
 */
import type { Rng } from '../util/random';
import { layerBudget, sampleUpdateLayers } from './sampling';

export type LayerSelectionStrategy = 'ist' | 'uniform' | 'random' | 'lisa';

export const LAYER_SELECTION_STRATEGIES: readonly LayerSelectionStrategy[] = ['ist', 'uniform', 'random', 'lisa'];

export interface LayerSelectionInput {
  strategy: LayerSelectionStrategy;
  /** Training step, counting from 0. */
  step: number;
  /** Number of decoder layers L. */
  layerCount: number;
  /** Fraction of layers trained per step (ist, random, lisa). */
  updateRatio: number;
  /** LISA switching period in steps. */
  interval: number;
  /** IST scores [L] (required for `ist`). */
  scores?: ArrayLike<number>;
  /** The previous step's selection (LISA keeps it between switches). */
  previous?: readonly number[];
  rng: Rng;
}

/** The sorted layer indices to train at `step`. Only `ist`, `random` and a LISA switch draw from the rng. */
export function selectLayers(input: LayerSelectionInput): number[] {
  const { strategy, step, layerCount, updateRatio, interval, rng } = input;
  if (!Number.isInteger(step) || step < 0) throw new Error(`layer selection: step must be an integer >= 0, got ${step}`);
  switch (strategy) {
    case 'uniform':
      return Array.from({ length: layerCount }, (_, i) => i);
    case 'random':
      return rng.sampleUniformWithoutReplacement(layerCount, layerBudget(updateRatio, layerCount)).sort((a, b) => a - b);
    case 'lisa': {
      if (!Number.isInteger(interval) || interval < 1) {
        throw new Error(`layer selection 'lisa': interval must be a positive integer, got ${interval}`);
      }
      if (step % interval !== 0 && input.previous !== undefined) return [...input.previous];
      return rng.sampleUniformWithoutReplacement(layerCount, layerBudget(updateRatio, layerCount)).sort((a, b) => a - b);
    }
    case 'ist': {
      if (input.scores === undefined) throw new Error(`layer selection 'ist': scores are required`);
      if (input.scores.length !== layerCount) {
        throw new Error(`layer selection 'ist': ${input.scores.length} scores for ${layerCount} layers`);
      }
      return sampleUpdateLayers(input.scores, updateRatio, rng);
    }
    default: {
      const never: never = strategy;
      throw new Error(`layer selection: unknown strategy '${String(never)}'`);
    }
  }
}
