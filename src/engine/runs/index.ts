// Run folders on disk: atomic writes, creation and locking, readers, the writer the worker streams into.
export * from './atomic';
export * from './runId';
export * from './layout';
export * from './writer';
export * from './reader';
export * from './errors';
export * from './folder';
export * from './lock';
export type { RunSummary, MetricRecord, RunStatus, DeviceInfo, RunError } from '../../protocol/runFiles';
