// Answers cut off by maxLength (issue 16 item 3): examples left without a target token are counted and warned
// about, and a data set with none left is a config error at $.data.maxLength instead of a run that "completes"
// with loss 0.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { IGNORE_INDEX, targetTokenCount } from '../../../src/engine/data/examples';
import { runTune, TaskError } from '../../../src/engine/tasks';
import { LLAMA_DIR } from '../peft/fixtures';
import { loadTune, stepLosses, stubContext, tempDir, writeTuneConfig } from './helpers';

describe('tune: answers truncated by maxLength', function () {
  this.timeout(30_000);
  const short = { instruction: 'Say yes.', input: '', output: 'the correct answer is yes', answer: 'yes' };
  // The LLaMA fixture's tokenizer: the short prompt is 40 tokens, this one about 100.
  const long = { ...short, instruction: `Say yes. ${'word '.repeat(60)}` };

  function config(records: object[], maxLength: number): ReturnType<typeof loadTune> {
    const dir = tempDir('truncated');
    fs.writeFileSync(path.join(dir, 'train.json'), JSON.stringify(records));
    return loadTune(writeTuneConfig(dir, {
      model: LLAMA_DIR, data: { train: 'train.json', eval: undefined, format: 'llm-adapters', maxLength },
      peft: { targets: ['q_proj', 'v_proj'] }, train: { steps: 1, batchSize: 2, checkpointEvery: 0 },
    }));
  }

  it('counts target tokens after the next-token shift', () => {
    assert.equal(targetTokenCount({ ids: [1, 2, 3], labels: [IGNORE_INDEX, IGNORE_INDEX, 3] }), 1);
    assert.equal(targetTokenCount({ ids: [1, 2], labels: [1, IGNORE_INDEX] }), 0);
    assert.equal(targetTokenCount({ ids: [1, 2, 3], labels: [1, 2, 3] }), 2);
  });

  it('warns with the number of examples whose answer was cut off, and trains on the rest', async () => {
    const ctx = stubContext(path.join(tempDir('truncated-run'), 'run'));
    await runTune(config([short, long, short, long, long], 60), ctx);
    assert.ok(ctx.logs.some((l) => /^warn: .*train\.json: 3 of 5 examples have their answer cut off entirely by maxLength 60/.test(l)), ctx.logs.join('\n'));
    const step = ctx.metrics.find((m) => m.type === 'step');
    assert.equal(stepLosses(ctx.metrics).length, 1);
    assert.ok(typeof step?.tokens === 'number');
  });

  it('fails naming $.data.maxLength when no example keeps a target token', async () => {
    const ctx = stubContext(path.join(tempDir('truncated-none'), 'run'));
    await assert.rejects(runTune(config([short, long], 30), ctx), (e: unknown) =>
      e instanceof TaskError && e.where === '$.data.maxLength' && /all 2 examples have their answer cut off entirely by maxLength 30/.test(e.message));
    assert.equal(stepLosses(ctx.metrics).length, 0);
  });
});
