// A held-out validation slice taken from the training set, as the IST authors' finetune.py does with
// val_set_size (datasets' train_test_split, shuffled): the examples drawn go to validation only and are never
// trained on. The draw is derived from the run's seed, so a resumed run splits exactly as its first part did.
import { derivedRng, RNG_TAGS } from './batches';

/** Training examples minus `count` drawn for validation; both keep the file's order. */
export function splitValidation<T>(examples: readonly T[], count: number, seed: number): { train: T[]; validation: T[] } {
  if (count <= 0) return { train: [...examples], validation: [] };
  if (count >= examples.length) throw new Error(`valExamples ${count} leaves no training examples (the training set has ${examples.length})`);
  const drawn = new Set(derivedRng(seed, RNG_TAGS.validation).shuffle(Array.from({ length: examples.length }, (_, i) => i)).slice(0, count));
  const train: T[] = [];
  const validation: T[] = [];
  examples.forEach((e, i) => (drawn.has(i) ? validation : train).push(e));
  return { train, validation };
}
