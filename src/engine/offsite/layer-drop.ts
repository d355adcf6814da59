/**
 * Layer-dropping emulators (DESIGN.md "Offsite-tuning and GradOT", baselines).
 *
 * OT-dagger (training-free uniform layer drop; Xiao et al. 2023, Offsite-Tuning): keep n of the L_mid middle
 * layers at indices round(i (L_mid - 1) / (n - 1)), i = 0..n-1 (n = 1 keeps index 0, like numpy's linspace).
 *
 * CRaSh (Zhang et al., EMNLP 2023, "CRaSh: Clustering, Removing, and Sharing"): cluster adjacent middle layers by
 * the similarity of their output representations, keep one layer per cluster and share it (repeat it
 * cluster-size times), so depth is unchanged while the distinct parameters are those of n layers. Reading used
 * here: the clusters are contiguous; the partition into n clusters is the exact optimum (dynamic programming
 * over contiguous partitions) of the k-means-style objective
 *   minimise sum_C (1/|C|) sum_{i<j in C} (1 - S_ij),
 * which for squared distances 1 - S_ij is the within-cluster sum of squares (so it does not just lump everything
 * into one cluster); the representative of a cluster is its medoid (highest total similarity to the cluster's
 * other layers; ties: the lower index). The similarity is linear CKA (Kornblith et al., ICML 2019) between the
 * layers' output representations on the support data, as CRaSh measures it.
 */
import { checkShape, matmulABt } from '../linalg/dense';

/** OT-dagger kept middle-layer indices (relative to the middle block), ascending. */
export function uniformLayerDrop(middleLayers: number, keep: number): number[] {
  if (!Number.isInteger(middleLayers) || middleLayers < 1) throw new Error(`uniform layer drop: middle layer count must be a positive integer, got ${middleLayers}`);
  if (!Number.isInteger(keep) || keep < 1 || keep > middleLayers) {
    throw new Error(`uniform layer drop: keepLayers = ${keep} must be an integer in [1, ${middleLayers}]`);
  }
  if (keep === 1) return [0];
  return Array.from({ length: keep }, (_, i) => Math.round((i * (middleLayers - 1)) / (keep - 1)));
}

/**
 * Linear CKA between representations X [N, dx] and Y [N, dy] of the same N tokens, in the sample-space form
 * CKA = <K, L>_F / (||K||_F ||L||_F) with K = Xc Xc^T, L = Yc Yc^T and Xc, Yc column-centred
 * (Kornblith et al. 2019, eq. for linear HSIC). Cost O(N^2 (dx + dy)): subsample tokens for large N.
 */
export function linearCka(x: Float64Array, y: Float64Array, tokens: number, dx: number, dy: number): number {
  const k = centredGram(x, tokens, dx, 'linearCka: X');
  const l = centredGram(y, tokens, dy, 'linearCka: Y');
  return ckaFromGrams(k, l);
}

function centredGram(x: Float64Array, n: number, d: number, name: string): Float64Array {
  checkShape(name, x, n, d);
  const xc = Float64Array.from(x);
  for (let j = 0; j < d; j++) {
    let mean = 0;
    for (let i = 0; i < n; i++) mean += xc[i * d + j] as number;
    mean /= n;
    for (let i = 0; i < n; i++) xc[i * d + j] = (xc[i * d + j] as number) - mean;
  }
  return matmulABt(xc, n, d, xc, n);
}

function ckaFromGrams(k: Float64Array, l: Float64Array): number {
  let kl = 0;
  let kk = 0;
  let ll = 0;
  for (let t = 0; t < k.length; t++) {
    const a = k[t] as number;
    const b = l[t] as number;
    kl += a * b;
    kk += a * a;
    ll += b * b;
  }
  const denom = Math.sqrt(kk * ll);
  return denom > 0 ? kl / denom : 0;
}

/** CKA similarity matrix [L, L] of per-layer representations (each [tokens, width]). */
export function layerSimilarityMatrix(representations: readonly Float64Array[], tokens: number, width: number): Float64Array {
  const grams = representations.map((r, i) => centredGram(r, tokens, width, `representations[${i}]`));
  const layers = grams.length;
  const s = new Float64Array(layers * layers);
  for (let i = 0; i < layers; i++) {
    s[i * layers + i] = 1;
    for (let j = i + 1; j < layers; j++) {
      const v = ckaFromGrams(grams[i] as Float64Array, grams[j] as Float64Array);
      s[i * layers + j] = v;
      s[j * layers + i] = v;
    }
  }
  return s;
}

/** A CRaSh plan: the clusters (contiguous index ranges), their representatives and the shared-layer sequence. */
export interface CrashPlan {
  /** Clusters as [start, end) ranges over the middle layers, in order. */
  clusters: [number, number][];
  /** Representative (kept) layer of each cluster. */
  representatives: number[];
  /** For each middle-layer position, the layer whose weights it uses (length L_mid). */
  layerMap: number[];
}

/** CRaSh clustering of L layers into n contiguous clusters from a similarity matrix S [L, L] (see module comment). */
export function crashPlan(similarity: Float64Array, layers: number, clusters: number): CrashPlan {
  checkShape('CRaSh similarity', similarity, layers, layers);
  if (!Number.isInteger(clusters) || clusters < 1 || clusters > layers) {
    throw new Error(`CRaSh: keepLayers = ${clusters} must be an integer in [1, ${layers}]`);
  }
  const sim = (i: number, j: number): number => similarity[i * layers + j] as number;
  // cost[a][b] for the cluster [a, b): (1/|C|) sum_{i<j} (1 - S_ij), built incrementally in O(L^2) per start.
  const cost: number[][] = [];
  for (let a = 0; a < layers; a++) {
    const row = new Array<number>(layers + 1).fill(Infinity);
    let pairSum = 0;
    for (let b = a + 1; b <= layers; b++) {
      const added = b - 1;
      for (let i = a; i < added; i++) pairSum += 1 - sim(i, added);
      row[b] = pairSum / (b - a);
    }
    cost.push(row);
  }
  // best[c][e]: minimal cost of splitting layers [0, e) into c clusters; from[c][e]: start of the last cluster.
  const best: number[][] = Array.from({ length: clusters + 1 }, () => new Array<number>(layers + 1).fill(Infinity));
  const from: number[][] = Array.from({ length: clusters + 1 }, () => new Array<number>(layers + 1).fill(-1));
  (best[0] as number[])[0] = 0;
  for (let c = 1; c <= clusters; c++) {
    for (let e = c; e <= layers; e++) {
      for (let s = c - 1; s < e; s++) {
        const v = ((best[c - 1] as number[])[s] as number) + ((cost[s] as number[])[e] as number);
        if (v < ((best[c] as number[])[e] as number)) {
          (best[c] as number[])[e] = v;
          (from[c] as number[])[e] = s;
        }
      }
    }
  }
  const ranges: [number, number][] = [];
  let end = layers;
  for (let c = clusters; c >= 1; c--) {
    const start = (from[c] as number[])[end] as number;
    ranges.unshift([start, end]);
    end = start;
  }
  const representatives = ranges.map(([a, b]) => {
    let bestIdx = a;
    let bestScore = -Infinity;
    for (let i = a; i < b; i++) {
      let total = 0;
      for (let j = a; j < b; j++) if (j !== i) total += sim(i, j);
      if (total > bestScore) {
        bestScore = total;
        bestIdx = i;
      }
    }
    return bestIdx;
  });
  const layerMap: number[] = [];
  ranges.forEach(([a, b], c) => {
    for (let i = a; i < b; i++) layerMap.push(representatives[c] as number);
  });
  return { clusters: ranges, representatives, layerMap };
}
