// The lab's generated world, its corpus, its tasks and its tokenizer: deterministic from the seed, the answer
// keys agree with the world, the probe phrasing and the task formats never occur in the pretraining corpus
// (so the probe measures stored knowledge and the tasks need tuning), and the tokenizer the standard library
// loads gives one token per word and round-trips.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PROBE_TEMPLATES, pretrainingDocuments, probePrompt } from '../../../src/engine/lab/biographies';
import { buildTask, CHOICE_COUNT, LAB_TASK_NAMES, LAB_TASKS, splitPeople, writeLabTasks } from '../../../src/engine/lab/labTasks';
import { labWords, writeLabTokenizer } from '../../../src/engine/lab/labTokenizer';
import { ATTRIBUTES, attributeValue, attributeValues, generateWorld } from '../../../src/engine/lab/world';
import { answerChoices, llmAdaptersText } from '../../../src/engine/data/template';
import { ModelTokenizer } from '../../../src/engine/models/tokenizer';

describe('lab: generated world, corpus, tasks and tokenizer', () => {
  const world = generateWorld(3, { people: 120 });

  it('the world is a function of its seed, with unique names, valid friends and values from the vocabularies', () => {
    assert.deepEqual(generateWorld(3, { people: 120 }), world);
    assert.notDeepEqual(generateWorld(4, { people: 120 }).people, world.people);
    assert.equal(new Set(world.people.map((p) => p.name)).size, world.people.length);
    for (const p of world.people) {
      assert.ok(p.friend !== p.id && p.friend >= 0 && p.friend < world.people.length, `person ${p.id} friend ${p.friend}`);
      for (const a of ATTRIBUTES) assert.ok(attributeValues(world, a).includes(attributeValue(p, a)), `${p.name} ${a}`);
    }
    assert.throws(() => generateWorld(1, { people: 1 }), /people must be an integer/);
  });

  it('each pass of the corpus states every fact of every person once, and is deterministic', () => {
    const docs = pretrainingDocuments(world, 5, 0);
    assert.deepEqual(pretrainingDocuments(world, 5, 0), docs);
    assert.notDeepEqual(pretrainingDocuments(world, 5, 1), docs);
    assert.equal(docs.length, world.people.length);
    for (const p of world.people) {
      const doc = docs.find((d) => d.startsWith(p.name) || d.includes(`${p.name}'s`));
      assert.ok(doc !== undefined, `no biography of ${p.name}`);
      for (const a of ATTRIBUTES) assert.ok(doc.includes(attributeValue(p, a)), `${p.name}: ${a} missing in "${doc}"`);
      assert.ok(doc.includes(world.people[p.friend]?.name ?? '?'), `${p.name}: friend missing`);
    }
  });

  it('the probe phrasings and the task formats never occur in the corpus', () => {
    const corpus = [0, 1, 2, 3].flatMap((e) => pretrainingDocuments(world, 5, e)).join('\n').toLowerCase();
    for (const t of Object.values(PROBE_TEMPLATES)) {
      const phrase = t.replace('{S} ', '').toLowerCase();
      assert.ok(!corpus.includes(phrase), `probe phrase "${phrase}" occurs in the corpus`);
    }
    for (const marker of ['answer1', 'true', 'false', 'question', 'choose']) assert.ok(!labWords(corpus).includes(marker), `"${marker}" occurs in the corpus`);
    const p = world.people[0];
    assert.ok(p !== undefined);
    assert.equal(probePrompt(p, 'employer'), `${p.name} draws a salary from`);
  });

  it('task answer keys agree with the world; train and test ask about disjoint people', () => {
    const split = splitPeople(world, 3);
    assert.equal(split.train.length + split.test.length, world.people.length);
    assert.equal(split.train.filter((id) => split.test.includes(id)).length, 0);
    for (const name of LAB_TASK_NAMES) {
      const task = LAB_TASKS[name];
      assert.ok(task !== undefined);
      const records = buildTask(world, name, split.test, 3);
      assert.deepEqual(buildTask(world, name, split.test, 3), records);
      assert.equal(records.length, split.test.length);
      let trues = 0;
      records.forEach((r, i) => {
        const person = world.people[split.test[i] ?? -1];
        assert.ok(person !== undefined);
        const truth = attributeValue(person, task.attribute);
        assert.ok(r.instruction.includes(person.name));
        if (task.kind === 'choice') {
          const options = [...r.instruction.matchAll(/Answer(\d): (\w+)/g)].map((m) => m[2]);
          assert.equal(options.length, CHOICE_COUNT);
          assert.equal(new Set(options).size, CHOICE_COUNT, 'options repeat');
          if (task.labels === 'numbered') {
            assert.equal(options[Number(r.answer.replace('answer', '')) - 1], truth, `${name}: key ${r.answer} is not ${truth}`);
          } else {
            assert.equal(r.answer, truth.toLowerCase(), `${name}: key ${r.answer} is not ${truth}`);
            assert.ok(options.map((o) => o?.toLowerCase()).includes(r.answer));
          }
          assert.equal(answerChoices(r.instruction)?.length, CHOICE_COUNT, 'the evaluation reads four choices');
        } else {
          const asked = /work for (\w+)\?/.exec(r.instruction)?.[1];
          assert.equal(r.answer, asked === truth ? 'true' : 'false');
          if (r.answer === 'true') trues++;
        }
        assert.ok(r.output.includes(r.answer));
        assert.ok(answerChoices(r.instruction)?.includes(r.answer), 'the answer is one of the choices the evaluation scores');
      });
      if (task.kind === 'check') assert.ok(Math.abs(trues - records.length / 2) <= 1, `unbalanced: ${trues} of ${records.length}`);
    }
  });

  it('the tokenizer loads from tokenizer.json, gives one token per word, no <unk> on corpus and tasks, and round-trips', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'peft-lab-tok-'));
    try {
      const vocab = writeLabTokenizer(dir, world);
      const tokenizer = ModelTokenizer.load(dir);
      assert.equal(tokenizer.vocabSize, vocab);
      const unk = tokenizer.tokenToId('<unk>');
      const bos = tokenizer.tokenToId('<s>');
      const doc = pretrainingDocuments(world, 5, 0)[0] ?? '';
      const ids = tokenizer.encode(doc);
      assert.equal(ids[0], bos);
      assert.equal(ids.length, labWords(doc).length + 1);
      assert.ok(!ids.includes(unk ?? -1));
      assert.deepEqual(tokenizer.encode(tokenizer.decode(ids, { skipSpecialTokens: true })), ids, 'decode then encode changes the tokens');
      const files = writeLabTasks(path.join(dir, 'tasks'), world, 3);
      assert.equal(files.length, 2 * LAB_TASK_NAMES.length);
      for (const f of files) {
        const records = JSON.parse(fs.readFileSync(f, 'utf8')) as { instruction: string; input: string; output: string }[];
        for (const r of records.slice(0, 20)) assert.ok(!tokenizer.encode(llmAdaptersText(r.instruction, r.input, r.output)).includes(unk ?? -1), f);
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
