// Choosing the next token from a logits row: greedy (argmax) or sampling with temperature, top-k and top-p
// (nucleus sampling, Holtzman et al. 2020), as transformers' TemperatureLogitsWarper / TopK / TopP do.

export interface SamplingOptions {
  /** 0 or undefined: greedy. Otherwise logits are divided by it before the softmax. */
  readonly temperature?: number;
  /** Keep only the k most likely tokens (0 or undefined: all). */
  readonly topK?: number;
  /** Keep the smallest set of most likely tokens whose probability reaches p (1 or undefined: all). */
  readonly topP?: number;
}

export function argmax(row: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < row.length; i++) if (row[i] > row[best]) best = i;
  return best;
}

/** Probabilities after temperature, top-k and top-p filtering (zero outside the kept set), summing to 1. */
export function samplingDistribution(row: ArrayLike<number>, options: SamplingOptions): Float64Array {
  const t = options.temperature ?? 1;
  if (!(t > 0)) throw new RangeError(`temperature must be > 0 for sampling, got ${t}`);
  const order = Array.from({ length: row.length }, (_, i) => i).sort((a, b) => row[b] - row[a]);
  const k = options.topK && options.topK > 0 ? Math.min(options.topK, row.length) : row.length;
  const max = row[order[0]] / t;
  const probs = new Float64Array(row.length);
  let z = 0;
  for (let r = 0; r < k; r++) {
    const i = order[r];
    probs[i] = Math.exp(row[i] / t - max);
    z += probs[i];
  }
  for (let r = 0; r < k; r++) probs[order[r]] /= z;
  const p = options.topP ?? 1;
  if (!(p > 0 && p <= 1)) throw new RangeError(`topP must be in (0, 1], got ${p}`);
  if (p < 1) {
    let cumulative = 0;
    let kept = 0;
    while (kept < k && cumulative < p) cumulative += probs[order[kept++]];
    for (let r = kept; r < k; r++) probs[order[r]] = 0;
    for (let r = 0; r < kept; r++) probs[order[r]] /= cumulative;
  }
  return probs;
}

/** Next token: argmax when greedy, else a draw from samplingDistribution with `random()` in [0, 1). */
export function chooseToken(row: ArrayLike<number>, options: SamplingOptions, random: () => number): number {
  if (!options.temperature) return argmax(row);
  const probs = samplingDistribution(row, options);
  let u = random();
  for (let i = 0; i < probs.length; i++) {
    u -= probs[i];
    if (u < 0 && probs[i] > 0) return i;
  }
  // Rounding left u >= 0: take the most likely token.
  return argmax(probs);
}

/** mulberry32, a small seeded PRNG (so sampled generations are reproducible). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
