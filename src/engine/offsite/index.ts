// GradOT itself: gradient-change scores (GCS with KFAC factors), DRD rank and SCP channel selection, budgets, layer drop.
export { createKfacAccumulator, accumulateKfac, kfacFactor, type KfacAccumulator } from './kfac';
export {
  gcs,
  svdComponentRemovalGcs,
  rowRemovalGcs,
  columnRemovalGcs,
  channelRemovalGcs,
  mlpIntermediateSize,
  checkLinearStats,
  type LinearStats,
  type MlpStats,
} from './gcs';
export { rankBudget, channelBudget, factorizedParamCount, mlpParamCount } from './budget';
export {
  selectDrdComponents,
  selectTopSingularValues,
  factorize,
  compressProjectionDrd,
  compressProjectionMagnitude,
  type FactorizedLinear,
  type DrdResult,
  type DrdOptions,
} from './drd';
export { selectScpChannels, channelMagnitudes, selectChannelsByMagnitude, pruneMlpChannels, type MlpWeights } from './scp';
export { uniformLayerDrop, linearCka, layerSimilarityMatrix, crashPlan, type CrashPlan } from './layer-drop';
