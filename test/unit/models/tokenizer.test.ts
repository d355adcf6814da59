import { strict as assert } from 'node:assert';
import { readModelConfig } from '../../../src/engine/models/config';
import { ModelTokenizer } from '../../../src/engine/models/tokenizer';
import { FIXTURES } from './fixturePaths';

describe('models/tokenizer', () => {
  it('LLaMA: adds <s>, round-trips text, exposes special tokens and the chat template', () => {
    const config = readModelConfig(FIXTURES.llama);
    const tok = ModelTokenizer.load(FIXTURES.llama, config.vocabSize);
    const ids = tok.encode('Hello world, this is a test.');
    assert.equal(ids[0], 1);
    assert.equal(tok.bosTokenId, 1);
    assert.equal(tok.eosTokenId, 2);
    assert.equal(tok.padTokenId, 0);
    assert.equal(tok.decode(ids, { skipSpecialTokens: true }), 'Hello world, this is a test.');
    assert.ok(ids.every((id) => id < 32000));
    assert.equal(tok.encode('Hello', { addSpecialTokens: false })[0] !== 1, true);
    assert.ok(tok.chatTemplate?.includes("messages[0]['role']"));
    assert.equal(tok.summary().vocabSize, 32000);
    assert.equal(tok.summary().tokenizerClass, 'LlamaTokenizer');
  });

  it('GPT-2: byte-level BPE, and a clear error when an id is beyond the model vocabulary', () => {
    const config = readModelConfig(FIXTURES.gpt2);
    const tok = ModelTokenizer.load(FIXTURES.gpt2, config.vocabSize);
    // 50257 BPE tokens plus the CodeGen tokenizer's added whitespace tokens.
    assert.ok(tok.vocabSize >= 50257);
    assert.equal(tok.chatTemplate, undefined);
    // "the" is a common token (id 262 in GPT-2) and fits the 1000-row embedding.
    assert.deepEqual(tok.encode(' the'), [262]);
    assert.throws(() => tok.encode('Hello tokenizer mismatch'),
      /tokenizer\.json: token id \d+ \(position \d+, token .*\) is >= the model's vocab_size 1000: the tokenizer \(\d+ tokens\)/);
    const unchecked = ModelTokenizer.load(FIXTURES.gpt2);
    assert.equal(unchecked.decode(unchecked.encode('Hello world')), 'Hello world');
  });
});
