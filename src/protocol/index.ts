// The contract room: every message and run-folder record shape (zod, types by z.infer) and every run-folder name.
export * from './runFiles';
export * from './worker';
export * from './panels';
export * from './diagnostics';
export * from './labFiles';
export * from './resumeFiles';
