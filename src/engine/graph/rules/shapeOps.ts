// Gradient rules of data-movement ops: each gradient is the adjoint movement (reshape back, inverse
// permutation, sum over expanded axes, zero-pad a slice, concatenate split parts, scatter-add a gather).
import { inversePermutation } from '../shape';
import type { GradRule } from '../tape';
import type { Tensor } from '../tensor';

export const identityGrad: GradRule = (_b, { dOutputs: [g] }) => [g];

/** Reshape, Unsqueeze, Squeeze: the data order is unchanged, so reshape the gradient back. */
export const reshapeGrad: GradRule = (b, { inputs, dOutputs: [g] }) => [b.reshape(g!, inputs[0].shape), ...inputs.slice(1).map(() => null)];

/** Transpose: apply the inverse permutation to the gradient. */
export function transposeGrad(perm: readonly number[]): GradRule {
  const inv = inversePermutation(perm);
  return (b, { dOutputs: [g] }) => [b.transpose(g!, inv)];
}

export const expandGrad: GradRule = (b, { inputs: [x], dOutputs: [g] }) => [b.sumToShape(g!, x.shape), null];

export function sliceGrad(begin: readonly number[]): GradRule {
  return (b, { inputs: [x], outputs: [y], dOutputs: [g] }) => {
    const ends = x.shape.map((d, i) => d - begin[i] - y.shape[i]);
    return [b.pad(g!, [...begin, ...ends]), null, null, null];
  };
}

export function padGrad(begin: readonly number[]): GradRule {
  return (b, { inputs: [x], dOutputs: [g] }) => [
    b.slice(g!, begin, begin.map((s, i) => s + x.shape[i]), begin.map((_, i) => i)),
    null,
  ];
}

export function splitGrad(axis: number): GradRule {
  return (b, { outputs, dOutputs }) => {
    const parts = outputs.map((o, i) => dOutputs[i] ?? b.zeros(o.dtype, o.shape));
    return [b.concat(parts, axis), null];
  };
}

export function concatGrad(axis: number): GradRule {
  return (b, { inputs, dOutputs: [g], needs }) => {
    const parts = b.split(g!, axis, inputs.map((t) => t.shape[axis]));
    return parts.map((p, i) => (needs[i] ? p : null));
  };
}

/**
 * Gather: dData = scatter-add of dY into zeros at the gathered indices (ScatterND, reduction add, so repeated
 * indices accumulate). For axis a > 0 the gathered axis is moved to the front and back around the scatter.
 */
export function gatherGrad(axis: number): GradRule {
  return (b, { inputs: [data, indices], dOutputs: [gOut], needs }) => {
    if (!needs[0]) return [null, null];
    let g = gOut!;
    const k = indices.rank;
    const r = data.rank;
    const dataPerm = [axis, ...data.shape.map((_, i) => i).filter((i) => i !== axis)];
    if (axis !== 0) {
      const lead = Array.from({ length: axis }, (_, i) => i);
      const idx = Array.from({ length: k }, (_, i) => axis + i);
      const rest = Array.from({ length: r - 1 - axis }, (_, i) => axis + k + i);
      g = b.transpose(g, [...idx, ...lead, ...rest]);
    }
    const frontShape = dataPerm.map((i) => data.shape[i]);
    const idx: Tensor = b.unsqueeze(b.cast(indices, 'int64'), [-1]);
    const [d] = b.emit('ScatterND', [b.zeros(data.dtype, frontShape), idx, g], [{ dtype: data.dtype, shape: frontShape }], {
      reduction: { kind: 'string', value: 'add' },
    });
    return [axis === 0 ? d : b.transpose(d, inversePermutation(dataPerm)), null];
  };
}
