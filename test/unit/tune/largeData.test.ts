// Large training sets (issue 16 item 2): 200k examples used to crash with "Maximum call stack size exceeded"
// (Math.max over a spread of every example); the run must start and train.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { runTune } from '../../../src/engine/tasks';
import { maxBy, maxOf, minOf } from '../../../src/engine/util/arrays';
import { loadTune, stepLosses, stubContext, tempDir, writeTuneConfig } from './helpers';

describe('tune: a 200k-example training set', function () {
  this.timeout(30_000);

  it('maxOf / minOf / maxBy reduce 200k values without a spread', () => {
    const values = Array.from({ length: 200_000 }, (_, i) => (i * 7919) % 200_003);
    assert.equal(maxOf(values), 200_002);
    assert.equal(minOf(values), 0);
    assert.equal(maxBy(values.map((v) => ({ v })), (x) => x.v), 200_002);
    assert.equal(maxOf([]), -Infinity);
    assert.equal(maxBy([], () => 1, 0), 0);
    assert.ok(Number.isNaN(maxOf([1, NaN, 2])));
  });

  it('starts and trains 2 steps', async () => {
    const dir = tempDir('large');
    const lines: string[] = [];
    for (let i = 0; i < 200_000; i++) lines.push(`{"input_ids":[${1 + (i % 50)},${2 + (i % 37)},${3 + (i % 23)},${4 + (i % 11)}]}`);
    fs.writeFileSync(path.join(dir, 'big.jsonl'), `${lines.join('\n')}\n`);
    const config = loadTune(writeTuneConfig(dir, { data: { train: 'big.jsonl' }, train: { steps: 2, batchSize: 4, checkpointEvery: 0 } }));
    const ctx = stubContext(path.join(dir, 'run'));
    await runTune(config, ctx);
    assert.equal(stepLosses(ctx.metrics).filter(Number.isFinite).length, 2);
    assert.ok(ctx.logs.some((l) => l.includes('200000 training examples')), ctx.logs.join('\n'));
  });
});
