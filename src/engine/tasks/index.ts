export { runDeviceCheck } from './deviceCheck';
export { TaskError, TaskCancelled, type TaskContext } from './context';
export { encodeMatMulModel } from './matmulModel';
export { matmulGflops, dotProductErrorBound, referenceEntry, testMatrix, checkPositions } from './matmulMath';
