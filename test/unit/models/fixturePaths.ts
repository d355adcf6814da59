import * as path from 'node:path';

/** The shared fixtures live beside the repository (see /work/shared/fixtures/README.md); never copied in. */
const ROOT = path.resolve(__dirname, '../../../../shared/fixtures/models');

export const FIXTURES = {
  gpt2: path.join(ROOT, 'tiny-random-gpt2'),
  llama: path.join(ROOT, 'tiny-random-llama'),
} as const;
