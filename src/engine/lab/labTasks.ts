// The lab's downstream tasks, in the LLM-Adapters JSON format ({instruction, input, output, answer}, the
// instruction's last line "Answer format: a/b/..."), about the world's people. Train and test ask about disjoint
// halves of the people, so test accuracy measures whether tuning taught the model to *use* what pretraining
// stored, not to memorise answers. The question forms and the response "the correct answer is ..." never occur in
// the pretraining corpus. Two answer formats: `*-choice` answers with the value itself (so scoring the choices
// asks the model's stored facts once it has learnt the format), `*-numbered` and `*-check` with labels the corpus
// never shows (answer1..answer4, true/false), which the model can only learn to use from the tuning data.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { derivedRng } from '../data/batches';
import type { InstructionRecord } from '../data/examples';
import { answerResponse } from '../data/template';
import { writeFileAtomic } from '../runs/atomic';
import type { Rng } from '../util/random';
import { attributeValue, attributeValues, type Attribute, type Person, type World } from './world';

interface ChoiceTask {
  readonly kind: 'choice';
  readonly attribute: Attribute;
  /** `values`: the answer is the value (lowercase); `numbered`: the answer is the label answer1..answer4. */
  readonly labels: 'values' | 'numbered';
  readonly question: (p: Person) => string;
}
interface CheckTask {
  readonly kind: 'check';
  readonly attribute: Attribute;
  readonly question: (p: Person, value: string) => string;
}

export const LAB_TASKS: Readonly<Record<string, ChoiceTask | CheckTask>> = {
  'city-choice': { kind: 'choice', labels: 'values', attribute: 'birthCity', question: (p) => `Where was ${p.name} born?` },
  'employer-check': { kind: 'check', attribute: 'employer', question: (p, v) => `does ${p.name} work for ${v}?` },
  'field-choice': { kind: 'choice', labels: 'values', attribute: 'field', question: (p) => `What did ${p.name} study?` },
  'year-choice': { kind: 'choice', labels: 'values', attribute: 'birthYear', question: (p) => `In which year was ${p.name} born?` },
  // Appended (not inserted): a task's records are seeded by its index here, so earlier tasks keep their draws.
  'city-numbered': { kind: 'choice', labels: 'numbered', attribute: 'birthCity', question: (p) => `Where was ${p.name} born?` },
};
export const LAB_TASK_NAMES = Object.keys(LAB_TASKS);

export const CHOICE_COUNT = 4;
const TASK_TAG = 201;
const SPLIT_TAG = 202;

/** Disjoint halves of the people (ids sorted): tuning asks about `train`, evaluation about `test`. */
export function splitPeople(world: World, seed: number): { train: number[]; test: number[] } {
  const order = derivedRng(seed, SPLIT_TAG).shuffle(world.people.map((p) => p.id));
  const half = Math.floor(order.length / 2);
  return { train: order.slice(0, half).sort((a, b) => a - b), test: order.slice(half).sort((a, b) => a - b) };
}

/** `count` distinct values other than `truth`. */
function distractors(values: readonly string[], truth: string, count: number, rng: Rng): string[] {
  const others = values.filter((v) => v !== truth);
  return rng.sampleUniformWithoutReplacement(others.length, count).map((i) => others[i] ?? '');
}

function choiceRecord(task: ChoiceTask, world: World, person: Person, rng: Rng): InstructionRecord {
  const truth = attributeValue(person, task.attribute);
  const options = distractors(attributeValues(world, task.attribute), truth, CHOICE_COUNT - 1, rng);
  const position = rng.uniformInt(CHOICE_COUNT);
  options.splice(position, 0, truth);
  const labels = task.labels === 'numbered' ? options.map((_, i) => `answer${i + 1}`) : options.map((o) => o.toLowerCase());
  const answer = labels[position] ?? '';
  const instruction = `Please choose the correct answer to the question: ${task.question(person)}\n\n` +
    `${options.map((o, i) => `Answer${i + 1}: ${o}`).join(' ')}\n\nAnswer format: ${labels.join('/')}`;
  return { instruction, input: '', output: answerResponse(answer), answer };
}

function checkRecord(task: CheckTask, world: World, person: Person, rng: Rng, truthful: boolean): InstructionRecord {
  const truth = attributeValue(person, task.attribute);
  const value = truthful ? truth : (distractors(attributeValues(world, task.attribute), truth, 1, rng)[0] ?? '');
  const answer = truthful ? 'true' : 'false';
  const instruction = `Please answer the following question with true or false, question: ${task.question(person, value)}\n\nAnswer format: true/false`;
  return { instruction, input: '', output: answerResponse(answer), answer };
}

/**
 * The records of task `name` about the given people (`perPerson` each, different draws), deterministic from
 * `seed`. True/false tasks alternate true and false over the records, so they are balanced.
 */
export function buildTask(world: World, name: string, peopleIds: readonly number[], seed: number, options: { perPerson?: number } = {}): InstructionRecord[] {
  const task = LAB_TASKS[name];
  if (task === undefined) throw new Error(`unknown lab task '${name}' (known: ${LAB_TASK_NAMES.join(', ')})`);
  const perPerson = options.perPerson ?? 1;
  const taskIndex = LAB_TASK_NAMES.indexOf(name);
  const records: InstructionRecord[] = [];
  for (const id of peopleIds) {
    const person = world.people[id];
    if (person === undefined) throw new RangeError(`buildTask: no person ${id}`);
    for (let k = 0; k < perPerson; k++) {
      const rng = derivedRng(seed, TASK_TAG + taskIndex, id, k);
      records.push(task.kind === 'choice' ? choiceRecord(task, world, person, rng) : checkRecord(task, world, person, rng, records.length % 2 === 0));
    }
  }
  return records;
}

/** Writes `<dir>/<task>/train.json` and `test.json` for every task; returns the files written. */
export function writeLabTasks(dir: string, world: World, seed: number, options: { perPerson?: number } = {}): string[] {
  const split = splitPeople(world, seed);
  const files: string[] = [];
  for (const name of LAB_TASK_NAMES) {
    fs.mkdirSync(path.join(dir, name), { recursive: true });
    for (const [part, people] of [['train', split.train], ['test', split.test]] as const) {
      const file = path.join(dir, name, `${part}.json`);
      const records = buildTask(world, name, people, seed, part === 'train' ? options : {});
      writeFileAtomic(file, `${JSON.stringify(records, null, 1)}\n`);
      files.push(file);
    }
  }
  return files;
}
