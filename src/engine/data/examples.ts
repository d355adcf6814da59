// Reading training / evaluation data into token-id examples. Labels follow the transformers convention: aligned
// with input ids (the shift to next-token targets happens when batching), IGNORE_INDEX where no loss is taken.
import * as fs from 'node:fs';
import { answerChoices, llmAdaptersEvalPrompt, llmAdaptersPrompt, llmAdaptersText } from './template';

export const IGNORE_INDEX = -100;

export type DataFormat = 'llm-adapters' | 'jsonl' | 'text' | 'tokens';

export interface TokenExample {
  readonly ids: readonly number[];
  /** Same length as ids; IGNORE_INDEX on tokens that are not predicted (the prompt of an instruction example). */
  readonly labels: readonly number[];
  /** Instruction examples: how many leading ids are the prompt (the rest is the response, + EOS). */
  readonly promptLength?: number;
}

/** An LLM-Adapters record, validated. */
export interface InstructionRecord {
  readonly instruction: string;
  readonly input: string;
  readonly output: string;
  readonly answer: string;
}

/** What the readers need from a tokenizer (ModelTokenizer satisfies it). */
export interface TextEncoder {
  encode(text: string, options?: { addSpecialTokens?: boolean }): number[];
  readonly eosTokenId: number | undefined;
}

export interface ReadOptions {
  readonly maxLength: number;
  /** At most this many examples (0 = all), taken from the start of the file. */
  readonly limit: number;
  /**
   * Instruction examples: take the loss on the prompt too (finetune.py's train_on_inputs=True, the default of the
   * IST authors' and LLM-Adapters' scripts), or only on the response (false). Other formats always predict every token. Default true.
   */
  readonly trainOnInputs?: boolean;
}

function readJsonFile(file: string): unknown {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new Error(`${file}: cannot read JSON: ${e instanceof Error ? e.message : String(e)}`);
  }
}

function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

/** JSONL lines as values; errors name file and line. */
function readJsonLines(file: string): { line: number; value: unknown }[] {
  const text = fs.readFileSync(file, 'utf8');
  const out: { line: number; value: unknown }[] = [];
  text.split('\n').forEach((raw, i) => {
    if (raw.trim().length === 0) return;
    try {
      out.push({ line: i + 1, value: JSON.parse(raw) });
    } catch (e) {
      throw new Error(`${file}:${i + 1}: not valid JSON: ${e instanceof Error ? e.message : String(e)}`);
    }
  });
  return out;
}

const limited = <T>(items: T[], limit: number): T[] => (limit > 0 ? items.slice(0, limit) : items);

/** Next-token targets an example contributes to the loss: labels after the first that are not IGNORE_INDEX. */
export function targetTokenCount(example: TokenExample): number {
  let n = 0;
  for (let t = 1; t < example.labels.length; t++) if (example.labels[t] !== IGNORE_INDEX) n += 1;
  return n;
}

/** LLM-Adapters JSON: an array of {instruction, input, output, answer}. */
export function readInstructionRecords(file: string, limit = 0): InstructionRecord[] {
  const data = readJsonFile(file);
  if (!Array.isArray(data)) throw new Error(`${file}: expected a JSON array of {instruction, input, output, answer}`);
  return limited(data, limit).map((x: unknown, i) => {
    if (!isRecord(x)) throw new Error(`${file}: $[${i}] is not an object`);
    const field = (key: string, required: boolean): string => {
      const v = x[key];
      if (typeof v === 'string') return v;
      if (v === undefined && !required) return '';
      throw new Error(`${file}: $[${i}].${key} must be a string (got ${JSON.stringify(v)})`);
    };
    return { instruction: field('instruction', true), input: field('input', false), output: field('output', true), answer: field('answer', false) };
  });
}

/**
 * Tokenizes an instruction example as finetune.py's generate_and_tokenize_prompt does (add_eos_token=True):
 * full = prompt + output (+ EOS when it fits the cutoff); labels are the ids, or with trainOnInputs false
 * IGNORE_INDEX over the prompt's tokens (the prompt's length measured as theirs: the template with an empty output).
 */
export function instructionExample(record: InstructionRecord, tokenizer: TextEncoder, maxLength: number, trainOnInputs: boolean): TokenExample {
  let ids = tokenizer.encode(llmAdaptersText(record.instruction, record.input, record.output)).slice(0, maxLength);
  const eos = tokenizer.eosTokenId;
  if (eos !== undefined && ids.length < maxLength && ids[ids.length - 1] !== eos) ids = [...ids, eos];
  const promptLength = Math.min(ids.length, tokenizer.encode(llmAdaptersPrompt(record.instruction, record.input)).length);
  const labels = trainOnInputs ? [...ids] : ids.map((id, i) => (i < promptLength ? IGNORE_INDEX : id));
  return { ids, labels, promptLength };
}

/** Reads a training / evaluation file into token examples. Text formats need a tokenizer. */
export function readExamples(file: string, format: DataFormat, options: ReadOptions, tokenizer?: TextEncoder): TokenExample[] {
  const need = (): TextEncoder => {
    if (tokenizer === undefined) throw new Error(`${file}: format '${format}' needs the model's tokenizer.json`);
    return tokenizer;
  };
  const full = (ids: readonly number[]): TokenExample => {
    const cut = ids.slice(0, options.maxLength);
    return { ids: cut, labels: [...cut] };
  };
  let examples: TokenExample[];
  switch (format) {
    case 'llm-adapters': {
      const tok = need();
      examples = readInstructionRecords(file, options.limit).map((r) => instructionExample(r, tok, options.maxLength, options.trainOnInputs ?? true));
      break;
    }
    case 'tokens':
      examples = limited(readJsonLines(file), options.limit).map(({ line, value }) => {
        const ids = isRecord(value) ? value.input_ids : undefined;
        if (!Array.isArray(ids) || ids.length === 0 || !ids.every((t): t is number => Number.isSafeInteger(t) && typeof t === 'number' && t >= 0)) {
          throw new Error(`${file}:${line}: $.input_ids must be a non-empty array of token ids`);
        }
        return full(ids);
      });
      break;
    case 'jsonl': {
      const tok = need();
      examples = limited(readJsonLines(file), options.limit).map(({ line, value }) => {
        const text = isRecord(value) ? value.text : undefined;
        if (typeof text !== 'string') throw new Error(`${file}:${line}: $.text must be a string`);
        return full(tok.encode(text));
      });
      break;
    }
    case 'text': {
      // As transformers' run_clm group_texts: the whole file tokenized, then cut into maxLength blocks.
      const ids = need().encode(fs.readFileSync(file, 'utf8'));
      const blocks: TokenExample[] = [];
      for (let i = 0; i < ids.length; i += options.maxLength) blocks.push(full(ids.slice(i, i + options.maxLength)));
      examples = limited(blocks, options.limit);
      break;
    }
  }
  examples.forEach((e, i) => {
    if (e.ids.length < 2) throw new Error(`${file}: example ${i} has ${e.ids.length} token(s); at least 2 are needed for a next-token loss`);
  });
  if (examples.length === 0) throw new Error(`${file}: no examples`);
  return examples;
}

/** A multiple-choice item: the prompt, the candidate continuations, and the index of the right one. */
export interface ChoiceItem {
  readonly prompt: string;
  /** What generation-based evaluation continues (the authors' evaluation template); `prompt` when absent. */
  readonly generationPrompt?: string;
  readonly continuations: readonly string[];
  readonly labels: readonly string[];
  readonly answer: number;
}

/** Multiple-choice items of an LLM-Adapters set (those whose instruction lists the answer format). */
export function readChoiceItems(file: string, limit = 0): ChoiceItem[] {
  const items: ChoiceItem[] = [];
  readInstructionRecords(file, limit).forEach((r, i) => {
    const labels = answerChoices(r.instruction);
    if (labels === undefined) throw new Error(`${file}: $[${i}].instruction has no 'Answer format: a/b/...' line to take the choices from`);
    const answer = labels.indexOf(r.answer);
    if (answer < 0) throw new Error(`${file}: $[${i}].answer '${r.answer}' is not one of ${labels.join('/')}`);
    items.push({
      prompt: llmAdaptersPrompt(r.instruction, r.input), generationPrompt: llmAdaptersEvalPrompt(r.instruction, r.input), continuations: labels.map((l) => `the correct answer is ${l}`), labels, answer });
  });
  return items;
}
