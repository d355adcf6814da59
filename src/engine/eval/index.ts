/**
 * Evaluation of a LoRA-adapted model through a LoraRunner's score graph:
 *  - perplexity = exp(mean negative log-likelihood over every kept next-token target);
 *  - multiple-choice accuracy by log-likelihood, as lm-eval-harness scores `loglikelihood` requests: for each
 *    choice, the sum of log p(token) over the continuation's tokens given the prompt; the prediction is the
 *    argmax. For the LLM-Adapters commonsense sets (boolq, piqa, social_i_qa, winogrande, ARC-Easy,
 *    ARC-Challenge, openbookqa; hellaswag alike) the choices are the labels of the instruction's
 *    "Answer format: a/b/..." line and the continuation is the response text "the correct answer is <label>".
 */
import { makeBatch } from '../data/batches';
import { IGNORE_INDEX, type ChoiceItem, type TextEncoder, type TokenExample } from '../data/examples';
import type { PeftRunner } from '../train/runner';
import { maxBy } from '../util/arrays';

export interface PerplexityResult {
  readonly loss: number;
  readonly perplexity: number;
  readonly tokens: number;
}

/** Sums of log p over each example's kept targets, in example order, batched by `batchSize` at length `seq`. */
export async function sequenceLogprobs(
  runner: PeftRunner, examples: readonly TokenExample[], seq: number, padId: number, batchSize: number,
): Promise<{ sum: number; tokens: number }[]> {
  const out: { sum: number; tokens: number }[] = [];
  for (let start = 0; start < examples.length; start += batchSize) {
    const chunk = examples.slice(start, start + batchSize);
    // Static shapes: the last batch is filled with copies of its first row, whose results are dropped.
    const rows = [...chunk];
    while (rows.length < batchSize) rows.push(chunk[0] ?? { ids: [0, 0], labels: [IGNORE_INDEX, IGNORE_INDEX] });
    const batch = makeBatch(rows, seq, padId);
    const logp = await runner.tokenLogprobs(batch);
    chunk.forEach((_, b) => {
      let sum = 0;
      let tokens = 0;
      for (let t = 0; t < seq; t++) {
        if (batch.targets[b * seq + t] !== IGNORE_INDEX) {
          sum += logp[b * seq + t] ?? 0;
          tokens += 1;
        }
      }
      out.push({ sum, tokens });
    });
  }
  return out;
}

export async function perplexity(
  runner: PeftRunner, examples: readonly TokenExample[], seq: number, padId: number, batchSize: number,
): Promise<PerplexityResult> {
  const scores = await sequenceLogprobs(runner, examples, seq, padId, batchSize);
  let sum = 0;
  let tokens = 0;
  for (const s of scores) {
    sum += s.sum;
    tokens += s.tokens;
  }
  const loss = tokens > 0 ? -sum / tokens : Number.NaN;
  return { loss, perplexity: Math.exp(loss), tokens };
}

/** Token examples scoring each choice's continuation given the prompt (prompt positions ignored). */
export function choiceExamples(items: readonly ChoiceItem[], tokenizer: TextEncoder, maxLength: number): { examples: TokenExample[]; owner: number[] } {
  const examples: TokenExample[] = [];
  const owner: number[] = [];
  items.forEach((item, k) => {
    const promptIds = tokenizer.encode(item.prompt);
    for (const continuation of item.continuations) {
      // As lm-eval-harness: context and continuation encoded together, the continuation's tokens are those
      // past the context's tokens; long inputs keep their end (left truncation), where the answer is.
      let ids = tokenizer.encode(item.prompt + continuation);
      let promptLength = Math.min(promptIds.length, ids.length - 1);
      if (ids.length > maxLength) {
        const cut = ids.length - maxLength;
        ids = ids.slice(cut);
        promptLength = Math.max(1, promptLength - cut);
      }
      examples.push({ ids, labels: ids.map((id, i) => (i < promptLength ? IGNORE_INDEX : id)) });
      owner.push(k);
    }
  });
  return { examples, owner };
}

export interface ChoiceAccuracy {
  readonly accuracy: number;
  readonly correct: number;
  readonly total: number;
  /** Predicted choice index per item. */
  readonly predictions: readonly number[];
}

export async function multipleChoiceAccuracy(
  runner: PeftRunner, items: readonly ChoiceItem[], tokenizer: TextEncoder, options: { maxLength: number; padId: number; batchSize: number },
): Promise<ChoiceAccuracy> {
  const { examples } = choiceExamples(items, tokenizer, options.maxLength);
  const seq = maxBy(examples, (e) => e.ids.length);
  const scores = await sequenceLogprobs(runner, examples, seq, options.padId, options.batchSize);
  const predictions: number[] = [];
  let correct = 0;
  let offset = 0;
  for (const item of items) {
    let best = 0;
    for (let c = 1; c < item.continuations.length; c++) {
      if ((scores[offset + c]?.sum ?? -Infinity) > (scores[offset + best]?.sum ?? -Infinity)) best = c;
    }
    offset += item.continuations.length;
    predictions.push(best);
    if (best === item.answer) correct += 1;
  }
  return { accuracy: items.length > 0 ? correct / items.length : Number.NaN, correct, total: items.length, predictions };
}

export { answerPattern, extractAnswer, generationAccuracy, type GenerationAccuracy, type TextCodec } from './generation';
