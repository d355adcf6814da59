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
 * Splits `b` at node index `at` (nodes before it: the forward pass; from it: the backward pass). Each backward
 * part computes its outputs from the backward nodes; `saved` are the float forward tensors any of them reads,
 * which the returned forward part outputs beside `forwardOutputs`. Non-float forward values (comparison masks)
 * are recomputed in the backward from saved ones, as the runtime hands only numeric tensors across.
 */
export function splitForwardBackward(b: GraphBuilder, at: number, forwardOutputs: readonly Tensor[],
  backwardOutputs: Readonly<Record<string, readonly Tensor[]>>): { forward: GraphPart; plainForward: GraphPart; saved: Tensor[]; backward: Record<string, GraphPart> } {
  const forwardNodes = b.nodes.slice(0, at);
  const forwardValues = new Set(forwardNodes.flatMap((n) => n.outputs));
  const floatForward = new Set([...forwardValues].filter((x) => {
    const { dtype } = b.tensorNamed(x);
    return dtype === 'float32' || dtype === 'float64';
  }));
  const backward: Record<string, GraphPart> = {};
  const saved = new Map<string, Tensor>();
  for (const [key, outs] of Object.entries(backwardOutputs)) {
    const part = extractPart(b, `${b.graphName}_backward_${key}`, b.nodes, outs, floatForward);
    backward[key] = part;
    for (const t of part.inputs) if (forwardValues.has(t.name)) saved.set(t.name, t);
  }
  const savedList = [...saved.values()];
  return {
    forward: extractPart(b, `${b.graphName}_forward`, forwardNodes, [...forwardOutputs, ...savedList]),
    plainForward: extractPart(b, `${b.graphName}_forward_plain`, forwardNodes, forwardOutputs),
    saved: savedList,
    backward,
  };
}
