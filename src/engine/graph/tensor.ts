// Symbolic tensor: a named value in a graph under construction, with a static element type and shape.
import type { DType } from './dtype';
import { sizeOf, type Shape } from './shape';

export class Tensor {
  constructor(
    /** The ONNX value name (unique in its graph). */
    readonly name: string,
    readonly dtype: DType,
    readonly shape: Shape,
    /** Builder-local id; tensors of another builder are rejected. */
    readonly id: number,
    readonly owner: object,
  ) {}

  get rank(): number {
    return this.shape.length;
  }

  get size(): number {
    return sizeOf(this.shape);
  }

  toString(): string {
    return `${this.name}: ${this.dtype}[${this.shape.join(',')}]`;
  }
}
