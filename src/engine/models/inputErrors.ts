// Errors that mean "this model folder / these ids cannot be used as given" (as opposed to a runtime failure),
// so callers such as the CLI can report them as input errors.
import { CheckpointError } from './checkpointError';
import { ConfigError } from './config';
import { ModelNotFoundError } from './hubCache';
import { TokenizerError } from './tokenizer';

export function isModelInputError(e: unknown): e is Error {
  return e instanceof CheckpointError || e instanceof ConfigError || e instanceof ModelNotFoundError ||
    e instanceof TokenizerError || e instanceof RangeError;
}
