/**
 * Accuracy by generation and answer extraction on the LLM-Adapters commonsense sets, as their evaluation script
 * (AGI-Edgerunners/LLM-Adapters, commonsense_evaluate.py) scores them: the model continues their evaluation
 * prompt (ChoiceItem.generationPrompt), and the first occurrence in the generated text of one of the set's
 * answer labels is the prediction; no occurrence counts as wrong. The label pattern per set is theirs: boolq
 * true|false, piqa solution1|solution2, social_i_qa / ARC / openbookqa answer1..answer5, hellaswag
 * ending1..ending4, winogrande option1|option2 (recognised here by the labels an item lists). Their script
 * decodes with 4-beam search up to 32 new tokens; here `numBeams` (train.evalBeams, default 4; 1 = greedy)
 * and `maxNewTokens` (train.evalGenerationTokens) set those, a hypothesis ending at EOS.
 */
import type { ChoiceItem } from '../data/examples';
import type { PeftRunner } from '../train/runner';

/** What generation-based evaluation needs from a tokenizer. */
export interface TextCodec {
  encode(text: string): number[];
  decode(ids: readonly number[], options?: { skipSpecialTokens?: boolean }): string;
  readonly eosTokenId: number | undefined;
}

const LABEL_FAMILIES: readonly (readonly string[])[] = [
  ['true', 'false'],
  ['solution1', 'solution2'],
  ['answer1', 'answer2', 'answer3', 'answer4', 'answer5'],
  ['ending1', 'ending2', 'ending3', 'ending4'],
  ['option1', 'option2'],
];

/** The labels searched for in a generation: the LLM-Adapters family the item's labels belong to, else its own. */
export function answerPattern(labels: readonly string[]): readonly string[] {
  return LABEL_FAMILIES.find((family) => labels.every((l) => family.includes(l))) ?? labels;
}

/** The first label (of `pattern`) that occurs in `text`, or undefined (case-sensitive, as their re.findall). */
export function extractAnswer(text: string, pattern: readonly string[]): string | undefined {
  let best: { at: number; label: string } | undefined;
  for (const label of pattern) {
    const at = text.indexOf(label);
    if (at >= 0 && (best === undefined || at < best.at || (at === best.at && label.length > best.label.length))) best = { at, label };
  }
  return best?.label;
}

export interface GenerationAccuracy {
  readonly accuracy: number;
  readonly correct: number;
  readonly total: number;
  /** Extracted label per item ('' when none was found). */
  readonly predictions: readonly string[];
  /** Generated text per item. */
  readonly outputs: readonly string[];
}

export async function generationAccuracy(
  runner: Pick<PeftRunner, 'generate'>, items: readonly ChoiceItem[], tokenizer: TextCodec,
  options: { maxNewTokens: number; batchSize: number; maxLength: number; numBeams?: number },
): Promise<GenerationAccuracy> {
  const predictions: string[] = [];
  const outputs: string[] = [];
  let correct = 0;
  for (let start = 0; start < items.length; start += options.batchSize) {
    const chunk = items.slice(start, start + options.batchSize);
    // Long prompts keep their end (the question and the response header), as for the likelihood scores.
    const prompts = chunk.map((item) => tokenizer.encode(item.generationPrompt ?? item.prompt).slice(-options.maxLength));
    const generated = await runner.generate(prompts, {
      maxNewTokens: options.maxNewTokens, numBeams: options.numBeams ?? 1,
      ...(tokenizer.eosTokenId === undefined ? {} : { eosTokenIds: [tokenizer.eosTokenId] }),
    });
    chunk.forEach((item, i) => {
      const text = tokenizer.decode(generated[i] ?? [], { skipSpecialTokens: true });
      const predicted = extractAnswer(text, answerPattern(item.labels)) ?? '';
      outputs.push(text);
      predictions.push(predicted);
      if (predicted === item.labels[item.answer]) correct += 1;
    });
  }
  return { accuracy: items.length > 0 ? correct / items.length : Number.NaN, correct, total: items.length, predictions, outputs };
}
