import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { command as inspect } from '../../../src/cli/commands/inspect';
import { command as logits } from '../../../src/cli/commands/logits';
import type { CliIO } from '../../../src/cli/command';
import { padBatch } from '../../../src/engine/models/batch';
import { resolveModelDir } from '../../../src/engine/models/hubCache';
import { FIXTURES } from './fixturePaths';
import { referenceOnnxLogits } from './referenceOnnx';

function capture(): CliIO & { stdout: string[]; stderr: string[] } {
  const stdout: string[] = [];
  const stderr: string[] = [];
  return { stdout, stderr, out: (l) => stdout.push(l), err: (l) => stderr.push(l) };
}

describe('models: CLI inspect and logits', () => {
  it('inspect prints architecture, sizes, parameters, dtype and tokenizer', async () => {
    const io = capture();
    assert.equal(await inspect.run([FIXTURES.llama], io), 0);
    const text = io.stdout.join('\n');
    assert.match(text, /architecture: +llama \(LlamaForCausalLM\)/);
    assert.match(text, /layers: +2/);
    assert.match(text, /heads: +1 \(KV heads 1, head dim 16\)/);
    // 2 x 32000 x 16 embeddings/head + 2 layers x (4 x 256 + 3 x 1024 + 2 x 16) + 16 = 1,032,272.
    assert.match(text, /parameters: +1\.03M \(1032272\)/);
    assert.match(text, /stored dtype: +F16 in model\.safetensors/);
    assert.match(text, /tokenizer: +LlamaTokenizer, 32000 tokens, bos <s>, eos <\/s>, chat template/);
    const json = capture();
    assert.equal(await inspect.run([FIXTURES.gpt2, '--json'], json), 0);
    const summary: unknown = JSON.parse(json.stdout[0]);
    assert.ok(typeof summary === 'object' && summary !== null && 'parameters' in summary && 'tokenizer' in summary);
    assert.equal(summary.parameters, 1000 * 32 + 512 * 32 + 5 * (4 * 32 + 32 * 96 + 96 + 32 * 32 + 32 + 32 * 128 + 128 + 128 * 32 + 32) + 64);
    assert.match(JSON.stringify(summary.tokenizer), /"vocabSize":5\d{4}/);
  });

  it('inspect: unusable folders exit 2 with the reason', async () => {
    const io = capture();
    assert.equal(await inspect.run([path.join(os.tmpdir(), 'no-such-model-dir')], io), 2);
    assert.match(io.stderr[0], /no such folder, and not a Hugging Face repo id/);
    const empty = fs.mkdtempSync(path.join(os.tmpdir(), 'peft-empty-'));
    fs.writeFileSync(path.join(empty, 'config.json'), JSON.stringify({ model_type: 'bert' }));
    const io2 = capture();
    assert.equal(await inspect.run([empty], io2), 2);
    assert.match(io2.stderr[0], /model_type "bert" is not supported; supported: gpt2, llama, mistral, qwen2, opt/);
  });

  it('logits prints [batch][seq][vocab] matching reference.onnx, right-padded with a mask', async () => {
    const io = capture();
    assert.equal(await logits.run([FIXTURES.gpt2, '--ids', '1,5,9', '--ids=4,2'], io), 0);
    const out: unknown = JSON.parse(io.stdout[0]);
    assert.ok(typeof out === 'object' && out !== null && 'logits' in out && 'mask' in out);
    const l = out.logits;
    assert.ok(Array.isArray(l) && l.length === 2 && Array.isArray(l[0]) && l[0].length === 3 && Array.isArray(l[1][2]) && l[1][2].length === 1000);
    assert.deepEqual(out.mask, [[1, 1, 1], [1, 1, 0]]);
    const batch = padBatch([[1, 5, 9], [4, 2]], 'right', 98);
    const ref = await referenceOnnxLogits(FIXTURES.gpt2, 'gpt2', batch);
    for (const [b, s] of [[0, 0], [0, 2], [1, 1]]) {
      const row: unknown = l[b][s];
      assert.ok(Array.isArray(row));
      row.forEach((v: unknown, i) => assert.ok(typeof v === 'number' && Math.abs(v - ref[(b * 3 + s) * 1000 + i]) < 1e-4));
    }
  });

  it('logits: text through the tokenizer, and clear errors for ids beyond the vocabulary', async () => {
    const io = capture();
    assert.equal(await logits.run([FIXTURES.llama, '--text', 'Hello'], io), 0);
    assert.match(io.stdout[0], /^\{"logits":\[\[\[/);
    const bad = capture();
    assert.equal(await logits.run([FIXTURES.gpt2, '--ids', '1,1000'], bad), 2);
    assert.match(bad.stderr[0], /row 0, position 1: 1000 is not in 0\.\.999/);
    const text = capture();
    assert.equal(await logits.run([FIXTURES.gpt2, '--text', 'Hello tokenizer mismatch'], text), 2);
    assert.match(text.stderr[0], /is >= the model's vocab_size 1000/);
    await assert.rejects(logits.run([FIXTURES.gpt2, '--ids', '1,x'], capture()), /not a comma-separated list/);
    await assert.rejects(logits.run([FIXTURES.gpt2], capture()), /give at least one --ids or --text/);
  });

  it('finds a repo id in the Hugging Face cache (HF_HUB_CACHE, HF_HOME) and says it does not download', () => {
    const home = fs.mkdtempSync(path.join(os.tmpdir(), 'peft-hf-'));
    const repo = path.join(home, 'hub', 'models--org--tiny');
    fs.mkdirSync(path.join(repo, 'snapshots', 'abc123'), { recursive: true });
    fs.mkdirSync(path.join(repo, 'refs'), { recursive: true });
    fs.writeFileSync(path.join(repo, 'refs', 'main'), 'abc123\n');
    assert.equal(resolveModelDir('org/tiny', { HF_HOME: home }), path.join(repo, 'snapshots', 'abc123'));
    assert.equal(resolveModelDir('org/tiny@abc123', { HF_HUB_CACHE: path.join(home, 'hub') }), path.join(repo, 'snapshots', 'abc123'));
    assert.throws(() => resolveModelDir('org/tiny@v2', { HF_HOME: home }), /revision 'v2' not found/);
    assert.throws(() => resolveModelDir('org/other', { HF_HOME: home }), /not in the Hugging Face cache .*Downloading is not available/);
  });
});
