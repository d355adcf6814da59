// Token-level cross-entropy with ignore-index masking, as one tape entry with a fused gradient.
import type { GraphBuilder } from './builder';
import { GraphBuildError } from './errors';
import { formatShape } from './shape';
import type { Tensor } from './tensor';

/**
 * Mean negative log-likelihood over the tokens whose label is not `ignoreIndex` (PyTorch's
 * `cross_entropy(..., ignore_index)` semantics); 0 when every token is ignored (the count is guarded by max(n, 1)).
 * logits: [N, V] float; labels: [N] int64. Returns a scalar (shape []).
 * Gradient: dlogits = (softmax(logits) - onehot(label)) * keep / max(n, 1) * dL, built with ScatterElements
 * (reduction add) so no [N, V] one-hot is materialised.
 */
export function crossEntropy(b: GraphBuilder, logits: Tensor, labels: Tensor, options: { ignoreIndex?: number } = {}): Tensor {
  const ignoreIndex = options.ignoreIndex ?? -100;
  if (logits.rank !== 2 || labels.rank !== 1 || labels.shape[0] !== logits.shape[0] || labels.dtype !== 'int64') {
    throw new GraphBuildError(
      `crossEntropy: expects logits [N,V] and int64 labels [N], got ${logits.dtype}${formatShape(logits.shape)} and ` +
        `${labels.dtype}${formatShape(labels.shape)}`,
    );
  }
  const dtype = logits.dtype;
  const n = logits.shape[0];
  const parts = b.untaped(() => {
    const logp = b.logSoftmax(logits, 1);
    const keep = b.not(b.equal(labels, ignoreIndex));
    const safeIndex = b.unsqueeze(b.where(keep, labels, 0), [1]);
    const [picked] = b.emit('GatherElements', [logp, safeIndex], [{ dtype, shape: [n, 1] }], { axis: { kind: 'int', value: 1 } });
    const weight = b.cast(keep, dtype);
    const denominator = b.max(b.reduceSum(weight, [0], false), 1);
    const nll = b.neg(b.reduceSum(b.mul(b.reshape(picked, [n]), weight), [0], false));
    return { logp, safeIndex, weight, denominator, loss: b.div(nll, denominator) };
  });
  b.recordComposite('CrossEntropy', [logits, labels], [parts.loss], (bb, { dOutputs: [g] }) => {
    const w = bb.unsqueeze(bb.mul(parts.weight, bb.div(g!, parts.denominator)), [1]);
    const spread = bb.mul(bb.exp(parts.logp), w);
    const [d] = bb.emit('ScatterElements', [spread, parts.safeIndex, bb.neg(w)], [{ dtype, shape: logits.shape }], {
      axis: { kind: 'int', value: 1 },
      reduction: { kind: 'string', value: 'add' },
    });
    return [d, null];
  });
  return parts.loss;
}
