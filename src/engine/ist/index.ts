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
