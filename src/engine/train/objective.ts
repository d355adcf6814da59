// What every train and score graph of the project shares, whichever runner executes it (monolithic PEFT
// sessions, layer blocks, full-model training): the targets input and the objective (mean next-token
// cross-entropy, or per-token log-probabilities), the naming of gradient outputs, batch feeds, and the session
// settings. Kept apart from the runners so they can import it without importing each other.
import type { DeviceName } from '../../protocol/runFiles';
import type { GraphBuilder } from '../graph/builder';
import { crossEntropy } from '../graph/loss';
import type { Tensor } from '../graph/tensor';
import { IGNORE_INDEX } from '../data/examples';
import type { TrainBatch } from '../data/batches';
import { INPUT_NAMES } from '../models/causalLm';
import { hostTensor, type HostTensor } from '../runtime';

export const TARGETS_INPUT = 'targets';
export const LOSS_OUTPUT = 'loss';
export const LOGPROB_OUTPUT = 'token_logprob';

/**
 * Adds the targets input TARGETS_INPUT [n] and the objective on next-token logits [n, vocab]: a train graph
 * outputs LOSS_OUTPUT (returned, to differentiate), a score graph LOGPROB_OUTPUT [n] (0 where ignored).
 */
export function declareObjective(b: GraphBuilder, logits: Tensor, kind: 'train' | 'score', dtype: 'float32' | 'float64'): Tensor | undefined {
  const n = logits.shape[0] ?? 0;
  const targets = b.input(TARGETS_INPUT, 'int64', [n]);
  if (kind === 'train') {
    const loss = crossEntropy(b, logits, targets, { ignoreIndex: IGNORE_INDEX });
    b.output(loss, LOSS_OUTPUT);
    return loss;
  }
  b.untaped(() => {
    const logp = b.logSoftmax(logits, 1);
    const keep = b.not(b.equal(targets, IGNORE_INDEX));
    const safe = b.unsqueeze(b.where(keep, targets, 0), [1]);
    const [picked] = b.emit('GatherElements', [logp, safe], [{ dtype, shape: [n, 1] }], { axis: { kind: 'int', value: 1 } });
    b.output(b.mul(b.reshape(picked, [n]), b.cast(keep, dtype)), LOGPROB_OUTPUT);
  });
  return undefined;
}

/** Mean negative log-probability over the kept targets of a batch (as the train graph's loss), in float64. */
export function meanTargetLoss(batch: TrainBatch, logp: Float32Array): number {
  let sum = 0;
  let kept = 0;
  batch.targets.forEach((t, i) => {
    if (t === IGNORE_INDEX) return;
    sum -= logp[i] ?? 0;
    kept += 1;
  });
  return kept > 0 ? sum / kept : 0;
}

export function gradOutputName(inputName: string): string {
  return `grad.${inputName}`;
}

const i64 = (a: Int32Array): BigInt64Array => BigInt64Array.from(a, (v) => BigInt(v));

/** Feeds for the token inputs and targets of a batch. */
export function batchFeeds(batch: TrainBatch): Record<string, HostTensor> {
  const dims = [batch.batch, batch.seq];
  return {
    [INPUT_NAMES.inputIds]: hostTensor(INPUT_NAMES.inputIds, i64(batch.ids), dims),
    [INPUT_NAMES.attentionMask]: hostTensor(INPUT_NAMES.attentionMask, i64(batch.mask), dims),
    [INPUT_NAMES.positionIds]: hostTensor(INPUT_NAMES.positionIds, i64(batch.positions), dims),
    [TARGETS_INPUT]: hostTensor(TARGETS_INPUT, i64(batch.targets), [batch.batch * batch.seq]),
  };
}

export interface SessionSettings {
  readonly device: DeviceName;
  readonly threads: number;
  /**
   * 'blocks' (default): train steps and scoring run layer by layer (train/blockRunner.ts: frozen weights held
   * once, the backward stops at the lowest wanted layer); 'graph': one monolithic session per bucket.
   */
  readonly execution?: 'blocks' | 'graph';
  /**
   * 'blocks': keep only each layer's input and recompute its activations just before its backward; true for every
   * layer, 'pass-through' for the layers whose adapter gradients a step does not want.
   */
  readonly recompute?: boolean | 'pass-through';
}

export interface ProviderInfo {
  readonly requested: string;
  readonly used: string;
  readonly fallbackReason?: string;
}

