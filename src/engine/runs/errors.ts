// Errors about a run folder (own module: atomic.ts and folder.ts both need them without importing each other).

/** A run folder that must not be used as asked; the message names the path. */
export class RunFolderError extends Error {
  override name = 'RunFolderError';
}

export function symlinkError(file: string): RunFolderError {
  return new RunFolderError(`${file} is a symbolic link: a run folder must hold only plain files and folders (PEFT Lab would write or delete through the link); remove the link`);
}
