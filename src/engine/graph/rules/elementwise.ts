// Gradient rules of elementwise ops. Broadcast operands get their gradient summed back to their own shape.
// Derivatives are the standard calculus identities (e.g. d tanh = 1 - tanh^2, d sigmoid = s (1 - s)).
import type { GradRule } from '../tape';

export const addGrad: GradRule = (b, { inputs: [x, y], dOutputs: [g], needs }) => [
  needs[0] ? b.sumToShape(g!, x.shape) : null,
  needs[1] ? b.sumToShape(g!, y.shape) : null,
];

export const subGrad: GradRule = (b, { inputs: [x, y], dOutputs: [g], needs }) => [
  needs[0] ? b.sumToShape(g!, x.shape) : null,
  needs[1] ? b.neg(b.sumToShape(g!, y.shape)) : null,
];

export const mulGrad: GradRule = (b, { inputs: [x, y], dOutputs: [g], needs }) => [
  needs[0] ? b.sumToShape(b.mul(g!, y), x.shape) : null,
  needs[1] ? b.sumToShape(b.mul(g!, x), y.shape) : null,
];

// z = x / y: dz/dx = 1 / y, dz/dy = -z / y.
export const divGrad: GradRule = (b, { inputs: [x, y], outputs: [z], dOutputs: [g], needs }) => {
  const gOverY = b.div(g!, y);
  return [
    needs[0] ? b.sumToShape(gOverY, x.shape) : null,
    needs[1] ? b.sumToShape(b.neg(b.mul(gOverY, z)), y.shape) : null,
  ];
};

export const negGrad: GradRule = (b, { dOutputs: [g] }) => [b.neg(g!)];

export const expGrad: GradRule = (b, { outputs: [y], dOutputs: [g] }) => [b.mul(g!, y)];

export const logGrad: GradRule = (b, { inputs: [x], dOutputs: [g] }) => [b.div(g!, x)];

// d sqrt(x) = 1 / (2 sqrt(x))
export const sqrtGrad: GradRule = (b, { outputs: [y], dOutputs: [g] }) => [b.div(b.mul(g!, 0.5), y)];

// d (1/x) = -1/x^2 = -y^2
export const reciprocalGrad: GradRule = (b, { outputs: [y], dOutputs: [g] }) => [b.neg(b.mul(g!, b.mul(y, y)))];

export const tanhGrad: GradRule = (b, { outputs: [y], dOutputs: [g] }) => [b.mul(g!, b.sub(1, b.mul(y, y)))];

export const sigmoidGrad: GradRule = (b, { outputs: [y], dOutputs: [g] }) => [b.mul(g!, b.mul(y, b.sub(1, y)))];

// d x^p = p x^(p-1); the exponent (input 1) is a constant and gets no gradient.
export function powGrad(exponent: number): GradRule {
  return (b, { inputs: [x], dOutputs: [g] }) => {
    const dx = exponent === 2 ? b.mul(x, 2) : exponent === 1 ? null : b.mul(b.pow(x, exponent - 1), exponent);
    return [dx === null ? g! : b.mul(g!, dx), null];
  };
}

export const sumGrad: GradRule = (b, { inputs, dOutputs: [g], needs }) =>
  inputs.map((x, i) => (needs[i] ? b.sumToShape(g!, x.shape) : null));

export const whereGrad: GradRule = (b, { inputs: [cond, x, y], dOutputs: [g], needs }) => [
  null,
  needs[1] ? b.sumToShape(b.where(cond, g!, 0), x.shape) : null,
  needs[2] ? b.sumToShape(b.where(cond, 0, g!), y.shape) : null,
];

export const castGrad: GradRule = (b, { inputs: [x], dOutputs: [g] }) => [b.cast(g!, x.dtype)];
