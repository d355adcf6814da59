/**
 * The per-run layer-selection state the trainer drives (issue 6): which layers train at each step, IST's scores,
 * and the importance rounds. Random streams are derived from (seed, purpose, step), so a resumed run draws what
 * the uninterrupted run drew; the IST scores are the only state to checkpoint.
 */
import type { ImportanceRecord } from '../../protocol/metricRecords';
import { derivedRng } from '../data/batches';
import type { Rng } from '../util/random';
import { runImportanceRound, type IstOptions } from './importance';
import { isImportanceStep } from './sampling';
import { createLayerScores } from './scores';
import { selectLayers, type LayerSelectionStrategy } from './selection';

/** derivedRng purposes of layer selection (apart from data/batches' RNG_TAGS 1..4). */
export const SELECTION_RNG_TAGS = { select: 101, suppress: 102, scoreBatch: 103 } as const;

/** The `{"type":"importance", ...}` record of metrics.jsonl. */
export type { ImportanceRecord };
/** The per-layer LoRA scale of a rollout: `factor` on the suppressed layers, 1 elsewhere. */
export function suppressionScale(layerCount: number, suppressed: readonly number[], factor: number): Float32Array {
  const scale = new Float32Array(layerCount).fill(1);
  for (const i of suppressed) {
    if (!Number.isInteger(i) || i < 0 || i >= layerCount) throw new Error(`IST: suppressed layer ${i} outside [0, ${layerCount})`);
    scale[i] = factor;
  }
  return scale;
}

/**
 * The layer the backward pass of a step starts from: its lowest selected layer (layer-granular execution stops
 * there exactly). `sessions` is the deprecated ist.backwardSessions and is ignored.
 */
export function backwardStartLayer(lowestSelected: number, layerCount: number, _sessions?: number): number {
  if (!Number.isInteger(lowestSelected) || lowestSelected < 0 || lowestSelected >= layerCount) {
    throw new Error(`IST: lowest selected layer ${lowestSelected} outside [0, ${layerCount})`);
  }
  return lowestSelected;
}

export class LayerSelector {
  private current: Float64Array;

  constructor(
    readonly strategy: LayerSelectionStrategy,
    readonly layerCount: number,
    readonly options: IstOptions,
    private readonly seed: number,
    scores?: ArrayLike<number>,
  ) {
    this.current = createLayerScores(layerCount);
    if (scores !== undefined) this.restoreScores(scores);
  }

  /** The first layer the backward pass of a step with these selected layers must reach (see backwardStartLayer). */
  backwardFrom(layers: readonly number[]): number {
    return backwardStartLayer(Math.min(...layers), this.layerCount);
  }

  /** The IST scores now (a copy). */
  get scores(): number[] {
    return Array.from(this.current);
  }

  restoreScores(scores: ArrayLike<number>): void {
    if (scores.length !== this.layerCount) throw new Error(`IST: ${scores.length} saved scores for ${this.layerCount} layers`);
    this.current = Float64Array.from(scores);
  }

  /**
   * The sorted layers trained at `step`. LISA's selection is the draw of its last switch step, so no previous
   * selection has to be carried between steps (or across a resume).
   */
  select(step: number): number[] {
    const { updateRatio, interval } = this.options;
    const at = this.strategy === 'lisa' ? step - (step % interval) : step;
    const rng = derivedRng(this.seed, SELECTION_RNG_TAGS.select, at);
    return selectLayers({ strategy: this.strategy, step: at, layerCount: this.layerCount, updateRatio, interval, scores: this.current, rng });
  }

  /** Whether an importance round runs before the update of `step` (IST only, every interval steps, not step 0). */
  importanceDue(step: number): boolean {
    return this.strategy === 'ist' && isImportanceStep(step, this.options.interval);
  }

  /** The rng that picks the scoring batch's examples at `step`. */
  scoreBatchRng(step: number): Rng {
    return derivedRng(this.seed, SELECTION_RNG_TAGS.scoreBatch, step);
  }

  /**
   * Runs the round of `step`: `loss(scale)` is the scoring batch's loss with the per-layer LoRA scale [L]
   * (suppressionScale), in inference mode. Updates the scores and returns the record.
   */
  async importanceRound(step: number, loss: (layerScale: Float32Array) => Promise<number>): Promise<ImportanceRecord> {
    const round = await runImportanceRound(this.current, this.options, derivedRng(this.seed, SELECTION_RNG_TAGS.suppress, step),
      (set, factor) => loss(suppressionScale(this.layerCount, set, factor)));
    this.current = round.scores;
    return { type: 'importance', step, scores: Array.from(round.scores), rewards: round.rewards, losses: round.losses, suppressed: round.suppressed };
  }
}
