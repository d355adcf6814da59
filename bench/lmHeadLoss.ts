// Ways to build the tied LM head with the cross-entropy, compared by `--only=tail`. All keep crossEntropy's
// semantics (mean over kept tokens, ignore-index) and differ only in the backward pass:
//   lmHeadCrossEntropy: the graph library's fused op (the default; see src/engine/graph/loss.ts): like 'fused'
//             below, with P = exp(logsoftmax) from the exact forward and dh = (P wte - wte[label]) * w, so no
//             [T,V] ScatterElements is needed.
//   crossEntropy:  the graph library's crossEntropy over Gemm logits: dlogits = exp(logp) * w - onehot * w  (Exp over [T,V], broadcast Mul over [T,V], ScatterElements),
//             then dh = dlogits @ wte
//   fused:    dh = ((softmax - onehot) @ wte) * w  -- the per-row weight w = keep / n * dL moves past the Gemm,
//             so it scales [T,d] instead of [T,V]; the probabilities come from one Softmax kernel.
//   (the prototypes of lmHeadCrossEntropy) 'reuse' keeps the forward's Softmax output for the backward (loss = -log(max(p_label, 1e-30)): finite and
//   equal to the exact value while the label's probability is above 1e-30); 'recompute' keeps LogSoftmax in
//   the forward (exact) and recomputes Softmax(logits) in the backward.
import { attr, crossEntropy, lmHeadCrossEntropy, type GraphBuilder, type Tensor } from '../src/engine/graph';

export const LM_HEAD_LOSS_VARIANTS = ['lmHeadCrossEntropy', 'crossEntropy', 'fused-recompute', 'fused-reuse'] as const;
export type LmHeadLossVariant = (typeof LM_HEAD_LOSS_VARIANTS)[number];

export function lmHeadLoss(b: GraphBuilder, hidden: Tensor, wte: Tensor, labels: Tensor, variant: LmHeadLossVariant, ignoreIndex = -100): Tensor {
  if (variant === 'lmHeadCrossEntropy') return lmHeadCrossEntropy(b, hidden, wte, labels, { ignoreIndex });
  if (variant === 'crossEntropy') return crossEntropy(b, b.gemm(hidden, wte, undefined, { transB: true }), labels, { ignoreIndex });
  const [n, v] = [hidden.shape[0] ?? 0, wte.shape[0] ?? 0];
  const dtype = hidden.dtype;
  const parts = b.untaped(() => {
    const logits = b.gemm(hidden, wte, undefined, { transB: true });
    const keep = b.not(b.equal(labels, ignoreIndex));
    const index = b.unsqueeze(b.where(keep, labels, 0), [1]);
    const weight = b.cast(keep, dtype);
    const denominator = b.max(b.reduceSum(weight, [0], false), 1);
    const probs = variant === 'fused-reuse' ? b.softmax(logits, 1) : null;
    const logpAll = probs ? null : b.logSoftmax(logits, 1);
    const [picked] = b.emit('GatherElements', [probs ?? logpAll ?? logits, index], [{ dtype, shape: [n, 1] }], { axis: attr.int(1) });
    const logp = probs ? b.log(b.max(picked, 1e-30)) : picked;
    const nll = b.neg(b.reduceSum(b.mul(b.reshape(logp, [n]), weight), [0], false));
    return { logits, index, weight, denominator, probs, loss: b.div(nll, denominator) };
  });
  b.recordComposite('LmHeadCrossEntropy', [hidden, labels], [parts.loss], (bb, { dOutputs: [g] }) => {
    const probs = parts.probs ?? bb.softmax(parts.logits, 1);
    const minusOne = bb.expand(bb.scalar(-1, dtype), [n, 1]);
    const [centred] = bb.emit('ScatterElements', [probs, parts.index, minusOne], [{ dtype, shape: [n, v] }], {
      axis: attr.int(1), reduction: attr.string('add'),
    });
    const rowWeight = bb.unsqueeze(bb.mul(parts.weight, bb.div(g!, parts.denominator)), [1]);
    return [bb.mul(bb.gemm(centred, wte), rowWeight), null];
  });
  return parts.loss;
}
