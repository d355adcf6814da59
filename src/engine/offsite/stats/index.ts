export { collectSupportStats, IGNORE_INDEX, type LinearMapStats, type SupportStats, type SupportStatsOptions } from './supportStats';
export { supportLoss, collectLayerOutputs, type PassOptions } from './supportPasses';
export { layerModules, layerPrefix, intermediateSize, mlpHasBias, middleLayers, type LayerModules } from './modules';
