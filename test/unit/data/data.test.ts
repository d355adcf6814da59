// Data readers: the authors' LLM-Adapters templates (whitespace included), the loss on inputs or on the response
// only, choices from "Answer format", JSONL tokens and text, maxLength and limit, right padding and next-token targets.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { IGNORE_INDEX, answerChoices, llmAdaptersEvalPrompt, llmAdaptersPrompt, llmAdaptersText, makeBatch, readChoiceItems, readExamples } from '../../../src/engine/data';
import { ModelTokenizer } from '../../../src/engine/models/tokenizer';
import { COMMONSENSE_DIR, LLAMA_DIR } from '../peft/fixtures';

describe('data: readers and batches', () => {
  const tok = ModelTokenizer.load(LLAMA_DIR, 32000);

  // The templates as the scripts' f-strings produce them (finetune.py and commonsense_evaluate.py of
  // antgroup/importance-aware-sparse-tuning-IST-paper): header with trailing spaces, body lines indented by 16.
  const I = ' '.repeat(16);
  it('templates: the exact strings of finetune.py and commonsense_evaluate.py, whitespace included', () => {
    assert.equal(llmAdaptersText('Do X.', '', 'the correct answer is true'),
      'Below is an instruction that describes a task. Write a response that appropriately completes the request.  \n\n'
      + `${I}### Instruction:\n${I}Do X.\n\n${I}### Response:\n${I}the correct answer is true`);
    assert.equal(llmAdaptersText('Do X.', 'ctx', 'out'),
      'Below is an instruction that describes a task, paired with an input that provides further context. Write a response that appropriately completes the request. \n\n'
      + `${I}### Instruction:\n${I}Do X.\n\n${I}### Input:\n${I}ctx\n\n${I}### Response:\n${I}out`);
    assert.equal(llmAdaptersPrompt('Do X.', ''), llmAdaptersText('Do X.', '', ''));
    assert.equal(llmAdaptersEvalPrompt('Do X.', ''),
      'Below is an instruction that describes a task. Write a response that appropriately completes the request. \n\n'
      + `${I}### Instruction:\n${I}Do X.\n\n${I}### Response:\n${I}`);
    assert.equal(llmAdaptersEvalPrompt('Do X.', 'ctx'),
      'Below is an instruction that describes a task, paired with an input that provides further context. Write a response that appropriately completes the request.\n\n'
      + `${I}### Instruction:\n${I}Do X.\n\n${I}### Input:\n${I}ctx\n\n${I}### Response:\n${I}`);
  });

  it('LLM-Adapters: trainOnInputs true labels every token (+ EOS); false only the response; limit and maxLength', () => {
    const file = path.join(COMMONSENSE_DIR, 'ARC-Easy/train.json');
    const masked = readExamples(file, 'llm-adapters', { maxLength: 256, limit: 3, trainOnInputs: false }, tok);
    const onInputs = readExamples(file, 'llm-adapters', { maxLength: 256, limit: 3, trainOnInputs: true }, tok);
    assert.equal(masked.length, 3);
    const e = masked[0];
    const all = onInputs[0];
    assert.ok(e !== undefined && all !== undefined);
    assert.deepEqual(all.ids, e.ids);
    assert.deepEqual(all.labels, all.ids);
    assert.equal(e.ids[e.ids.length - 1], tok.eosTokenId);
    const labelled = e.labels.flatMap((l) => (l === IGNORE_INDEX ? [] : [l]));
    assert.equal(tok.decode(labelled, { skipSpecialTokens: true }).trim(), 'the correct answer is answer2');
    const firstLabel = e.labels.findIndex((l) => l !== IGNORE_INDEX);
    assert.equal(firstLabel, e.promptLength);
    assert.ok(e.labels.slice(firstLabel).every((l, i) => l === e.ids[firstLabel + i]));
    assert.match(tok.decode(e.ids.slice(0, firstLabel), { skipSpecialTokens: true }), /^Below is an instruction that describes a task\. Write a response that appropriately completes the request\.\s+### Instruction:\s+Please choose the correct answer[\s\S]*### Response:\s*$/);
    const short = readExamples(file, 'llm-adapters', { maxLength: 20, limit: 2, trainOnInputs: false }, tok);
    assert.ok(short.every((x) => x.ids.length === 20 && x.labels.every((l) => l === IGNORE_INDEX)));
    const shortAll = readExamples(file, 'llm-adapters', { maxLength: 20, limit: 2 }, tok);
    assert.ok(shortAll.every((x) => x.labels.every((l, i) => l === x.ids[i])), 'the default is the authors\' train_on_inputs=True');
  });

  it('parses the answer choices of every LLM-Adapters set from the instruction', () => {
    for (const [set, labels] of [['boolq', ['true', 'false']], ['piqa', ['solution1', 'solution2']], ['social_i_qa', ['answer1', 'answer2', 'answer3']],
      ['winogrande', ['option1', 'option2']], ['ARC-Challenge', undefined], ['openbookqa', ['answer1', 'answer2', 'answer3', 'answer4']]] as const) {
      const items = readChoiceItems(path.join(COMMONSENSE_DIR, set, 'test.json'), 5);
      assert.equal(items.length, 5);
      for (const item of items) {
        if (labels !== undefined) assert.deepEqual(item.labels, labels);
        assert.ok(item.answer >= 0 && item.answer < item.labels.length);
        assert.equal(item.continuations[item.answer], `the correct answer is ${item.labels[item.answer] ?? ''}`);
      }
    }
    assert.equal(answerChoices('no format line'), undefined);
  });

  it('tokens and text formats: every next token counts; errors name file and line', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'peft-data-'));
    const tokens = path.join(dir, 't.jsonl');
    fs.writeFileSync(tokens, '{"input_ids":[1,2,3,4,5]}\n{"input_ids":[6,7]}\n');
    const ex = readExamples(tokens, 'tokens', { maxLength: 4, limit: 0 });
    assert.deepEqual(ex.map((e) => e.ids), [[1, 2, 3, 4], [6, 7]]);
    const batch = makeBatch(ex, 5, 0);
    assert.deepEqual(Array.from(batch.targets), [2, 3, 4, -100, -100, 7, -100, -100, -100, -100]);
    assert.deepEqual(Array.from(batch.mask), [1, 1, 1, 1, 0, 1, 1, 0, 0, 0]);
    assert.equal(batch.tokens, 4);
    fs.writeFileSync(tokens, '{"input_ids":[1,2]}\n{"input_ids":"x"}\n');
    assert.throws(() => readExamples(tokens, 'tokens', { maxLength: 4, limit: 0 }), /t\.jsonl:2: \$\.input_ids/);
    const text = path.join(dir, 'a.txt');
    fs.writeFileSync(text, 'The quick brown fox jumps over the lazy dog. '.repeat(4));
    const blocks = readExamples(text, 'text', { maxLength: 8, limit: 0 }, tok);
    assert.ok(blocks.length >= 5 && blocks.every((b) => b.ids.length <= 8 && b.labels.every((l, i) => l === b.ids[i])));
    assert.throws(() => readExamples(text, 'jsonl', { maxLength: 8, limit: 0 }), /needs the model's tokenizer/);
  });
});
