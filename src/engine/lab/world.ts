// The built-in lab's world: people with a gender, a birth city, an employer, a field of study, a birth year and a
// best friend, drawn uniformly from fixed vocabularies by the project's seeded generator (util/random.ts), so
// the same seed always gives the same world. Every name and value is one word (\w+), one token of the lab
// tokenizer (labTokenizer.ts).
import { Rng } from '../util/random';

export interface Person {
  readonly id: number;
  readonly first: string;
  readonly last: string;
  /** "first last" */
  readonly name: string;
  readonly gender: 'female' | 'male';
  readonly birthCity: string;
  readonly employer: string;
  readonly field: string;
  readonly birthYear: number;
  /** Id of another person. */
  readonly friend: number;
}

export interface World {
  readonly seed: number;
  readonly people: readonly Person[];
  readonly cities: readonly string[];
  readonly employers: readonly string[];
  readonly fields: readonly string[];
  readonly years: readonly number[];
}

/** The attributes the tasks and probes ask about. */
export const ATTRIBUTES = ['birthCity', 'employer', 'field', 'birthYear'] as const;
export type Attribute = (typeof ATTRIBUTES)[number];

export const CITIES = [
  'Paris', 'Rome', 'Oslo', 'Lima', 'Cairo', 'Tokyo', 'Dublin', 'Vienna', 'Madrid', 'Lisbon', 'Prague', 'Athens',
  'Berlin', 'Warsaw', 'Sydney', 'Toronto', 'Boston', 'Chicago', 'Denver', 'Seattle', 'Nairobi', 'Mumbai', 'Seoul', 'Bangkok',
] as const;

export const EMPLOYERS = [
  'Acmetron', 'Brightway', 'Corvexa', 'Dunmore', 'Elvanta', 'Fernhold', 'Glimmer', 'Halcyon', 'Irongate', 'Jadeport',
  'Kestrel', 'Lumora', 'Mirabel', 'Northwind', 'Orbisoft', 'Pinecrest', 'Quillon', 'Redfern', 'Silvane', 'Tidewell',
  'Umbrix', 'Veltrax', 'Wexford', 'Zentara',
] as const;

export const FIELDS = [
  'physics', 'chemistry', 'biology', 'history', 'law', 'medicine', 'economics', 'music',
  'geology', 'linguistics', 'philosophy', 'astronomy', 'architecture', 'mathematics', 'sociology', 'botany',
] as const;

export const FIRST_YEAR = 1950;
export const YEAR_COUNT = 40;

export const FEMALE_NAMES = [
  'Alice', 'Beatrice', 'Clara', 'Daphne', 'Elena', 'Fiona', 'Greta', 'Helen', 'Irene', 'Julia', 'Karen', 'Laura',
  'Maria', 'Nadia', 'Olivia', 'Paula', 'Rosa', 'Sofia', 'Tessa', 'Ursula', 'Vera', 'Wendy', 'Yvonne', 'Zoe',
  'Agnes', 'Bianca', 'Celia', 'Doris', 'Edith', 'Flora', 'Gemma', 'Hazel', 'Ingrid', 'Joanna', 'Kira', 'Lena',
  'Mona', 'Nora', 'Opal', 'Petra', 'Ruth', 'Selma', 'Thea', 'Uma', 'Viola', 'Wilma', 'Xenia', 'Yara',
  'Amber', 'Brenda', 'Carmen', 'Diana', 'Erica', 'Freya', 'Gloria', 'Hilda', 'Isla', 'Jasmine', 'Lucia', 'Miriam',
] as const;

export const MALE_NAMES = [
  'Adam', 'Bruno', 'Carl', 'David', 'Edgar', 'Felix', 'George', 'Henry', 'Ivan', 'Jonas', 'Kevin', 'Louis',
  'Martin', 'Nathan', 'Oscar', 'Peter', 'Quentin', 'Robert', 'Simon', 'Thomas', 'Victor', 'Walter', 'Xavier', 'Yusuf',
  'Albert', 'Boris', 'Cedric', 'Dennis', 'Emil', 'Frank', 'Gordon', 'Hugo', 'Igor', 'Jasper', 'Karl', 'Leon',
  'Marcus', 'Nigel', 'Otto', 'Pablo', 'Rafael', 'Stefan', 'Tobias', 'Ulrich', 'Vincent', 'Wesley', 'Yannick', 'Zane',
  'Anton', 'Bernard', 'Caspar', 'Dmitri', 'Elliot', 'Fabian', 'Gustav', 'Harold', 'Isaac', 'Julian', 'Lukas', 'Miguel',
] as const;

export const LAST_NAMES = [
  'Abbott', 'Barker', 'Carter', 'Dalton', 'Ellison', 'Fischer', 'Garner', 'Hayes', 'Ingram', 'Jensen', 'Keller', 'Lopez',
  'Morgan', 'Nolan', 'Ortega', 'Porter', 'Quinn', 'Reyes', 'Sandoval', 'Turner', 'Upton', 'Vaughn', 'Walsh', 'Young',
  'Archer', 'Bishop', 'Coleman', 'Doyle', 'Everett', 'Fleming', 'Gibson', 'Holland', 'Irving', 'Jordan', 'Kemp', 'Lambert',
  'Mercer', 'Newman', 'Osborne', 'Parker', 'Rhodes', 'Sutton', 'Thorne', 'Underwood', 'Vance', 'Whitaker', 'Yates', 'Zimmer',
  'Ashford', 'Brennan', 'Crowley', 'Draper', 'Emerson', 'Foster', 'Griffin', 'Harlow', 'Jennings', 'Kirby', 'Lowell', 'Monroe',
  'Nash', 'Oakley', 'Pryce', 'Radcliffe', 'Sinclair', 'Tate', 'Voss', 'Webb', 'Winslow', 'Wolfe', 'Blake', 'Conrad',
  'Dorsey', 'Fairbanks', 'Hargrove', 'Kingsley', 'Lockwood', 'Pemberton', 'Rutherford', 'Stanton',
] as const;

export const DEFAULT_PEOPLE = 800;

export function generateWorld(seed: number, options: { people?: number } = {}): World {
  const count = options.people ?? DEFAULT_PEOPLE;
  const maxNames = (FEMALE_NAMES.length + MALE_NAMES.length) * LAST_NAMES.length;
  if (!Number.isSafeInteger(count) || count < 2 || count > maxNames) throw new RangeError(`generateWorld: people must be an integer in 2..${maxNames}, got ${count}`);
  const rng = new Rng(seed);
  const years = Array.from({ length: YEAR_COUNT }, (_, i) => FIRST_YEAR + i);
  const used = new Set<string>();
  const drafts: Omit<Person, 'friend'>[] = [];
  while (drafts.length < count) {
    const gender = rng.uniform() < 0.5 ? 'female' : 'male';
    const firsts = gender === 'female' ? FEMALE_NAMES : MALE_NAMES;
    const first = firsts[rng.uniformInt(firsts.length)] ?? '';
    const last = LAST_NAMES[rng.uniformInt(LAST_NAMES.length)] ?? '';
    const name = `${first} ${last}`;
    if (used.has(name)) continue;
    used.add(name);
    drafts.push({
      id: drafts.length, first, last, name, gender,
      birthCity: CITIES[rng.uniformInt(CITIES.length)] ?? '',
      employer: EMPLOYERS[rng.uniformInt(EMPLOYERS.length)] ?? '',
      field: FIELDS[rng.uniformInt(FIELDS.length)] ?? '',
      birthYear: years[rng.uniformInt(years.length)] ?? FIRST_YEAR,
    });
  }
  const people = drafts.map((p): Person => {
    // Uniform over the others: draw from count - 1 ids and skip over the person's own.
    const k = rng.uniformInt(count - 1);
    return { ...p, friend: k >= p.id ? k + 1 : k };
  });
  return { seed, people, cities: [...CITIES], employers: [...EMPLOYERS], fields: [...FIELDS], years };
}

/** The value of an attribute as it is written in text. */
export function attributeValue(person: Person, attribute: Attribute): string {
  switch (attribute) {
    case 'birthCity': return person.birthCity;
    case 'employer': return person.employer;
    case 'field': return person.field;
    case 'birthYear': return String(person.birthYear);
  }
}

/** Every possible value of an attribute, as written in text. */
export function attributeValues(world: World, attribute: Attribute): string[] {
  switch (attribute) {
    case 'birthCity': return [...world.cities];
    case 'employer': return [...world.employers];
    case 'field': return [...world.fields];
    case 'birthYear': return world.years.map(String);
  }
}
