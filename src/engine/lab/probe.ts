// Knowledge probes of a lab model: for each person and attribute, the prompt of the held-out phrasing
// (biographies.ts PROBE_TEMPLATES, never in the pretraining corpus) followed by each possible value, scored by
// log-likelihood of the value's tokens (lm-eval-harness `loglikelihood`); the prediction is the argmax.
// Chance is 1 / (number of values of the attribute).
import type { ProbeResult } from '../../protocol/labFiles';
import { IGNORE_INDEX, type TokenExample } from '../data/examples';
import { sequenceLogprobs } from '../eval';
import type { ModelTokenizer } from '../models/tokenizer';
import type { PeftRunner } from '../train/runner';
import { probePrompt } from './biographies';
import { ATTRIBUTES, attributeValue, attributeValues, type World } from './world';

/** Probe accuracy per attribute over the people with the given ids. */
export async function probeAccuracy(
  runner: PeftRunner, tokenizer: ModelTokenizer, world: World, peopleIds: readonly number[], options: { batchSize?: number } = {},
): Promise<ProbeResult[]> {
  const results: ProbeResult[] = [];
  const padId = tokenizer.padTokenId ?? 0;
  for (const attribute of ATTRIBUTES) {
    const values = attributeValues(world, attribute);
    const examples: TokenExample[] = [];
    const truth: number[] = [];
    for (const id of peopleIds) {
      const person = world.people[id];
      if (person === undefined) throw new RangeError(`probe: no person ${id}`);
      const prompt = probePrompt(person, attribute);
      const promptLength = tokenizer.encode(prompt).length;
      for (const value of values) {
        const ids = tokenizer.encode(`${prompt} ${value}`);
        examples.push({ ids, labels: ids.map((t, i) => (i < promptLength ? IGNORE_INDEX : t)) });
      }
      truth.push(values.indexOf(attributeValue(person, attribute)));
    }
    let seq = 0;
    for (const e of examples) seq = Math.max(seq, e.ids.length);
    const scores = await sequenceLogprobs(runner, examples, seq, padId, options.batchSize ?? 256);
    let correct = 0;
    truth.forEach((answer, k) => {
      let best = 0;
      for (let v = 1; v < values.length; v++) {
        if ((scores[k * values.length + v]?.sum ?? -Infinity) > (scores[k * values.length + best]?.sum ?? -Infinity)) best = v;
      }
      if (best === answer) correct += 1;
    });
    results.push({ attribute, accuracy: truth.length > 0 ? correct / truth.length : Number.NaN, chance: 1 / values.length, count: truth.length });
  }
  return results;
}
