// Layer-granular graphs of a per-layer PEFT run (the executor is blockRunner.ts). Instead of one train graph per
// bucket, a decoder model is cut at its residual stream into
//  - embed: input_ids (and position_ids) -> hidden [tokens, H];
//  - one block per decoder layer *shape* (layers whose frozen weights, factorizations and adapter modules have the
//    same shapes share graphs; the weights are graph inputs named as the representative layer's, so the executor
//    feeds layer l's arrays under them and every frozen weight exists once, in JavaScript memory):
//      forward  hidden_in -> hidden_out (+ the activations the backward reads, `saved`; cheap elementwise and
//      layout ops are rerun in the backward instead, graph/split.ts; the executor fetches per layer only what its
//      backward variant reads, `savedBy`, and nothing below the lowest layer the backward reaches),
//      plain forward (hidden_out only: the first pass of activation checkpointing),
//      backward from grad_hidden_out and the saved activations, in three variants: 'full' (adapter gradients
//      and grad.hidden_in), 'input' (grad.hidden_in only: an unselected layer the gradient passes through) and
//      'weights' (adapter gradients only: the lowest layer of the backward), so the backward computes exactly
//      what a step needs and stops at its lowest selected layer;
//      score forward (no dropout, the per-layer scale input);
//  - head: final norm, vocabulary projection and loss (train: loss and grad.hidden_in; score: log-probabilities),
//    run in row chunks so the [tokens, vocab] logits never exist whole.
// Forward and backward of a block are built in one builder (the gradient rules read forward tensors) and split
// (graph/split.ts), so the backward is the monolithic graph's backward restricted to one layer.
import { gradients } from '../graph/autodiff';
import { GraphBuilder } from '../graph/builder';
import { extractPart, splitForwardBackward } from '../graph/split';
import type { GraphPart } from '../graph/serialize';
import type { Tensor } from '../graph/tensor';
import { buildCausalLmPart } from '../models/causalLm';
import type { LoadedModel } from '../models/model';
import { layerPrefix } from '../offsite/stats/modules';
import type { PerLayerAdapter } from '../peft/perLayer';
import { declareObjective, gradOutputName } from './objective';

export const HIDDEN_INPUT = 'hidden_in';
export const HIDDEN_OUTPUT = 'hidden_out';
/** The backward's seed input: dL/d(hidden_out) of the block. */
export const GRAD_HIDDEN_INPUT = 'grad_hidden_out';
/** gradOutputName(HIDDEN_INPUT), spelled out. */
export const GRAD_HIDDEN_OUTPUT = 'grad.hidden_in';

export type BackwardKind = 'full' | 'input' | 'weights';
export type FloatType = 'float32' | 'float64';

export interface BlockShape {
  readonly batch: number;
  readonly seq: number;
  readonly dtype: FloatType;
}

/** The stored layer indices in execution order (the emulator's layer_map, else all). */
export function executionLayers(model: LoadedModel): readonly number[] {
  return model.config.emulator?.layerMap ?? Array.from({ length: model.config.numLayers }, (_, i) => i);
}

/** A graph input name of layer `from` renamed to layer `to` (checkpoint weights and adapter inputs alike). */
export function renameLayer(model: LoadedModel, name: string, from: number, to: number): string {
  if (from === to) return name;
  const a = layerPrefix(model.config, from);
  return name.includes(a) ? name.replace(a, layerPrefix(model.config, to)) : name;
}

/** Layers with equal signatures can share block graphs. */
export function layerSignature(model: LoadedModel, adapter: PerLayerAdapter, l: number): string {
  const generic = (name: string) => renameLayer(model, name, l, -1);
  const own = (name: string) => generic(name) !== name;
  return JSON.stringify({
    factorized: model.config.emulator?.layers[l]?.factorized ?? {},
    trainables: adapter.trainables().filter((t) => t.layer === l).map((t) => [generic(t.name), t.dims]),
    masks: adapter.dropoutMasks().filter((m) => own(m.name)).map((m) => [generic(m.name), m.features]),
  });
}

function newBlockBuilder(model: LoadedModel, what: string, s: BlockShape): { b: GraphBuilder; hidden: Tensor } {
  const b = new GraphBuilder(`${model.config.modelType}_${what}`);
  return { b, hidden: b.input(HIDDEN_INPUT, s.dtype, [s.batch * s.seq, model.config.hiddenSize]) };
}

export interface TrainBlockParts {
  readonly forward: GraphPart;
  readonly plainForward: GraphPart;
  /** Absent variants: the layer has no trainable tensor ('full', 'weights'). */
  readonly backward: Partial<Record<BackwardKind, GraphPart>>;
  /** Per backward variant, the forward outputs it reads (a subset of the forward part's extra outputs). */
  readonly savedBy: Partial<Record<BackwardKind, readonly string[]>>;
  /** Names of the adapter inputs of the layer (in the representative's names), gradient outputs gradOutputName(name). */
  readonly trainables: readonly string[];
}

/** Train graphs of decoder layer `layer` (dropout on when the adapter has it). */
export function buildTrainBlock(model: LoadedModel, adapter: PerLayerAdapter, layer: number, s: BlockShape): TrainBlockParts {
  const { b, hidden } = newBlockBuilder(model, `block${layer}_train`, s);
  const out = buildCausalLmPart(model, { kind: 'layer', layer, hidden }, {
    builder: b, batch: s.batch, seq: s.seq, dtype: s.dtype, weightInputs: 'frozen', linearHook: adapter.hook({ train: true, dtype: s.dtype }),
  });
  const hiddenOut = b.output(out, HIDDEN_OUTPUT);
  const at = b.nodes.length;
  const trainables = b.trainableInputs;
  const seed = b.input(GRAD_HIDDEN_INPUT, s.dtype, hiddenOut.shape);
  const variants: Partial<Record<BackwardKind, Tensor[]>> = {};
  const grad = (kind: BackwardKind, wrt: Tensor[]): void => {
    const r = gradients(b, hiddenOut, { wrt, seed, addOutputs: false });
    variants[kind] = wrt.map((t) => b.named(r.grads.get(t) ?? b.zeros(t.dtype, t.shape), variantGradName(kind, t.name)));
  };
  grad('input', [hidden]);
  if (trainables.length > 0) {
    grad('full', [hidden, ...trainables]);
    grad('weights', trainables);
  }
  const split = splitForwardBackward(b, at, [hiddenOut], variants as Record<string, Tensor[]>);
  const saved = new Set(split.saved.map((t) => t.name));
  const backward = split.backward as Partial<Record<BackwardKind, GraphPart>>;
  const savedBy: Partial<Record<BackwardKind, readonly string[]>> = {};
  for (const [kind, part] of Object.entries(backward) as [BackwardKind, GraphPart][]) savedBy[kind] = part.inputs.map((t) => t.name).filter((n) => saved.has(n));
  return {
    forward: split.forward, plainForward: split.plainForward, backward, savedBy,
    trainables: trainables.map((t) => t.name),
  };
}

/** The output name of a gradient in a backward variant. */
export function variantGradName(kind: BackwardKind, inputName: string): string {
  return gradOutputName(inputName) + (kind === 'full' ? '' : `.${kind}`);
}

/** Inference forward of decoder layer `layer` with the per-layer scale input (IST rollouts, evaluation). */
export function buildScoreBlock(model: LoadedModel, adapter: PerLayerAdapter, layer: number, s: BlockShape): GraphPart {
  const { b, hidden } = newBlockBuilder(model, `block${layer}_score`, s);
  const out = buildCausalLmPart(model, { kind: 'layer', layer, hidden }, {
    builder: b, batch: s.batch, seq: s.seq, dtype: s.dtype, weightInputs: 'frozen',
    linearHook: adapter.hook({ train: false, dtype: s.dtype, layerScaleCount: model.config.numLayers }),
  });
  return extractPart(b, b.graphName, b.nodes, [b.output(out, HIDDEN_OUTPUT)]);
}

/** Token embedding: input_ids (and position_ids) -> hidden_out [tokens, H]. */
export function buildEmbedPart(model: LoadedModel, s: BlockShape): GraphPart {
  const b = new GraphBuilder(`${model.config.modelType}_embed`);
  const h = buildCausalLmPart(model, { kind: 'embed' }, { builder: b, batch: s.batch, seq: s.seq, dtype: s.dtype, weightInputs: 'frozen' });
  return extractPart(b, b.graphName, b.nodes, [b.output(h, HIDDEN_OUTPUT)]);
}

/** The head's scalar input: this chunk's share of the batch's kept targets (its loss's weight in the batch mean). */
export const LOSS_WEIGHT_INPUT = 'loss_weight';
/** Logits elements of one head chunk (float32: 32 MiB), so [tokens, vocab] never exists whole. */
const HEAD_CHUNK_ELEMENTS = 8 * 1024 * 1024;

/**
 * Rows of one head chunk for `tokens` rows: the fewest chunks that keep [rows, vocab] within HEAD_CHUNK_ELEMENTS,
 * rows as even as possible (the last chunk is padded with ignored rows). GPT-2 small, 512 tokens: 4 x 128.
 */
export function headChunkRows(model: LoadedModel, tokens: number): number {
  const chunks = Math.max(1, Math.ceil((tokens * model.config.vocabSize) / HEAD_CHUNK_ELEMENTS));
  return Math.ceil(tokens / chunks);
}

/**
 * Final norm, logits and objective over `rows` rows of the residual stream (a chunk: headChunkRows): train
 * outputs LOSS_OUTPUT (the chunk's mean over its kept targets) and grad.hidden_in seeded with LOSS_WEIGHT_INPUT
 * (the chunk's kept targets / the batch's), so the chunks' gradients are the batch mean's and the batch loss is
 * the weighted sum of theirs; score outputs LOGPROB_OUTPUT. Every row is independent of the others.
 */
export function buildHeadPart(model: LoadedModel, kind: 'train' | 'score', s: BlockShape, rows = s.batch * s.seq): GraphPart {
  const b = new GraphBuilder(`${model.config.modelType}_head_${kind}`);
  const hidden = b.input(HIDDEN_INPUT, s.dtype, [rows, model.config.hiddenSize]);
  const logits = buildCausalLmPart(model, { kind: 'head', hidden }, { builder: b, batch: 1, seq: rows, dtype: s.dtype, weightInputs: 'frozen' });
  const loss = declareObjective(b, logits, kind, s.dtype);
  if (loss !== undefined) gradients(b, loss, { wrt: [hidden], seed: b.input(LOSS_WEIGHT_INPUT, s.dtype, []) });
  return extractPart(b, b.graphName, b.nodes, b.outputs);
}
