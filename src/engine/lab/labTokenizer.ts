// The lab's tokenizer: one token per lower-cased word or punctuation run, written as a Hugging Face
// `tokenizer.json` (normalizer Lowercase, pre-tokenizer Whitespace = \w+|[^\w\s]+, a WordPiece model whose
// vocabulary holds whole words only, so every word is one token or <unk>; WordPiece because the standard
// tokenizer libraries, Python and @huggingface/tokenizers alike, load it, and the latter has no WordLevel model).
// The post-processor adds <s> in front (LLaMA style). The vocabulary is every word the world, its corpus
// templates, its tasks and the LLM-Adapters prompt can produce, enumerated, not sampled.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { llmAdaptersText } from '../data/template';
import { writeJsonAtomic } from '../runs/atomic';
import { fillTemplate, PROBE_TEMPLATES, SENTENCE_TEMPLATES } from './biographies';
import { buildTask, LAB_TASK_NAMES } from './labTasks';
import { ATTRIBUTES, attributeValues, type World } from './world';

export const SPECIAL_TOKENS = ['<pad>', '<s>', '</s>', '<unk>'] as const;

/** The pre-tokenizer's split after lower-casing (HF Whitespace: \w+|[^\w\s]+). */
export function labWords(text: string): string[] {
  return text.toLowerCase().match(/\w+|[^\w\s]+/g) ?? [];
}

/** Every text whose words the vocabulary must hold. */
function coveredTexts(world: World): string[] {
  const texts: string[] = [];
  const people = world.people;
  // Templates by name and by pronoun, for a woman and a man (pronoun forms differ), with a placeholder value.
  const samples = [people.find((p) => p.gender === 'female'), people.find((p) => p.gender === 'male')].filter((p) => p !== undefined);
  for (const person of samples) {
    for (const list of Object.values(SENTENCE_TEMPLATES)) {
      for (const t of list) texts.push(fillTemplate(t, person, 'x', true), fillTemplate(t, person, 'x', false));
    }
    for (const t of Object.values(PROBE_TEMPLATES)) texts.push(fillTemplate(t, person, '', true));
  }
  for (const p of people) texts.push(p.name);
  for (const a of ATTRIBUTES) texts.push(attributeValues(world, a).join(' '));
  const ids = people.map((p) => p.id);
  for (const name of LAB_TASK_NAMES) {
    for (const r of buildTask(world, name, ids, world.seed)) texts.push(llmAdaptersText(r.instruction, r.input, r.output));
  }
  // The prompt variant with an input block, so user data in that form does not fall to <unk> in the headers.
  texts.push(llmAdaptersText('x', 'x', 'x'));
  return texts;
}

/** tokenizer.json and tokenizer_config.json contents of the lab tokenizer for `world`. */
export function buildLabTokenizer(world: World): { tokenizerJson: Record<string, unknown>; tokenizerConfig: Record<string, unknown>; vocabSize: number } {
  const words = new Set<string>();
  for (const text of coveredTexts(world)) for (const w of labWords(text)) words.add(w);
  for (const s of SPECIAL_TOKENS) words.delete(s);
  const vocab: Record<string, number> = {};
  [...SPECIAL_TOKENS, ...[...words].sort()].forEach((w, i) => {
    vocab[w] = i;
  });
  const special = (content: string, id: number): Record<string, unknown> => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });
  const tokenizerJson = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: SPECIAL_TOKENS.map((t, i) => special(t, i)),
    normalizer: { type: 'Lowercase' },
    pre_tokenizer: { type: 'Whitespace' },
    post_processor: {
      type: 'TemplateProcessing',
      single: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
      pair: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '<s>', type_id: 1 } }, { Sequence: { id: 'B', type_id: 1 } }],
      special_tokens: { '<s>': { id: '<s>', ids: [1], tokens: ['<s>'] } },
    },
    decoder: { type: 'WordPiece', prefix: '##', cleanup: true },
    model: { type: 'WordPiece', unk_token: '<unk>', continuing_subword_prefix: '##', max_input_chars_per_word: 100, vocab },
  };
  const tokenizerConfig = {
    tokenizer_class: 'PreTrainedTokenizerFast', bos_token: '<s>', eos_token: '</s>', pad_token: '<pad>', unk_token: '<unk>',
    model_max_length: 256, clean_up_tokenization_spaces: true,
  };
  return { tokenizerJson, tokenizerConfig, vocabSize: SPECIAL_TOKENS.length + words.size };
}

/** Writes tokenizer.json and tokenizer_config.json into `dir`; returns the vocabulary size. */
export function writeLabTokenizer(dir: string, world: World): number {
  const t = buildLabTokenizer(world);
  fs.mkdirSync(dir, { recursive: true });
  writeJsonAtomic(path.join(dir, 'tokenizer.json'), t.tokenizerJson);
  writeJsonAtomic(path.join(dir, 'tokenizer_config.json'), t.tokenizerConfig);
  return t.vocabSize;
}
