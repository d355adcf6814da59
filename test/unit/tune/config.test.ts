// The tune block of the schema: new settings have defaults, the demo's config validates.
import { strict as assert } from 'node:assert';
import { validateConfigText } from '../../../src/engine/config';
import { writeCycleTokensExperiment } from '../../../src/engine/models/tinyRandomGpt2';
import { tempDir } from './helpers';

describe('tune: config', () => {
  it('fills the defaults of decay, clipping, checkpoints, rsLoRA and the eval batch', () => {
    const result = validateConfigText(JSON.stringify({ name: 'n', task: 'tune', model: 'm', data: { train: 't' } }), '/x/n.peft.json');
    assert.ok(result.ok && result.config.task === 'tune');
    const { train, peft } = result.config;
    assert.deepEqual({ decay: train.decay, maxGradNorm: train.maxGradNorm, checkpointEvery: train.checkpointEvery, evalBatchSize: train.evalBatchSize, rsLora: peft.rsLora },
      { decay: 'linear', maxGradNorm: 1, checkpointEvery: 50, evalBatchSize: 8, rsLora: false });
  });

  it('rejects an unknown decay with its JSON path', () => {
    const result = validateConfigText(JSON.stringify({ name: 'n', task: 'tune', model: 'm', data: { train: 't' }, train: { decay: 'step' } }), '/x/n.peft.json');
    assert.ok(!result.ok);
    assert.ok(result.issues.some((i) => i.jsonPath === '$.train.decay' && /cosine, linear, constant/.test(i.message)));
  });

  it('the demo experiment is a valid tune config', () => {
    const dir = tempDir('democfg');
    const result = validateConfigText(JSON.stringify(writeCycleTokensExperiment(dir, '/models/demo')), `${dir}/demo.peft.json`);
    assert.ok(result.ok, JSON.stringify(result));
  });
});
