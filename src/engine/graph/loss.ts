// Token-level cross-entropy with ignore-index masking, as one tape entry with a fused gradient, and the same
// loss fused with the vocabulary projection (LM head) before it.
import type { GraphBuilder } from './builder';
import type { GradEmitter } from './tape';
import { GraphBuildError } from './errors';
import { formatShape } from './shape';
import type { Tensor } from './tensor';

interface TokenNll {
  /** LogSoftmax(logits) over the vocabulary axis, [N, V]. */
  logp: Tensor;
  /** The label of each row as a [N, 1] index (0 for ignored rows, which carry weight 0). */
  safeIndex: Tensor;
  /** 1 for kept rows, 0 for ignored ones, [N]. */
  weight: Tensor;
  /** max(kept rows, 1), a scalar. */
  denominator: Tensor;
  loss: Tensor;
}

/** Forward of the mean masked token NLL (untaped; the callers record one composite step). */
function tokenNll(b: GraphBuilder, logits: Tensor, labels: Tensor, ignoreIndex: number): TokenNll {
  const dtype = logits.dtype;
  const n = logits.shape[0];
  return b.untaped(() => {
    const logp = b.logSoftmax(logits, 1);
    const keep = b.not(b.equal(labels, ignoreIndex));
    const safeIndex = b.unsqueeze(b.where(keep, labels, 0), [1]);
    const [picked] = b.emit('GatherElements', [logp, safeIndex], [{ dtype, shape: [n, 1] }], { axis: { kind: 'int', value: 1 } });
    const weight = b.cast(keep, dtype);
    const denominator = b.max(b.reduceSum(weight, [0], false), 1);
    const nll = b.neg(b.reduceSum(b.mul(b.reshape(picked, [n]), weight), [0], false));
    return { logp, safeIndex, weight, denominator, loss: b.div(nll, denominator) };
  });
}

/** The per-row factor of the gradient, keep / max(n, 1) * dL, as [N, 1]. */
function rowWeight(b: GradEmitter, parts: TokenNll, dLoss: Tensor): Tensor {
  return b.unsqueeze(b.mul(parts.weight, b.div(dLoss, parts.denominator)), [1]);
}

/** softmax(logits) - onehot(label) per row, [N, V] (ScatterElements with reduction add: no one-hot is built). */
function centredProbabilities(b: GradEmitter, parts: TokenNll): Tensor {
  const { logp, safeIndex } = parts;
  const minusOne = b.expand(b.scalar(-1, logp.dtype), safeIndex.shape);
  const [d] = b.emit('ScatterElements', [b.exp(logp), safeIndex, minusOne], [{ dtype: logp.dtype, shape: logp.shape }], {
    axis: { kind: 'int', value: 1 },
    reduction: { kind: 'string', value: 'add' },
  });
  return d;
}

function checkLabels(op: string, rows: number, labels: Tensor, described: string): void {
  if (labels.rank !== 1 || labels.shape[0] !== rows || labels.dtype !== 'int64') {
    throw new GraphBuildError(`${op}: expects ${described} and int64 labels [${rows}], got labels ${labels.dtype}${formatShape(labels.shape)}`);
  }
}

/**
 * Mean negative log-likelihood over the tokens whose label is not `ignoreIndex` (PyTorch's
 * `cross_entropy(..., ignore_index)` semantics); 0 when every token is ignored (the count is guarded by max(n, 1)).
 * logits: [N, V] float; labels: [N] int64. Returns a scalar (shape []).
 * Gradient: dlogits = (softmax(logits) - onehot(label)) * keep / max(n, 1) * dL, built with ScatterElements
 * (reduction add) so no [N, V] one-hot is materialised.
 */
export function crossEntropy(b: GraphBuilder, logits: Tensor, labels: Tensor, options: { ignoreIndex?: number } = {}): Tensor {
  if (logits.rank !== 2) {
    throw new GraphBuildError(`crossEntropy: expects logits [N,V] and int64 labels [N], got ${logits.dtype}${formatShape(logits.shape)} and ${labels.dtype}${formatShape(labels.shape)}`);
  }
  checkLabels('crossEntropy', logits.shape[0], labels, `logits [N,V] (got ${logits.dtype}${formatShape(logits.shape)})`);
  const parts = tokenNll(b, logits, labels, options.ignoreIndex ?? -100);
  b.recordComposite('CrossEntropy', [logits, labels], [parts.loss], (bb, { dOutputs: [g] }) => {
    const w = rowWeight(bb, parts, g!);
    const spread = bb.mul(bb.exp(parts.logp), w);
    const [d] = bb.emit('ScatterElements', [spread, parts.safeIndex, bb.neg(w)], [{ dtype: logits.dtype, shape: logits.shape }], {
      axis: { kind: 'int', value: 1 },
      reduction: { kind: 'string', value: 'add' },
    });
    return [d, null];
  });
  return parts.loss;
}

export interface LmHeadCrossEntropyOptions {
  /** Label value of tokens left out of the loss (default -100, as PyTorch). */
  ignoreIndex?: number;
  /**
   * 'vocabByModel' (default): weight is [V, d] (a tied embedding matrix, Hugging Face's lm_head.weight);
   * 'modelByVocab': weight is [d, V] (logits = hidden weight).
   */
  weightLayout?: 'vocabByModel' | 'modelByVocab';
}

/**
 * The LM head and the token cross-entropy as one step: logits = hidden W^T (or hidden W for [d, V] weights),
 * then exactly `crossEntropy(logits, labels, { ignoreIndex })` (the same forward nodes, so the same loss).
 * hidden: [T, d] float; weight: [V, d] or [d, V]; labels: [T] int64. Returns a scalar.
 *
 * Gradient, with P = softmax(logits) = exp(logsoftmax), Y = onehot(label), r = keep / max(n, 1) * dL per row:
 *   dhidden = r (.) ((P - Y) W) = r (.) (P W - W[label])     ([V, d] layout; W^T for [d, V])
 *   dW      = (P - Y)^T (r (.) hidden)                       ([V, d] layout; its transpose for [d, V])
 * The row factor r is applied to the [T, d] side of the products, not to the [T, V] probabilities (V/d times
 * fewer elements), and dhidden subtracts the gathered label rows of W instead of scattering -1 into P (one
 * [T, V] pass fewer). When dW is wanted, P - Y is built once (ScatterElements) and serves both products.
 * The loss is exact (LogSoftmax in the forward); dhidden's subtraction P W - W[label] rounds like any
 * difference of two products, which matters only when a label's probability is close to 1.
 */
export function lmHeadCrossEntropy(b: GraphBuilder, hidden: Tensor, weight: Tensor, labels: Tensor, options: LmHeadCrossEntropyOptions = {}): Tensor {
  const layout = options.weightLayout ?? 'vocabByModel';
  const vocabAxis = layout === 'vocabByModel' ? 0 : 1;
  const d = hidden.shape[1];
  if (hidden.rank !== 2 || weight.rank !== 2 || weight.shape[1 - vocabAxis] !== d || hidden.dtype !== weight.dtype) {
    const expected = layout === 'vocabByModel' ? '[V,d]' : '[d,V]';
    throw new GraphBuildError(
      `lmHeadCrossEntropy: expects hidden [T,d] and weight ${expected} (weightLayout '${layout}') of one float type, got hidden ` +
        `${hidden.name} ${hidden.dtype}${formatShape(hidden.shape)} and weight ${weight.name} ${weight.dtype}${formatShape(weight.shape)}`,
    );
  }
  const t = hidden.shape[0];
  checkLabels('lmHeadCrossEntropy', t, labels, `hidden [${t},${d}]`);
  const transposedWeight = layout === 'vocabByModel';
  const logits = b.untaped(() => b.gemm(hidden, weight, undefined, { transB: transposedWeight }));
  const parts = tokenNll(b, logits, labels, options.ignoreIndex ?? -100);
  b.recordComposite('LmHeadCrossEntropy', [hidden, weight, labels], [parts.loss], (bb, { dOutputs: [g], needs }) => {
    const r = rowWeight(bb, parts, g!);
    // P W with W used as stored: [V, d] is op(B) = B, [d, V] is op(B) = B^T.
    const timesWeight = (x: Tensor) => bb.gemm(x, weight, undefined, { transB: !transposedWeight });
    if (!needs[1]) {
      const labelRows = vocabAxis === 0 ? bb.gather(weight, bb.reshape(parts.safeIndex, [t]), 0) : bb.transpose(bb.gather(weight, bb.reshape(parts.safeIndex, [t]), 1), [1, 0]);
      const dHidden = needs[0] ? bb.mul(bb.sub(timesWeight(bb.exp(parts.logp)), labelRows), r) : null;
      return [dHidden, null, null];
    }
    const centred = centredProbabilities(bb, parts);
    const dHidden = needs[0] ? bb.mul(timesWeight(centred), r) : null;
    const scaledHidden = bb.mul(hidden, r);
    const dWeight = transposedWeight ? bb.gemm(centred, scaledHidden, undefined, { transA: true }) : bb.gemm(scaledHidden, centred, undefined, { transA: true });
    return [dHidden, dWeight, null];
  });
  return parts.loss;
}
