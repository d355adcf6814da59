/**
 * PEFT modules. LoRA, DoRA and series/parallel bottleneck adapters through the models' LinearHook (per-layer
 * methods, PerLayerAdapter), LoRA and DoRA adapters in Hugging Face PEFT format and bottleneck adapters in
 * LLM-Adapters'.
 *
 *   const lora = new LoraAdapter({ r: 8, alpha: 16, dropout: 0.05, targets: ['q_proj', 'v_proj'] }, new Rng(seed));
 *   const graph = buildCausalLm(model, { batch, seq, linearHook: lora.hook({ train: true }) }); // creates A, B
 *   // graph inputs: lora.<path>.A [r, in], lora.<path>.B [out, r] (trainable), lora.<path>.dropout_mask [tokens, in]
 *   saveAdapter(dir, lora, { baseModel, modelFamily });  applyAdapterWeights(lora, loadAdapter(dir));
 */
export { LoraAdapter, LORA_LAYER_SCALE_INPUT, dropoutMask, kaimingUniformBound, loraInputNames, loraScaling, type LoraModule, type LoraSpec } from './lora';
export {
  ADAPTER_CONFIG_FILE, ADAPTER_WEIGHTS_FILE, applyAdapterWeights, loadAdapter, peftKey, saveAdapter,
  type AdapterConfigJson, type LoadedAdapter,
} from './adapterFormat';
export {
  BottleneckAdapter, bottleneckInputNames,
  type BottleneckActivation, type BottleneckModule, type BottleneckPlacement, type BottleneckSpec,
} from './bottleneck';
export {
  DoraAdapter, doraInputNames, doraWeightNorm, modelWeightReader,
  type BaseWeightReader, type DoraModule, type DoraSpec, type DoraWeightNorm,
} from './dora';
export { applyDoraWeights, doraMagnitudeKey, loadDoraAdapter, saveDoraAdapter, type LoadedDoraAdapter } from './doraFormat';
export { applyBottleneckWeights, bottleneckKey, loadBottleneckAdapter, saveBottleneckAdapter, type BottleneckConfigJson, type LoadedBottleneckAdapter } from './bottleneckFormat';
export { loadAdapterFolderInto, saveAdapterFolder, type PeftAdapter } from './adapterFolder';
export { LAYER_SCALE_INPUT, type AdapterMask, type AdapterTensor, type PeftHookOptions, type PerLayerAdapter } from './perLayer';
