/**
 * Seeded, splittable pseudo-random numbers, deterministic across runs and platforms (pure 32-bit integer
 * arithmetic via Math.imul, no Math.random).
 *
 * Generator: xoshiro128** 1.0 (Blackman & Vigna, "Scrambled linear pseudorandom number generators", 2021,
 * reference C at prng.di.unimi.it). Its 128-bit state is seeded by SplitMix32 (a Weyl sequence with step
 * 0x9e3779b9 passed through the MurmurHash3 32-bit finaliser), the seeding the xoshiro authors recommend so
 * that nearby seeds give unrelated streams and the all-zero state cannot occur.
 */

/** SplitMix32 step: returns the next state and a well-mixed 32-bit output. */
function splitMix32(state: number): { state: number; value: number } {
  const next = (state + 0x9e3779b9) >>> 0;
  let z = next;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  z = (z ^ (z >>> 16)) >>> 0;
  return { state: next, value: z };
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

export class Rng {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;
  private spareNormal: number | undefined;

  /**
   * @param seed any finite number; integers up to 2^53 are used exactly (low and high 32-bit words both feed
   *   the seeding), other values are truncated towards zero first.
   */
  constructor(seed: number) {
    if (!Number.isFinite(seed)) throw new Error(`Rng: seed must be a finite number, got ${seed}`);
    const t = Math.trunc(Math.abs(seed));
    const lo = t >>> 0;
    const hi = Math.floor(t / 4294967296) >>> 0;
    let st = (lo ^ Math.imul(hi, 0x27d4eb2d) ^ (seed < 0 ? 0x5bd1e995 : 0)) >>> 0;
    const words: number[] = [];
    for (let i = 0; i < 4; i++) {
      const r = splitMix32(st);
      st = r.state;
      words.push(r.value);
    }
    [this.s0, this.s1, this.s2, this.s3] = [words[0] ?? 1, words[1] ?? 0, words[2] ?? 0, words[3] ?? 0];
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 1;
  }

  /** Next 32-bit unsigned integer (xoshiro128**: result = rotl(s1 * 5, 7) * 9). */
  nextUint32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5) >>> 0, 7), 9) >>> 0;
    const t = (this.s1 << 9) >>> 0;
    this.s2 = (this.s2 ^ this.s0) >>> 0;
    this.s3 = (this.s3 ^ this.s1) >>> 0;
    this.s1 = (this.s1 ^ this.s2) >>> 0;
    this.s0 = (this.s0 ^ this.s3) >>> 0;
    this.s2 = (this.s2 ^ t) >>> 0;
    this.s3 = rotl(this.s3, 11);
    return result;
  }

  /** Uniform in [0, 1) with 53 random bits (two 32-bit draws: 27 + 26 bits, as in the usual double recipe). */
  uniform(): number {
    const a = this.nextUint32() >>> 5;
    const b = this.nextUint32() >>> 6;
    return (a * 67108864 + b) / 9007199254740992;
  }

  /** Uniform integer in [0, n), unbiased (rejection of the incomplete top range, Lemire-style threshold). */
  uniformInt(n: number): number {
    if (!Number.isInteger(n) || n <= 0 || n > 4294967296) {
      throw new Error(`Rng.uniformInt: n must be an integer in [1, 2^32], got ${n}`);
    }
    const limit = 4294967296 - (4294967296 % n);
    for (;;) {
      const x = this.nextUint32();
      if (x < limit) return x % n;
    }
  }

  /**
   * Standard normal by the Box-Muller transform (Box & Muller 1958): z0 = sqrt(-2 ln u1) cos(2 pi u2),
   * z1 = sqrt(-2 ln u1) sin(2 pi u2); the second value is kept for the next call.
   */
  normal(): number {
    if (this.spareNormal !== undefined) {
      const z = this.spareNormal;
      this.spareNormal = undefined;
      return z;
    }
    const u1 = 1 - this.uniform(); // (0, 1]: log is finite
    const u2 = this.uniform();
    const r = Math.sqrt(-2 * Math.log(u1));
    this.spareNormal = r * Math.sin(2 * Math.PI * u2);
    return r * Math.cos(2 * Math.PI * u2);
  }

  /** Fills a new Float64Array of length n with standard normals. */
  normalArray(n: number): Float64Array {
    const out = new Float64Array(n);
    for (let i = 0; i < n; i++) out[i] = this.normal();
    return out;
  }

  /**
   * An independent child generator seeded from four draws of this one; the parent advances by those draws only,
   * so splitting is deterministic and streams do not depend on how much the child is used.
   */
  split(): Rng {
    const child = new Rng(0);
    child.s0 = this.nextUint32();
    child.s1 = this.nextUint32();
    child.s2 = this.nextUint32();
    child.s3 = this.nextUint32();
    if ((child.s0 | child.s1 | child.s2 | child.s3) === 0) child.s0 = 1;
    return child;
  }

  /** Fisher-Yates shuffle (Knuth, TAOCP vol. 2, Algorithm P), in place; returns the same array. */
  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.uniformInt(i + 1);
      const tmp = items[i] as T;
      items[i] = items[j] as T;
      items[j] = tmp;
    }
    return items;
  }

  /**
   * Weighted sampling of `count` distinct indices without replacement by successive draws: each draw picks index
   * i with probability w_i / (sum of the weights not yet drawn), then removes i. This is the distribution of
   * torch.multinomial(weights, count, replacement=False), which the IST authors' code uses. Returns the indices
   * in draw order. Weights must be finite and >= 0 with at least `count` of them positive.
   */
  sampleWeightedWithoutReplacement(weights: ArrayLike<number>, count: number): number[] {
    const n = weights.length;
    if (!Number.isInteger(count) || count < 0 || count > n) {
      throw new Error(`Rng.sampleWeightedWithoutReplacement: count ${count} must be an integer in [0, ${n}]`);
    }
    const w = new Float64Array(n);
    let positive = 0;
    for (let i = 0; i < n; i++) {
      const v = weights[i] ?? NaN;
      if (!Number.isFinite(v) || v < 0) {
        throw new Error(`Rng.sampleWeightedWithoutReplacement: weight[${i}] = ${v} must be finite and >= 0`);
      }
      w[i] = v;
      if (v > 0) positive++;
    }
    if (positive < count) {
      throw new Error(`Rng.sampleWeightedWithoutReplacement: only ${positive} positive weights for ${count} draws`);
    }
    const picked: number[] = [];
    for (let d = 0; d < count; d++) {
      let total = 0;
      for (let i = 0; i < n; i++) total += w[i] ?? 0;
      let target = this.uniform() * total;
      let chosen = -1;
      for (let i = 0; i < n; i++) {
        const wi = w[i] ?? 0;
        if (wi <= 0) continue;
        chosen = i; // last positive index absorbs rounding at the top end
        if (target < wi) break;
        target -= wi;
      }
      picked.push(chosen);
      w[chosen] = 0;
    }
    return picked;
  }

  /** `count` distinct indices from [0, n), uniformly (partial Fisher-Yates); returned in draw order. */
  sampleUniformWithoutReplacement(n: number, count: number): number[] {
    if (!Number.isInteger(count) || count < 0 || count > n) {
      throw new Error(`Rng.sampleUniformWithoutReplacement: count ${count} must be an integer in [0, ${n}]`);
    }
    const pool = Array.from({ length: n }, (_, i) => i);
    for (let i = 0; i < count; i++) {
      const j = i + this.uniformInt(n - i);
      const tmp = pool[i] as number;
      pool[i] = pool[j] as number;
      pool[j] = tmp;
    }
    return pool.slice(0, count);
  }
}

/** Convenience constructor. */
export function createRng(seed: number): Rng {
  return new Rng(seed);
}
