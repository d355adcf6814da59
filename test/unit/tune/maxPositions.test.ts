// maxLength beyond the model's positions (issue 16 item 4) is a config error at $.data.maxLength naming the
// model's limit, for tune and offsite, instead of ONNX Runtime's raw "Gather ... idx=512".
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadExperimentConfig, type OffsiteConfig } from '../../../src/engine/config';
import { runOffsite, runTune, TaskError } from '../../../src/engine/tasks';
import { FIXTURES } from '../models/fixturePaths';
import { loadTune, stubContext, tempDir, writeTuneConfig } from './helpers';

/** A tokens file whose examples are longer than GPT-2's 512 positions. */
function writeLongTokens(file: string, count: number, length: number): void {
  const lines = Array.from({ length: count }, (_, i) => JSON.stringify({ input_ids: Array.from({ length }, (_, t) => (i * 31 + t * 7) % 1000) }));
  fs.writeFileSync(file, `${lines.join('\n')}\n`);
}

const isMaxLengthError = (limit: number, key: string) => (e: unknown): boolean =>
  e instanceof TaskError && e.where === '$.data.maxLength' &&
  e.message.includes(`maxLength 600 is more than the model's ${limit} positions (${key} in `) && e.message.includes('config.json');

describe('maxLength beyond the model positions', function () {
  this.timeout(30_000);

  it('tune on GPT-2 (n_positions 512): a config error, before any step', async () => {
    const dir = tempDir('positions');
    writeLongTokens(path.join(dir, 'long.jsonl'), 4, 600);
    const config = loadTune(writeTuneConfig(dir, { model: FIXTURES.gpt2, data: { train: 'long.jsonl', eval: undefined, maxLength: 600 }, train: { steps: 1, batchSize: 2 } }));
    const ctx = stubContext(path.join(dir, 'run'));
    await assert.rejects(runTune(config, ctx), isMaxLengthError(512, 'n_positions'));
    assert.equal(ctx.metrics.length, 0);
  });

  it('tune on LLaMA names max_position_embeddings', async () => {
    const dir = tempDir('positions-llama');
    const tooLong = loadTune(writeTuneConfig(dir, { model: FIXTURES.llama, data: { maxLength: 4096 }, peft: { targets: ['q_proj'] }, train: { steps: 1 } }));
    await assert.rejects(runTune(tooLong, stubContext(path.join(dir, 'run'))), (e: unknown) =>
      e instanceof TaskError && e.where === '$.data.maxLength' && /maxLength 4096 is more than the model's 2048 positions \(max_position_embeddings in /.test(e.message));
  });

  it('offsite on GPT-2: the same config error', async () => {
    const dir = tempDir('positions-offsite');
    writeLongTokens(path.join(dir, 'train.jsonl'), 4, 600);
    writeLongTokens(path.join(dir, 'eval.jsonl'), 2, 600);
    const file = path.join(dir, 'o.peft.json');
    fs.writeFileSync(file, JSON.stringify({
      name: 'offsite', task: 'offsite', model: FIXTURES.gpt2,
      data: { train: 'train.jsonl', eval: 'eval.jsonl', format: 'tokens', maxLength: 600 },
      peft: { r: 2, alpha: 4, dropout: 0 }, train: { steps: 1, batchSize: 2, lr: 0.05, warmupSteps: 0, evalEvery: 0 },
      offsite: { adapterLayers: [1, 1], adapterPeft: 'lora' }, runtime: { device: 'cpu', threads: 1 },
    }));
    const config = loadExperimentConfig(file);
    assert.equal(config.task, 'offsite');
    await assert.rejects(runOffsite(config as OffsiteConfig, stubContext(path.join(dir, 'run'))), isMaxLengthError(512, 'n_positions'));
  });
});
