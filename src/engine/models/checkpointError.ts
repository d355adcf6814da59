/** A checkpoint file that cannot be used as it is; says which file and, where one is involved, which tensor. */
export class CheckpointError extends Error {
  constructor(
    readonly file: string,
    readonly tensor: string | undefined,
    detail: string,
  ) {
    super(`${file}${tensor === undefined ? '' : `: tensor '${tensor}'`}: ${detail}`);
    this.name = 'CheckpointError';
  }
}
