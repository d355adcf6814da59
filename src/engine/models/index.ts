/**
 * Hugging Face models: checkpoints (safetensors, single or sharded; F32/F16/BF16 stored, computed in float32 or
 * float64), config.json for gpt2 / llama / mistral / qwen2 / opt, tokenizers, and forward graphs on the project's
 * graph builder that match the reference implementations.
 *
 *   const model = loadModel('path/to/model' | 'org/name[@rev]');     // validates every tensor vs config.json
 *   const batch = padBatch([[1, 2, 3], [4, 5]], 'right', padId);     // ids, mask, position ids [B, S]
 *   const { logits } = await computeLogits(model, batch);           // Float32Array [B, S, V]
 *   const out = await generate(model, prompts, { maxNewTokens: 32 }); // KV cache, greedy or sampled, EOS stop
 *   const best = await beamSearch(model, prompts, { numBeams: 4, maxNewTokens: 32 }); // transformers' beam search
 *   model.close();                                                  // after the last graph is serialised
 *
 * Training / PEFT: build the graph yourself and wrap projections with a LinearHook:
 *
 *   const graph = buildCausalLm(model, { batch, seq, dtype: 'float32', builder, layers?,
 *     linearHook: (g, site) => site.module === 'q_proj' ? g.add(site.base(), lora(g, site)) : site.base() });
 *   // graph.inputIds / attentionMask / positionIds: int64 [B, S] inputs; graph.logits [B, S, V];
 *   // graph.hidden [B*S, H]; graph.present: per-layer keys/values.
 *
 * LinearSite gives module (c_attn, c_proj, c_fc | q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj |
 * q_proj, k_proj, v_proj, out_proj, fc1, fc2), layer index, Hugging Face path (`model.layers.3.self_attn.q_proj`),
 * x [tokens, in], the stored weight and its layout ('out_in' torch Linear, 'in_out' GPT-2 Conv1D).
 * Weights are initializers named as in the checkpoint, read lazily: keep the model open until serialised.
 * Note: ORT fuses x*sigmoid(x) into QuickGelu (float32-only kernel); run float64 graphs with
 * graphOptimizationLevel 'basic'.
 */
export { padBatch, positionIdsFromMask, type PaddedBatch, type PaddingSide } from './batch';
export { buildCausalLm, INPUT_NAMES, pastInputName, presentOutputName, type CausalLmGraph, type CausalLmOptions, type FloatType } from './causalLm';
export { Checkpoint, SAFETENSORS_FILE, SAFETENSORS_INDEX_FILE, type CheckpointTensorInfo, type LazyWeight } from './checkpoint';
export { CheckpointError } from './checkpointError';
export {
  ConfigError as ModelConfigError, parseModelConfig, readModelConfig, SUPPORTED_MODEL_TYPES,
  type Gpt2Config, type LlamaConfig, type ModelConfig, type OptConfig, type SupportedModelType,
} from './config';
export { bf16BitsToNumber, f16BitsToNumber, numberToBf16Bits, numberToF16Bits, type StoredDtype } from './dtype';
export { generate, type GenerateOptions, type GenerateResult } from './generate';
export { beamSearch, searchBeams, type BeamSearchOptions, type BeamSearchResult, type BeamSearchSettings } from './beamSearch';
export { hubCacheDir, ModelNotFoundError, resolveModelDir } from './hubCache';
export { isModelInputError } from './inputErrors';
export { formatSummary, summarizeModel, type ModelSummary } from './inspect';
export { attention, attentionBias, linear, MASKED_SCORE, ropeCosSin, type KeyValue, type LinearHook, type LinearSite } from './layers';
export { checkIdsInVocab, computeLogits, openGraphSession, type LogitsResult } from './logits';
export { loadModel, type LoadedModel } from './model';
export { llama3ScaledFrequency, ropeInverseFrequencies, type Llama3RopeScaling } from './rope';
export { SafetensorsFile, type SafetensorsTensorInfo } from './safetensors';
export { writeSafetensors, type TensorToWrite } from './safetensorsWriter';
export { argmax, chooseToken, samplingDistribution, seededRandom, type SamplingOptions } from './sampling';
export { ModelTokenizer, TokenizerError, type TokenizerSummary } from './tokenizer';
export { expectedWeights, WeightResolver, type WeightSpec } from './weights';
