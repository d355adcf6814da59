// The support statistics GradOT's selections need: per-module activation and gradient moments on the support data.
export { collectSupportStats, IGNORE_INDEX, type LinearMapStats, type SupportStats, type SupportStatsOptions } from './supportStats';
export { supportLoss, collectLayerOutputs, type PassOptions } from './supportPasses';
export { layerModules, layerPrefix, intermediateSize, mlpHasBias, middleLayers, type LayerModules } from './modules';
