// Cuts one built graph into runnable parts: layer-granular execution (train/blocks.ts) builds a block's forward
// and backward in one builder (so the gradient rules see the forward tensors), then runs the forward nodes and
// the backward nodes as two sessions. The forward tensors the backward nodes read become the forward part's
// extra outputs and the backward part's inputs (the activations kept between the two passes).
import type { GraphBuilder } from './builder';
import { GraphBuildError } from './errors';
import type { GraphPart } from './serialize';
import type { Tensor } from './tensor';

/**
 * The part of `b` that computes `outputs` from the nodes `candidates` (a slice of b.nodes, in order): only the
 * nodes on a path to an output are kept; every other value they read is an initializer of `b` (copied in) or
 * becomes an input of the part (graph inputs of `b`, tensors computed by nodes outside `candidates`, and the
 * `given` ones, which are never recomputed).
 */
export function extractPart(b: GraphBuilder, name: string, candidates: GraphBuilder['nodes'], outputs: readonly Tensor[],
  given: ReadonlySet<string> = new Set()): GraphPart {
  const needed = new Set(outputs.map((t) => t.name));
  const kept: GraphBuilder['nodes'][number][] = [];
  for (let i = candidates.length - 1; i >= 0; i--) {
    const n = candidates[i];
    if (!n.outputs.some((o) => needed.has(o) && !given.has(o))) continue;
    kept.push(n);
    for (const x of n.inputs) if (x !== '') needed.add(x);
  }
  kept.reverse();
  const produced = new Set(kept.flatMap((n) => n.outputs));
  const initializers = b.initializers.filter((r) => needed.has(r.tensor.name) && !produced.has(r.tensor.name));
  const fromInit = new Set(initializers.map((r) => r.tensor.name));
  const external = [...needed].filter((x) => !produced.has(x) && !fromInit.has(x));
  // Inputs of b first, in b's order (stable feeds), then the carried-over tensors in name order.
  const graphInputs = b.inputs.filter((t) => external.includes(t.name));
  const carried = external.filter((x) => !graphInputs.some((t) => t.name === x)).sort().map((x) => b.tensorNamed(x));
  const unique = [...new Map(outputs.map((t) => [t.name, t])).values()];
  for (const t of unique) {
    if (!produced.has(t.name) && !external.includes(t.name)) throw new GraphBuildError(`${name}: output '${t.name}' is not computed`);
  }
  return { name, nodes: kept, inputs: [...graphInputs, ...carried], outputs: unique, initializers };
}

/**
 * Forward ops cheap enough to rerun in a backward part instead of keeping their outputs between the passes:
 * elementwise arithmetic and layout ops (a few passes over a tensor, against the copy out of the forward session,
 * the memory kept and the fusions a graph output blocks, e.g. GPT-2's tanh GELU).
 */
const RECOMPUTABLE = new Set([
  'Abs', 'Add', 'Cast', 'Concat', 'Div', 'Equal', 'Erf', 'Expand', 'Greater', 'Identity', 'Less', 'Max', 'Min', 'Mul', 'Neg', 'Not',
  'Pow', 'Relu', 'Reshape', 'Sigmoid', 'Slice', 'Split', 'Sqrt', 'Squeeze', 'Sub', 'Tanh', 'Transpose', 'Unsqueeze', 'Where',
]);

const ELEMENT_BYTES: Partial<Record<string, number>> = { float32: 4, float64: 8, int64: 8, int32: 4, bool: 1 };

/**
 * Which forward tensors to keep for the backward parts, given those they read when nothing is recomputed
 * (`direct`): a tensor produced by a RECOMPUTABLE node is dropped when rerunning its chain of cheap nodes needs
 * kept tensors of no more bytes than itself (graph inputs and tensors kept anyway are free). Greedy, largest first.
 */
function keptForBackward(b: GraphBuilder, forwardNodes: GraphBuilder['nodes'], direct: ReadonlySet<string>): Set<string> {
  const producer = new Map<string, GraphBuilder['nodes'][number]>();
  for (const n of forwardNodes) for (const o of n.outputs) producer.set(o, n);
  const bytes = (x: string): number => {
    const t = b.tensorNamed(x);
    return t.size * (ELEMENT_BYTES[t.dtype] ?? 8);
  };
  const cheap = (x: string): boolean => RECOMPUTABLE.has(producer.get(x)?.opType ?? '');
  const kept = new Set(direct);
  // The kept tensors a rerun of x's cheap chain would read that are not kept yet.
  const leaves = (x: string, into: Set<string>): void => {
    for (const i of producer.get(x)?.inputs ?? []) {
      if (i === '' || kept.has(i) || !producer.has(i)) continue;
      if (cheap(i)) leaves(i, into);
      else into.add(i);
    }
  };
  for (const x of [...direct].filter(cheap).sort((p, q) => bytes(q) - bytes(p) || (p < q ? -1 : 1))) {
    const need = new Set<string>();
    leaves(x, need);
    if ([...need].reduce((a, y) => a + bytes(y), 0) > bytes(x)) continue;
    kept.delete(x);
    for (const y of need) kept.add(y);
  }
  return kept;
}

/**
 * Splits `b` at node index `at` (nodes before it: the forward pass; from it: the backward pass). Each backward
 * part computes its outputs from the backward nodes; `saved` are the float forward tensors any of them reads,
 * which the returned forward part outputs beside `forwardOutputs`. Cheap forward nodes (RECOMPUTABLE) are rerun
 * in the backward parts where that keeps no more bytes (keptForBackward), and non-float forward values
 * (comparison masks) always are, as the runtime hands only numeric tensors across.
 */
export function splitForwardBackward(b: GraphBuilder, at: number, forwardOutputs: readonly Tensor[],
  backwardOutputs: Readonly<Record<string, readonly Tensor[]>>): { forward: GraphPart; plainForward: GraphPart; saved: Tensor[]; backward: Record<string, GraphPart> } {
  const forwardNodes = b.nodes.slice(0, at);
  const forwardValues = new Set(forwardNodes.flatMap((n) => n.outputs));
  const floatForward = new Set([...forwardValues].filter((x) => {
    const { dtype } = b.tensorNamed(x);
    return dtype === 'float32' || dtype === 'float64';
  }));
  const extract = (given: ReadonlySet<string>): { backward: Record<string, GraphPart>; saved: Map<string, Tensor> } => {
    const backward: Record<string, GraphPart> = {};
    const saved = new Map<string, Tensor>();
    for (const [key, outs] of Object.entries(backwardOutputs)) {
      const part = extractPart(b, `${b.graphName}_backward_${key}`, b.nodes, outs, given);
      backward[key] = part;
      for (const t of part.inputs) if (forwardValues.has(t.name)) saved.set(t.name, t);
    }
    return { backward, saved };
  };
  const direct = extract(floatForward);
  const kept = keptForBackward(b, forwardNodes, new Set(direct.saved.keys()));
  const producedBy = new Map(forwardNodes.flatMap((n) => n.outputs.map((o) => [o, n.opType] as const)));
  const given = new Set([...floatForward].filter((x) => kept.has(x) || !RECOMPUTABLE.has(producedBy.get(x) ?? '')));
  const { backward, saved } = extract(given);
  const savedList = [...saved.values()];
  return {
    forward: extractPart(b, `${b.graphName}_forward`, forwardNodes, [...forwardOutputs, ...savedList]),
    plainForward: extractPart(b, `${b.graphName}_forward_plain`, forwardNodes, forwardOutputs),
    saved: savedList,
    backward,
  };
}
