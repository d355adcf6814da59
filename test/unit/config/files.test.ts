// A missing model, data or adapter path is a config error naming the config file, line:col and key, exit 2 from
// `peft-lab run` (issue 16 item 10), not a raw ENOENT from inside the job.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { main } from '../../../src/cli/main';
import { checkConfigFiles, ConfigError, loadExperimentConfig } from '../../../src/engine/config';
import { FIXTURES } from '../models/fixturePaths';

describe('config: the files it names', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'peft-files-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  const write = (config: object): string => {
    const file = path.join(dir, 'c.peft.json');
    fs.writeFileSync(file, `${JSON.stringify(config, null, 2)}\n`);
    return file;
  };

  it('names the config file, the position and $.data.train / $.data.eval / $.peft.init for missing paths', () => {
    fs.writeFileSync(path.join(dir, 'train.jsonl'), '{"input_ids":[1,2]}\n');
    const file = write({ name: 'c', task: 'tune', model: FIXTURES.gpt2, data: { train: 'train.jsonl', eval: 'nope.jsonl', format: 'tokens' }, peft: { init: 'no-adapter' } });
    assert.throws(() => checkConfigFiles(file, loadExperimentConfig(file)), (e: unknown) => {
      assert.ok(e instanceof ConfigError);
      assert.deepEqual(e.issues.map((i) => i.jsonPath), ['$.data.eval', '$.peft.init']);
      assert.equal(e.issues[0]?.file, file);
      assert.deepEqual([e.issues[0]?.line, e.issues[0]?.column], [7, 13]);
      assert.match(e.issues[0]?.message ?? '', new RegExp(`no such file: ${path.join(dir, 'nope.jsonl')}`));
      return true;
    });
    const ok = write({ name: 'c', task: 'tune', model: FIXTURES.gpt2, data: { train: 'train.jsonl', format: 'tokens' } });
    checkConfigFiles(ok, loadExperimentConfig(ok));
  });

  it('peft-lab run exits 2 with the file and $.model / $.data.train, before any run folder exists', async () => {
    const file = write({ name: 'c', task: 'tune', model: './no-model', data: { train: 'missing.jsonl' } });
    const err: string[] = [];
    const code = await main(['run', file], { out: () => undefined, err: (l) => err.push(l) });
    assert.equal(code, 2);
    const text = err.join('\n');
    assert.match(text, /invalid config/);
    assert.match(text, /c\.peft\.json:4:12: \$\.model: .*no-model/);
    assert.match(text, /c\.peft\.json:6:14: \$\.data\.train: no such file: .*missing\.jsonl/);
    assert.doesNotMatch(text, /ENOENT/);
    assert.equal(fs.existsSync(path.join(dir, '.peft-lab')), false);
  });
});
