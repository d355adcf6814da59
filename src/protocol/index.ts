export * from './runFiles';
export * from './worker';
export * from './panels';
export * from './diagnostics';
export * from './labFiles';
export * from './resumeFiles';
