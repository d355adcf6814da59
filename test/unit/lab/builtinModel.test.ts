// The committed lab model (media/builtin/demo, `builtin:demo`): it loads through the normal model path, it was
// trained on exactly the world the generator makes today (sha256 in pretraining.json), its tokenizer covers the
// tasks, and it knows its world: the held-out-phrasing probe (a sentence form the pretraining corpus never used)
// picks the right attribute value far above chance for people of the test split.
import { strict as assert } from 'node:assert';
import { readBuiltinRecord, worldSha256 } from '../../../src/engine/lab/labModel';
import { probeAccuracy } from '../../../src/engine/lab/probe';
import { buildTask, LAB_TASK_NAMES, splitPeople } from '../../../src/engine/lab/labTasks';
import { generateWorld } from '../../../src/engine/lab/world';
import { llmAdaptersText } from '../../../src/engine/data/template';
import { builtinModelDir } from '../../../src/engine/models/builtinModels';
import { loadModel } from '../../../src/engine/models/model';
import { ModelTokenizer } from '../../../src/engine/models/tokenizer';
import { FullModelRunner } from '../../../src/engine/train/fullModelRunner';

describe('lab: the built-in model builtin:demo', () => {
  const dir = builtinModelDir('builtin:demo');
  const record = readBuiltinRecord(dir);
  const world = generateWorld(record.settings.worldSeed, { people: record.settings.people });

  it('is a LLaMA-architecture model of at least 8 layers, loaded by name, trained on the world the generator makes', () => {
    const model = loadModel('builtin:demo');
    try {
      assert.equal(model.config.family, 'llama');
      assert.ok(model.config.numLayers >= 8);
      assert.equal(model.weights.parameterCount(), record.parameters);
    } finally {
      model.close();
    }
    assert.equal(worldSha256(world), record.worldSha256, 'the generator no longer makes the world the committed model was pretrained on');
    assert.ok(record.curve.length > 10 && (record.curve.at(-1)?.loss ?? Infinity) < 0.5 * (record.curve[0]?.loss ?? 0));
  });

  it('its tokenizer encodes every task record without <unk>', () => {
    const tokenizer = ModelTokenizer.load(dir);
    const unk = tokenizer.tokenToId('<unk>');
    const split = splitPeople(world, record.settings.worldSeed);
    for (const task of LAB_TASK_NAMES) {
      for (const r of buildTask(world, task, split.test.slice(0, 20), record.settings.worldSeed)) {
        const ids = tokenizer.encode(llmAdaptersText(r.instruction, r.input, r.output));
        assert.ok(!ids.includes(unk ?? -1), `${task}: <unk> in ${r.instruction}`);
      }
    }
  });

  it('recalls attributes of held-out-split people in an unseen phrasing far above chance', async function () {
    this.timeout(120_000);
    const model = loadModel(dir);
    const runner = new FullModelRunner(model, { device: 'cpu', threads: 0 });
    try {
      const tokenizer = ModelTokenizer.load(dir, model.config.vocabSize);
      const people = splitPeople(world, record.settings.worldSeed).test.slice(0, 100);
      const results = await probeAccuracy(runner, tokenizer, world, people);
      for (const r of results) assert.ok(r.accuracy >= 4 * r.chance, `${r.attribute}: ${r.accuracy} (chance ${r.chance})`);
    } finally {
      await runner.dispose();
      model.close();
    }
  });
});
