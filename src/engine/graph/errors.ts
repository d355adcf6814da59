/** Raised when an op gets inputs of incompatible shape or type; the message names the op, tensors and shapes. */
export class GraphBuildError extends Error {
  override name = 'GraphBuildError';
}
