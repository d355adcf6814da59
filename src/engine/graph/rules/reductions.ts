// Gradient rules of reductions, Softmax/LogSoftmax and LayerNormalization.
import type { GradRule } from '../tape';
import type { Tensor } from '../tensor';

/** ReduceSum/ReduceMean over sorted `axes`: broadcast the gradient back (divided by the count for the mean). */
export function reduceGrad(axes: readonly number[], mean: boolean): GradRule {
  return (b, { inputs: [x], dOutputs: [g] }) => {
    const kept = x.shape.map((d, i) => (axes.includes(i) ? 1 : d));
    let d: Tensor = b.expand(b.reshape(g!, kept), x.shape);
    if (mean) d = b.mul(d, 1 / axes.reduce((n, a) => n * x.shape[a], 1));
    return [d, null];
  };
}

// y = softmax(x): dx = y (g - sum(g y)) along the axis.
export function softmaxGrad(axis: number): GradRule {
  return (b, { outputs: [y], dOutputs: [g] }) => {
    const gy = b.mul(g!, y);
    return [b.sub(gy, b.mul(y, b.reduceSum(gy, [axis], true)))];
  };
}

// y = log softmax(x): dx = g - softmax(x) sum(g) along the axis.
export function logSoftmaxGrad(axis: number): GradRule {
  return (b, { outputs: [y], dOutputs: [g] }) => [b.sub(g!, b.mul(b.exp(y), b.reduceSum(g!, [axis], true)))];
}

/**
 * LayerNormalization over axes [axis, rank) (Ba et al. 2016). With xhat = (x - mu) rstd and dxhat = g scale:
 *   dx = rstd (dxhat - mean(dxhat) - xhat mean(dxhat xhat)),  dscale = sum(g xhat),  dbias = sum(g)
 * where sums for the parameters run over the leading (non-normalised) axes. mu and rstd are the node's
 * Mean/InvStdDev outputs when it has them (float32 graphs); otherwise (float64 graphs, where those outputs
 * would be float32) they are recomputed here.
 */
export function layerNormGrad(axis: number, epsilon: number): GradRule {
  return (b, { inputs: [x, scale, bias], outputs: [, mean, invStdDev], dOutputs: [g], needs }) => {
    const axes = x.shape.map((_, i) => i).filter((i) => i >= axis);
    let xhat: Tensor;
    let rstd: Tensor;
    if (mean && invStdDev) {
      rstd = invStdDev;
      xhat = b.mul(b.sub(x, mean), rstd);
    } else {
      const xc = b.sub(x, b.reduceMean(x, axes, true));
      const variance = b.reduceMean(b.mul(xc, xc), axes, true);
      rstd = b.reciprocal(b.sqrt(b.add(variance, epsilon)));
      xhat = b.mul(xc, rstd);
    }
    const grads: (Tensor | null)[] = [null, null];
    if (needs[0]) {
      const dxhat = b.mul(g!, scale);
      const inner = b.sub(b.sub(dxhat, b.reduceMean(dxhat, axes, true)), b.mul(xhat, b.reduceMean(b.mul(dxhat, xhat), axes, true)));
      grads[0] = b.mul(inner, rstd);
    }
    if (needs[1]) grads[1] = b.sumToShape(b.mul(g!, xhat), scale.shape);
    if (bias) grads.push(needs[2] ? b.sumToShape(g!, bias.shape) : null);
    return grads;
  };
}
