import { strict as assert } from 'node:assert';
import { validateConfigText } from '../../../src/engine/config';
import {
  EXPERIMENT_TEMPLATES, defaultExperimentConfig, experimentFileName, isExperimentTemplate, renderExperimentConfig, validateExperimentName,
} from '../../../src/extension/newExperiment/experimentTemplate';

describe('New Experiment template', () => {
  it('writes a config that the config validator accepts', () => {
    const result = validateConfigText(renderExperimentConfig('my-exp'), 'my-exp.peft.json');
    assert.ok(result.ok, result.ok ? '' : JSON.stringify(result.issues));
    assert.equal(result.config.name, 'my-exp');
    assert.equal(result.config.task, 'device-check');
  });

  it('writes LoRA, IST and offsite templates that the validator accepts, with their tasks and blocks', () => {
    const expected = { 'device-check': 'device-check', lora: 'tune', ist: 'tune', 'ist-paper': 'tune', offsite: 'offsite' } as const;
    for (const id of Object.keys(EXPERIMENT_TEMPLATES)) {
      assert.ok(isExperimentTemplate(id));
      const result = validateConfigText(renderExperimentConfig(`t-${id}`, id), `t-${id}.peft.json`);
      assert.ok(result.ok, `${id}: ${result.ok ? '' : JSON.stringify(result.issues)}`);
      assert.equal(result.config.task, expected[id]);
      if (id === 'ist' || id === 'ist-paper') assert.equal(Reflect.get(result.config, 'layerSelection'), 'ist');
    }
    // The paper's harness, as their scripts set it.
    const paper = validateConfigText(renderExperimentConfig('paper', 'ist-paper'), 'paper.peft.json');
    assert.ok(paper.ok && paper.config.task === 'tune');
    if (paper.ok && paper.config.task === 'tune') {
      const { train, data, peft } = paper.config;
      assert.deepEqual([train.lr, train.warmupSteps, train.batchSize, train.gradAccum, train.decay, train.weightDecay], [2e-4, 100, 16, 1, 'linear', 0]);
      assert.deepEqual([train.valExamples, train.evalEvery, train.keepBest, data.maxLength, data.trainOnInputs], [120, 80, true, 256, true]);
      assert.deepEqual([peft.method, peft.dropout, peft.targets], ['lora', 0.05, ['q_proj', 'k_proj', 'v_proj', 'up_proj', 'down_proj']]);
    }
    assert.equal(isExperimentTemplate('nope'), false);
  });

  it('names the file <name>.peft.json', () => {
    assert.equal(experimentFileName(' exp1 '), 'exp1.peft.json');
    assert.equal(experimentFileName('exp1.peft.json'), 'exp1.peft.json');
    assert.equal(defaultExperimentConfig('exp1.peft.json').name, 'exp1');
  });

  it('accepts file-safe names and explains what is wrong with others', () => {
    for (const ok of ['a', 'lora-r8', 'ist_v2.1']) assert.equal(validateExperimentName(ok), undefined, ok);
    assert.match(validateExperimentName('  ') ?? '', /Enter a name/);
    assert.match(validateExperimentName('../evil') ?? '', /letters, digits/);
    assert.match(validateExperimentName('a/b') ?? '', /letters, digits/);
    assert.match(validateExperimentName('x.') ?? '', /cannot end/);
    assert.match(validateExperimentName('x'.repeat(101)) ?? '', /at most 100/);
  });
});
