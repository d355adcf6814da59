import * as path from 'node:path';

/** The shared fixtures beside the repository (never copied in). */
export const FIXTURES_ROOT = path.resolve(__dirname, '../../../../shared/fixtures');
export const GPT2_DIR = path.join(FIXTURES_ROOT, 'models/tiny-random-gpt2');
export const LLAMA_DIR = path.join(FIXTURES_ROOT, 'models/tiny-random-llama');
export const COMMONSENSE_DIR = path.join(FIXTURES_ROOT, 'commonsense');
