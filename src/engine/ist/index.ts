/**
 * IST (importance-aware sparse tuning) and its baselines: pure sampling and score math, and the per-run
 * LayerSelector the trainer drives.
 *
 *   const selector = new LayerSelector(config.layerSelection, runner.layerCount, config.ist, seed);
 *   new Trainer(runner, optimizer, examples, seq, padId, settings, start, selector).run({ onStep, onImportance, ... });
 *   // each step: layers = selector.select(step); gradients only for layers >= min(layers) (one train session
 *   // per lowest layer), optimizer updates only the selected layers' parameters; every `interval` steps (ist):
 *   // selector.importanceRound(step, (layerScale) => runner.meanLoss(scoringBatch, layerScale)).
 */
export { sigmoid, createLayerScores, updateScores, type ScoreUpdate } from './scores';
export {
  layerBudget,
  sampleUpdateLayers,
  sampleSuppressionSets,
  isImportanceStep,
  SUPPRESSION_RESAMPLE_LIMIT,
  type SuppressionSets,
} from './sampling';
export {
  selectLayers,
  LAYER_SELECTION_STRATEGIES,
  type LayerSelectionStrategy,
  type LayerSelectionInput,
} from './selection';
export { runImportanceRound, IST_DEFAULTS, type IstOptions, type ImportanceRound } from './importance';
export { backwardStartLayer, LayerSelector, SELECTION_RNG_TAGS, suppressionScale, type ImportanceRecord } from './selector';
