import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  applyRuntimeOverrides, ConfigError, defaultDeviceCheckConfig, formatConfigIssue, loadExperimentConfig, validateConfigText,
  type ConfigIssue,
} from '../../../src/engine/config';
import { tempDir, writeConfig } from '../jobs/testBundles';

/** 1-based line:col of the first occurrence of `needle` in `text`, computed independently of the code under test. */
function positionOf(text: string, needle: string): { line: number; column: number } {
  const offset = text.indexOf(needle);
  assert.ok(offset >= 0, `${needle} not in text`);
  const before = text.slice(0, offset).split('\n');
  return { line: before.length, column: (before[before.length - 1] ?? '').length + 1 };
}

function issuesOf(text: string, file = '/x/a.peft.json'): ConfigIssue[] {
  const result = validateConfigText(text, file);
  assert.equal(result.ok, false, 'expected the config to be invalid');
  return result.ok ? [] : result.issues;
}

describe('experiment config validation', () => {
  it('fills every default of a minimal device-check config', () => {
    const result = validateConfigText('{ "name": "n", "task": "device-check" }', '/x/a.peft.json');
    assert.ok(result.ok);
    assert.deepEqual(result.config, {
      name: 'n', task: 'device-check', deviceCheck: { size: 512, repeats: 20 }, runtime: { device: 'auto', threads: 0, execution: 'blocks', recompute: false },
    });
  });

  it('keeps given values and fills only the missing ones', () => {
    const result = validateConfigText('{ "name": "n", "task": "device-check", "deviceCheck": { "size": 64 }, "runtime": { "threads": 2 } }', '/x/a.peft.json');
    assert.ok(result.ok && result.config.task === 'device-check');
    assert.deepEqual(result.config.deviceCheck, { size: 64, repeats: 20 });
    assert.deepEqual(result.config.runtime, { device: 'auto', threads: 2, execution: 'blocks', recompute: false });
  });

  it('reports an unknown key with its JSON path, the key and its line:col', () => {
    const text = '{\n  "name": "n",\n  "task": "device-check",\n  "runtime": {\n    "device": "cpu",\n    "thread": 4\n  }\n}\n';
    const issues = issuesOf(text);
    assert.equal(issues.length, 1);
    const [issue] = issues;
    assert.equal(issue?.jsonPath, '$.runtime.thread');
    assert.match(issue?.message ?? '', /unknown key 'thread' \(allowed: device, threads, execution, recompute\)/);
    assert.deepEqual({ line: issue?.line, column: issue?.column }, positionOf(text, '"thread"'));
  });

  it('runtime.recompute takes false, true or "pass-through", and says so at the key otherwise', () => {
    const ok = validateConfigText('{ "name": "n", "task": "device-check", "runtime": { "recompute": "pass-through" } }', '/x/a.peft.json');
    assert.ok(ok.ok && ok.config.runtime.recompute === 'pass-through');
    const issues = issuesOf('{ "name": "n", "task": "device-check", "runtime": { "recompute": "some" } }');
    assert.deepEqual(issues.map((i) => [i.jsonPath, i.message]), [['$.runtime.recompute', 'must be one of false, true, pass-through']]);
  });

  it('reports an unknown top-level key', () => {
    const text = '{ "name": "n", "task": "device-check", "epochs": 3 }';
    const [issue] = issuesOf(text);
    assert.equal(issue?.jsonPath, '$.epochs');
    assert.deepEqual({ line: issue?.line, column: issue?.column }, positionOf(text, '"epochs"'));
  });

  it('reports a wrong type at the value, with what it got', () => {
    const text = '{\n  "name": "n",\n  "task": "device-check",\n  "deviceCheck": { "size": "big" }\n}';
    const [issue] = issuesOf(text);
    assert.equal(issue?.jsonPath, '$.deviceCheck.size');
    assert.equal(issue?.message, 'must be integer (got string "big")');
    assert.deepEqual({ line: issue?.line, column: issue?.column }, positionOf(text, '"big"'));
  });

  it('formats a bad enum as file:line:col: $.path: must be one of ...', () => {
    const dir = tempDir('cfg');
    const text = '{\n  "name": "n",\n  "task": "device-check",\n  "runtime": {\n    "threads": 0,\n    "device": "gpu"\n  }\n}\n';
    const file = writeConfig(dir, 'experiments/a.peft.json', text);
    const [issue] = issuesOf(text, file);
    assert.ok(issue);
    const { line, column } = positionOf(text, '"gpu"');
    assert.equal(formatConfigIssue(issue, dir), `experiments/a.peft.json:${line}:${column}: $.runtime.device: must be one of auto, cpu, cuda, webgpu`);
  });

  it('reports a JSON syntax error with line:col and no JSON path', () => {
    const text = '{\n  "name": "n",\n  "task": "device-check",\n  "runtime": { "device": }\n}';
    const issues = issuesOf(text);
    assert.ok(issues.length >= 1);
    const [issue] = issues;
    assert.equal(issue?.jsonPath, undefined);
    assert.match(issue?.message ?? '', /^JSON syntax error: value expected/);
    assert.deepEqual({ line: issue?.line, column: issue?.column }, positionOf(text, '}\n}'));
  });

  it('reports an empty file and comments as syntax errors', () => {
    assert.match(issuesOf('')[0]?.message ?? '', /JSON syntax error/);
    assert.match(issuesOf('{ // hi\n "name": "n", "task": "device-check" }')[0]?.message ?? '', /JSON syntax error/);
  });

  it('reports a missing required key at its parent, and keys the task does not use', () => {
    const missing = issuesOf('{ "task": "device-check" }');
    assert.deepEqual(missing.map((i) => [i.jsonPath, i.message]), [['$', "missing required key 'name'"]]);
    const text = '{ "name": "n", "task": "device-check", "model": "gpt2" }';
    const [issue] = issuesOf(text);
    assert.equal(issue?.jsonPath, '$.model');
    assert.equal(issue?.message, "key 'model' is not allowed when task is 'device-check'");
    assert.deepEqual({ line: issue?.line, column: issue?.column }, positionOf(text, '"model"'));
  });

  it('reports every problem at once, in file order', () => {
    const text = '{\n  "name": 3,\n  "task": "device-check",\n  "deviceCheck": { "size": 0, "extra": true }\n}';
    const issues = issuesOf(text);
    assert.deepEqual(issues.map((i) => i.jsonPath), ['$.name', '$.deviceCheck.size', '$.deviceCheck.extra']);
    assert.equal(issues[1]?.message, 'must be >= 1');
  });

  it('loads a file and throws ConfigError naming the file for a bad one', () => {
    const dir = tempDir('cfg');
    const text = '{ "name": "n", "task": "train" }';
    const file = writeConfig(dir, 'bad.peft.json', text);
    const { line, column } = positionOf(text, '"train"');
    assert.throws(() => loadExperimentConfig(file), (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.ok(err.message.endsWith(`bad.peft.json:${line}:${column}: $.task: must be one of device-check, tune, offsite`), err.message);
      return true;
    });
    assert.throws(() => loadExperimentConfig(path.join(dir, 'missing.peft.json')), /missing\.peft\.json:1:1: cannot read the config/);
  });

  it('resolves the relative paths of a tune config against its folder and fills its defaults', () => {
    const dir = tempDir('cfg');
    fs.mkdirSync(path.join(dir, 'exp', 'models', 'tiny'), { recursive: true });
    const file = writeConfig(dir, 'exp/t.peft.json', JSON.stringify({
      name: 't', task: 'tune', model: 'models/tiny', data: { train: '../data/train.json' }, peft: { init: './adapter' },
    }));
    const config = loadExperimentConfig(file);
    assert.ok(config.task === 'tune');
    assert.equal(config.model, path.join(dir, 'exp', 'models', 'tiny'));
    assert.equal(config.data.train, path.join(dir, 'data', 'train.json'));
    assert.equal(config.peft.init, path.join(dir, 'exp', 'adapter'));
    assert.equal(config.train.steps, 100);
    assert.deepEqual(config.peft.targets, ['q_proj', 'v_proj']);
    // A name that is no local folder stays a hub id.
    const hub = loadExperimentConfig(writeConfig(dir, 'exp/h.peft.json', JSON.stringify({ name: 'h', task: 'tune', model: 'gpt2', data: { train: 'x' } })));
    assert.ok(hub.task === 'tune');
    assert.equal(hub.model, 'gpt2');
  });

  it('requires model and data for tune', () => {
    const issues = issuesOf('{ "name": "n", "task": "tune" }');
    assert.deepEqual(issues.map((i) => i.message).sort(), ["missing required key 'data'", "missing required key 'model'"]);
  });

  it('applies runtime overrides without touching the original', () => {
    const config = defaultDeviceCheckConfig();
    const overridden = applyRuntimeOverrides(config, { device: 'cpu', threads: 3 });
    assert.deepEqual(overridden.runtime, { device: 'cpu', threads: 3, execution: 'blocks', recompute: false });
    assert.deepEqual(config.runtime, { device: 'auto', threads: 0, execution: 'blocks', recompute: false });
  });

  it('the built-in demo config is valid as written', () => {
    const result = validateConfigText(JSON.stringify(defaultDeviceCheckConfig()), '/x/demo.peft.json');
    assert.ok(result.ok);
    assert.deepEqual(result.config, defaultDeviceCheckConfig());
  });
});

describe('config issue formatting', () => {
  const issue: ConfigIssue = { file: '/work/exp/a.peft.json', line: 2, column: 3, jsonPath: '$.name', message: 'm' };
  it('shows the file relative to a folder containing it, else absolute', () => {
    assert.equal(formatConfigIssue(issue, '/work'), 'exp/a.peft.json:2:3: $.name: m');
    assert.equal(formatConfigIssue(issue, '/elsewhere'), '/work/exp/a.peft.json:2:3: $.name: m');
    assert.equal(formatConfigIssue(issue, '/'), '/work/exp/a.peft.json:2:3: $.name: m');
    assert.equal(formatConfigIssue({ ...issue, jsonPath: undefined }, '/work'), 'exp/a.peft.json:2:3: m');
  });
});
