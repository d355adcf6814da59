// A Hugging Face checkpoint folder's weights: `model.safetensors`, or shards listed by
// `model.safetensors.index.json` ({"metadata": {...}, "weight_map": {tensor: shard file}}).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CheckpointError } from './checkpointError';
import { isRecord, SafetensorsFile } from './safetensors';

export const SAFETENSORS_FILE = 'model.safetensors';
export const SAFETENSORS_INDEX_FILE = 'model.safetensors.index.json';

export interface CheckpointTensorInfo {
  readonly name: string;
  readonly dtype: string;
  readonly shape: readonly number[];
  /** The file that holds the tensor. */
  readonly file: string;
}

/** Structurally the graph builder's LazyTensorData. */
export interface LazyWeight {
  readonly byteLength: number;
  chunks(): Iterable<Uint8Array>;
}

export class Checkpoint {
  private constructor(
    readonly dir: string,
    /** The file errors about missing tensors name: model.safetensors or the index. */
    readonly describedBy: string,
    private readonly files: readonly SafetensorsFile[],
    private readonly fileOf: ReadonlyMap<string, SafetensorsFile>,
  ) {}

  /** Opens `dir`'s safetensors weights (single file or sharded). Refuses PyTorch pickles. */
  static open(dir: string): Checkpoint {
    const single = path.join(dir, SAFETENSORS_FILE);
    const index = path.join(dir, SAFETENSORS_INDEX_FILE);
    if (fs.existsSync(index)) return Checkpoint.openSharded(dir, index);
    if (fs.existsSync(single)) {
      const file = SafetensorsFile.open(single);
      return new Checkpoint(dir, single, [file], new Map([...file.tensors.keys()].map((n) => [n, file])));
    }
    const pickles = ['pytorch_model.bin', 'pytorch_model.bin.index.json'].filter((f) => fs.existsSync(path.join(dir, f)));
    if (pickles.length > 0) {
      throw new CheckpointError(path.join(dir, pickles[0]), undefined,
        'PyTorch pickle checkpoints are not loaded (unsafe to unpickle, and no Python here). Convert the model to ' +
        'safetensors first, e.g. in Python: `AutoModelForCausalLM.from_pretrained(dir).save_pretrained(dir, ' +
        'safe_serialization=True)`, or use the Hugging Face "convert to safetensors" Space');
    }
    throw new CheckpointError(dir, undefined, `no ${SAFETENSORS_FILE} or ${SAFETENSORS_INDEX_FILE} in this folder`);
  }

  private static openSharded(dir: string, indexPath: string): Checkpoint {
    let index: unknown;
    try {
      index = JSON.parse(fs.readFileSync(indexPath, 'utf8'));
    } catch (e) {
      throw new CheckpointError(indexPath, undefined, `cannot read index JSON: ${e instanceof Error ? e.message : String(e)}`);
    }
    if (!isRecord(index) || !isRecord(index.weight_map)) {
      throw new CheckpointError(indexPath, undefined, 'index has no "weight_map" object');
    }
    const shards = new Map<string, SafetensorsFile>();
    const fileOf = new Map<string, SafetensorsFile>();
    try {
      for (const [tensor, shard] of Object.entries(index.weight_map)) {
        if (typeof shard !== 'string' || shard.includes('/') || shard.includes('\\') || shard.startsWith('.')) {
          throw new CheckpointError(indexPath, tensor, `weight_map value ${JSON.stringify(shard)} is not a shard file name`);
        }
        let file = shards.get(shard);
        if (file === undefined) {
          file = SafetensorsFile.open(path.join(dir, shard));
          shards.set(shard, file);
        }
        if (!file.has(tensor)) {
          throw new CheckpointError(file.path, tensor, `listed for this shard in ${SAFETENSORS_INDEX_FILE} but not in the shard`);
        }
        fileOf.set(tensor, file);
      }
    } catch (e) {
      for (const f of shards.values()) f.close();
      throw e;
    }
    return new Checkpoint(dir, indexPath, [...shards.values()], fileOf);
  }

  names(): string[] {
    return [...this.fileOf.keys()];
  }

  has(name: string): boolean {
    return this.fileOf.has(name);
  }

  info(name: string): CheckpointTensorInfo {
    const file = this.fileFor(name);
    const t = file.info(name);
    return { name, dtype: t.dtype, shape: t.shape, file: file.path };
  }

  /** Reads a tensor as float32; with `expectedShape`, a different stored shape is an error naming file and tensor. */
  readFloat32(name: string, expectedShape?: readonly number[]): Float32Array {
    this.checkShape(name, expectedShape);
    return this.fileFor(name).readFloat32(name);
  }

  readFloat64(name: string, expectedShape?: readonly number[]): Float64Array {
    this.checkShape(name, expectedShape);
    return this.fileFor(name).readFloat64(name);
  }

  /**
   * A weight as lazily produced bytes of `target` (graph initializer data): read from the file when the graph is
   * serialised, chunk by chunk. The checkpoint must stay open until then.
   */
  lazy(name: string, target: 'float32' | 'float64', expectedShape?: readonly number[]): LazyWeight {
    this.checkShape(name, expectedShape);
    const file = this.fileFor(name);
    const t = file.info(name);
    const numel = t.shape.reduce((a, d) => a * d, 1);
    return { byteLength: numel * (target === 'float32' ? 4 : 8), chunks: () => file.chunks(name, target) };
  }

  /** Distinct stored dtypes with their element counts. */
  dtypeSummary(): Map<string, number> {
    const out = new Map<string, number>();
    for (const name of this.fileOf.keys()) {
      const t = this.info(name);
      out.set(t.dtype, (out.get(t.dtype) ?? 0) + t.shape.reduce((a, d) => a * d, 1));
    }
    return out;
  }

  close(): void {
    for (const f of this.files) f.close();
  }

  private fileFor(name: string): SafetensorsFile {
    const file = this.fileOf.get(name);
    if (file === undefined) throw new CheckpointError(this.describedBy, name, 'tensor is missing from the checkpoint');
    return file;
  }

  private checkShape(name: string, expected: readonly number[] | undefined): void {
    if (expected === undefined) return;
    const t = this.info(name);
    if (t.shape.length !== expected.length || t.shape.some((d, i) => d !== expected[i])) {
      throw new CheckpointError(t.file, name, `stored shape [${t.shape.join(', ')}] but config.json implies [${expected.join(', ')}]`);
    }
  }
}
