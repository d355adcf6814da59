// The lab's pretraining corpus: one biography per person per pass, stating every attribute and the best friend
// in sentence templates picked at random, in random order, with the full name or a pronoun as subject (the first
// sentence always names the person). Re-phrasing every pass is what lets a small model store the facts in a form
// other phrasings can retrieve (Allen-Zhu & Li, "Physics of Language Models 3.1", 2023: knowledge augmentation).
// In every template the subject comes before the value, so next-token prediction learns name -> value.
// PROBE_TEMPLATES are one more phrasing per attribute that biographies never use: the knowledge probe (probe.ts).
import { derivedRng } from '../data/batches';
import type { Rng } from '../util/random';
import { ATTRIBUTES, attributeValue, type Attribute, type Person, type World } from './world';

/** Slots: {S} subject (name or pronoun), {P} possessive (name's / her / his), {p} possessive pronoun, {V} value. */
export const SENTENCE_TEMPLATES: Readonly<Record<Attribute | 'friend', readonly string[]>> = {
  birthCity: [
    '{S} was born in {V}.', '{S} was born in the city of {V}.', '{S} comes from {V}.', '{S} is a native of {V}.',
    '{S} grew up in {V}, where {s} was born.', '{P} birthplace is {V}.', '{P} place of birth is {V}.', '{S} spent {p} childhood in {V}.',
  ],
  employer: [
    '{S} works for {V}.', '{S} is employed by {V}.', '{S} has a job at {V}.', '{P} employer is {V}.',
    '{S} earns a living at {V}.', '{S} joined {V} as a staff member.', '{S} works at the company {V}.',
  ],
  field: [
    '{S} studied {V}.', '{P} field of study is {V}.', '{S} holds a degree in {V}.', '{S} majored in {V}.',
    '{S} did research in {V}.', '{P} academic training is in {V}.', '{S} went to university to study {V}.',
  ],
  birthYear: [
    '{S} was born in {V}.', '{S} was born in the year {V}.', '{P} birth year is {V}.', '{P} year of birth is {V}.',
    '{S} was born back in {V}.', '{S} first saw daylight in {V}.',
  ],
  friend: [
    '{P} best friend is {V}.', '{S} is best friends with {V}.', '{S} spends weekends with {p} friend {V}.', '{P} closest friend is {V}.',
  ],
};

/** One phrasing per attribute never used in the corpus: the prompt is the prefix, the value follows. */
export const PROBE_TEMPLATES: Readonly<Record<Attribute, string>> = {
  birthCity: '{S} came into the world in',
  employer: '{S} draws a salary from',
  field: '{S} trained as an expert in',
  birthYear: '{S} arrived on earth in',
};

const pronoun = (p: Person): string => (p.gender === 'female' ? 'she' : 'he');
const possessivePronoun = (p: Person): string => (p.gender === 'female' ? 'her' : 'his');
const capitalise = (s: string): string => s.charAt(0).toUpperCase() + s.slice(1);

/** Fills a template; `byName` chooses the full name (else the pronoun) as subject. */
export function fillTemplate(template: string, person: Person, value: string, byName: boolean): string {
  const subject = byName ? person.name : pronoun(person);
  const possessive = byName ? `${person.name}'s` : possessivePronoun(person);
  const text = template
    .replaceAll('{S}', subject).replaceAll('{P}', possessive).replaceAll('{s}', pronoun(person))
    .replaceAll('{p}', possessivePronoun(person)).replaceAll('{V}', value);
  return capitalise(text);
}

function pick<T>(items: readonly T[], rng: Rng): T {
  const item = items[rng.uniformInt(items.length)];
  if (item === undefined) throw new Error('pick: empty list');
  return item;
}

/** One biography of `person` in a phrasing drawn from `rng`. */
export function biography(world: World, person: Person, rng: Rng): string {
  const friend = world.people[person.friend];
  if (friend === undefined) throw new RangeError(`biography: person ${person.id} has no friend ${person.friend}`);
  const facts: { key: Attribute | 'friend'; value: string }[] = [
    ...ATTRIBUTES.map((a) => ({ key: a, value: attributeValue(person, a) })),
    { key: 'friend', value: friend.name },
  ];
  rng.shuffle(facts);
  return facts.map((f, i) => fillTemplate(pick(SENTENCE_TEMPLATES[f.key], rng), person, f.value, i === 0 || rng.uniform() < 0.5)).join(' ');
}

/** The knowledge probe's prompt for one attribute: the held-out phrasing up to the value. */
export function probePrompt(person: Person, attribute: Attribute): string {
  return fillTemplate(PROBE_TEMPLATES[attribute], person, '', true);
}

/** Tag of the corpus's generator in derivedRng (data/batches.ts uses 1-3). */
const CORPUS_TAG = 101;

/** Pass `epoch` of the corpus: a fresh biography of every person, in a shuffled order. */
export function pretrainingDocuments(world: World, seed: number, epoch: number): string[] {
  const rng = derivedRng(seed, CORPUS_TAG, epoch);
  const order = rng.shuffle(world.people.map((p) => p.id));
  return order.map((id) => {
    const person = world.people[id];
    if (person === undefined) throw new RangeError(`no person ${id}`);
    return biography(world, person, rng);
  });
}
