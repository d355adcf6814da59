// Data readers: the LLM-Adapters template with loss on the response only, choices from "Answer format", JSONL
// tokens and text, maxLength and limit, right padding and next-token targets.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { IGNORE_INDEX, answerChoices, llmAdaptersPrompt, makeBatch, readChoiceItems, readExamples } from '../../../src/engine/data';
import { ModelTokenizer } from '../../../src/engine/models/tokenizer';
import { COMMONSENSE_DIR, LLAMA_DIR } from '../peft/fixtures';

describe('data: readers and batches', () => {
  const tok = ModelTokenizer.load(LLAMA_DIR, 32000);

  it('LLM-Adapters: template as in finetune.py, labels only on the response (+ EOS), limit and maxLength', () => {
    const file = path.join(COMMONSENSE_DIR, 'ARC-Easy/train.json');
    const examples = readExamples(file, 'llm-adapters', { maxLength: 256, limit: 3 }, tok);
    assert.equal(examples.length, 3);
    const e = examples[0];
    assert.ok(e !== undefined);
    assert.equal(e.ids[e.ids.length - 1], tok.eosTokenId);
    const labelled = e.labels.flatMap((l) => (l === IGNORE_INDEX ? [] : [l]));
    assert.equal(tok.decode(labelled, { skipSpecialTokens: true }).trim(), 'the correct answer is answer2');
    const firstLabel = e.labels.findIndex((l) => l !== IGNORE_INDEX);
    assert.match(tok.decode(e.ids.slice(0, firstLabel), { skipSpecialTokens: true }), /^Below is an instruction that describes a task\. Write a response that appropriately completes the request\.\n\n### Instruction:\nPlease choose the correct answer[\s\S]*### Response:\n?$/);
    const short = readExamples(file, 'llm-adapters', { maxLength: 20, limit: 2 }, tok);
    assert.ok(short.every((x) => x.ids.length === 20 && x.labels.every((l) => l === IGNORE_INDEX)));
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
    assert.ok(llmAdaptersPrompt('i', 'x').includes('### Input:\nx\n\n### Response:\n'));
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
