// Sessions keyed by model identity and input-shape bucket. Graphs have static shapes, so each (batch, sequence)
// bucket needs its own session; inputs are padded up to the bucket (see bucketSize).
import { createSession, type ModelSource, type RuntimeSession, type RuntimeSessionOptions } from './session';

/** Named sizes of one bucket, e.g. { batch: 4, seq: 128 }. */
export type ShapeBucket = Readonly<Record<string, number>>;

/** Builds (or finds on disk) the model for one bucket; called once per cache miss. */
export type BucketModelBuilder = (bucket: ShapeBucket) => ModelSource | Promise<ModelSource>;

export interface SessionCacheStats {
  hits: number;
  misses: number;
  size: number;
}

export interface SessionCacheOptions {
  session?: RuntimeSessionOptions;
  /** Most sessions kept; the least recently used one is disposed beyond it (default: unlimited). */
  maxEntries?: number;
}

/** Smallest allowed size >= n (sizes in any order); throws when n exceeds them all. */
export function bucketSize(n: number, sizes: readonly number[], what = 'size'): number {
  let best: number | undefined;
  for (const s of sizes) if (s >= n && (best === undefined || s < best)) best = s;
  if (best === undefined) throw new RangeError(`${what} ${n} exceeds the largest bucket (${Math.max(...sizes)})`);
  return best;
}

/** Canonical key: model id plus the bucket's entries sorted by name. */
export function sessionCacheKey(modelId: string, bucket: ShapeBucket): string {
  for (const [k, v] of Object.entries(bucket)) {
    if (!Number.isSafeInteger(v) || v <= 0) throw new RangeError(`shape bucket of ${modelId}: ${k} = ${v}, expected a positive integer`);
  }
  const parts = Object.keys(bucket).sort().map((k) => `${k}=${bucket[k]}`);
  return `${modelId}|${parts.join(',')}`;
}

export class SessionCache {
  private readonly entries = new Map<string, Promise<RuntimeSession>>();
  private hits = 0;
  private misses = 0;
  private disposed = false;

  constructor(private readonly options: SessionCacheOptions = {}) {}

  /** The session for (modelId, bucket), built with `build` on the first request; concurrent requests share it. */
  async get(modelId: string, bucket: ShapeBucket, build: BucketModelBuilder): Promise<RuntimeSession> {
    if (this.disposed) throw new Error('SessionCache was disposed');
    const key = sessionCacheKey(modelId, bucket);
    const existing = this.entries.get(key);
    if (existing) {
      this.hits++;
      this.entries.delete(key); // re-insert: Map order is the LRU order
      this.entries.set(key, existing);
      return existing;
    }
    this.misses++;
    const label = `${modelId} ${key.slice(modelId.length + 1)}`;
    const pending = (async () => createSession(await build(bucket), { label, ...this.options.session }))();
    this.entries.set(key, pending);
    pending.catch(() => { if (this.entries.get(key) === pending) this.entries.delete(key); });
    await this.evictBeyondLimit();
    return pending;
  }

  has(modelId: string, bucket: ShapeBucket): boolean {
    return this.entries.has(sessionCacheKey(modelId, bucket));
  }

  stats(): SessionCacheStats {
    return { hits: this.hits, misses: this.misses, size: this.entries.size };
  }

  /** Disposes every session of one model (e.g. after its weights changed). */
  async evictModel(modelId: string): Promise<void> {
    const keys = [...this.entries.keys()].filter((k) => k.startsWith(`${modelId}|`));
    await Promise.all(keys.map((k) => this.evictKey(k)));
  }

  /** Disposes all sessions; the cache cannot be used afterwards. */
  async dispose(): Promise<void> {
    this.disposed = true;
    await Promise.all([...this.entries.keys()].map((k) => this.evictKey(k)));
  }

  private async evictBeyondLimit(): Promise<void> {
    const max = this.options.maxEntries;
    if (max === undefined) return;
    while (this.entries.size > max) {
      const oldest = this.entries.keys().next().value;
      if (oldest === undefined) return;
      await this.evictKey(oldest);
    }
  }

  private async evictKey(key: string): Promise<void> {
    const pending = this.entries.get(key);
    this.entries.delete(key);
    if (!pending) return;
    const session = await pending.catch(() => undefined);
    await session?.dispose();
  }
}
