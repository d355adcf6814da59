import { strict as assert } from 'node:assert';
import { Rng } from '../../../src/engine/util/random';
import {
  channelBudget,
  channelMagnitudes,
  channelRemovalGcs,
  compressProjectionDrd,
  compressProjectionMagnitude,
  crashPlan,
  factorizedParamCount,
  layerSimilarityMatrix,
  linearCka,
  mlpParamCount,
  pruneMlpChannels,
  rankBudget,
  selectChannelsByMagnitude,
  selectDrdComponents,
  selectScpChannels,
  selectTopSingularValues,
  uniformLayerDrop,
  type LinearStats,
} from '../../../src/engine/offsite';
import { reconstruct, svdFull } from '../../../src/engine/linalg';
import { maxAbsDiff, naiveMatmul, randn, randomSpd } from './helpers';

describe('DRD selection', () => {
  it('always keeps the top keepTopRankRatio components, removes the lowest-GCS others, and meets the budget', () => {
    const full = 40;
    const s = Float64Array.from({ length: full }, (_, k) => 100 - k); // descending
    // The top components have the *lowest* GCS, so only the keepTop rule can keep them.
    const gcs = Float64Array.from({ length: full }, (_, k) => (k < 5 ? -1000 + k : Math.sin(k * 1.7)));
    const kept = selectDrdComponents(s, gcs, 0.5, 0.05);
    const { kept: budget, alwaysKept } = rankBudget(full, 0.5, 0.05);
    assert.equal(budget, 20);
    assert.equal(alwaysKept, 2);
    assert.equal(kept.length, 20);
    assert.ok(kept.includes(0) && kept.includes(1), 'top ceil(0.05 * 40) = 2 components kept');
    assert.ok(!kept.includes(2) && !kept.includes(3) && !kept.includes(4), 'other low-GCS components removed');
    const keptSet = new Set(kept);
    const candidates = Array.from({ length: full }, (_, k) => k).filter((k) => k >= alwaysKept);
    const removed = candidates.filter((k) => !keptSet.has(k));
    const keptCandidates = candidates.filter((k) => keptSet.has(k));
    const maxRemoved = Math.max(...removed.map((k) => gcs[k] as number));
    const minKept = Math.min(...keptCandidates.map((k) => gcs[k] as number));
    assert.ok(maxRemoved <= minKept, `removed GCS up to ${maxRemoved} but kept one with ${minKept}`);
    assert.deepEqual(kept, [...kept].sort((a, b) => a - b));
  });

  it('keeps the top components by singular value even when the input is not sorted', () => {
    const s = [1, 9, 3, 8, 2, 7, 4, 6, 5, 0.5];
    const gcs = [5, -9, 5, -8, 5, 5, 5, 5, 5, 5]; // components 1 and 3 (largest s) have the lowest GCS
    // Budget 5, always keep ceil(0.2 * 10) = 2 by singular value (1 and 3); the other candidates tie on GCS, so the
    // smaller singular values go first and 5, 7, 8 (s = 7, 6, 5) stay.
    assert.deepEqual(selectDrdComponents(s, gcs, 0.5, 0.2), [1, 3, 5, 7, 8]);
    assert.deepEqual(selectTopSingularValues(s, 0.3), [1, 3, 5]);
  });

  it('budgets: round(ratio R) in [1, R], keepTop at most the budget; bad ratios are errors', () => {
    assert.deepEqual(rankBudget(768, 0.5, 0.05), { kept: 384, alwaysKept: 39 });
    assert.deepEqual(rankBudget(3, 0.1, 0.05), { kept: 1, alwaysKept: 1 });
    assert.deepEqual(rankBudget(10, 0.2, 0.9), { kept: 2, alwaysKept: 2 });
    assert.equal(channelBudget(3072, 0.5), 1536);
    assert.throws(() => rankBudget(10, 0, 0.05), /attentionRankRatio must be in \(0, 1\]/);
    assert.throws(() => channelBudget(10, 2), /mlpChannelRatio must be in \(0, 1\]/);
    assert.throws(() => selectDrdComponents([1, 2], [1], 0.5, 0), /1 GCS values for 2 components/);
  });

  it('compresses a projection to a factorized map whose parameter count is the budget formula', () => {
    const rng = new Rng(30);
    const out = 12;
    const inn = 10;
    const stats: LinearStats = {
      outFeatures: out,
      inFeatures: inn,
      weight: randn(rng, out, inn),
      grad: randn(rng, out, inn),
      inputFactor: randomSpd(rng, inn),
      outputFactor: randomSpd(rng, out),
    };
    const result = compressProjectionDrd(stats, { attentionRankRatio: 0.5, keepTopRankRatio: 0.05, lambda: 1 });
    const { kept: budget } = rankBudget(10, 0.5, 0.05);
    assert.equal(result.fullRank, 10);
    assert.equal(result.kept.length, budget);
    assert.equal(result.gcs.length, 10);
    const f = result.factorized;
    assert.equal(f.first.length + f.second.length, factorizedParamCount(out, inn, budget));
    // The factorized map equals the kept components of the SVD: second (first x) = W_kept x.
    const svd = svdFull(stats.weight, out, inn);
    const wKept = reconstruct(svd, result.kept);
    assert.ok(maxAbsDiff(naiveMatmul(f.second, out, f.rank, f.first, inn), wKept) < 1e-10);
    const mag = compressProjectionMagnitude(stats.weight, out, inn, 0.5, rng);
    assert.equal(mag.factorized.first.length + mag.factorized.second.length, factorizedParamCount(out, inn, budget));
    assert.ok(maxAbsDiff(naiveMatmul(mag.factorized.second, out, budget, mag.factorized.first, inn), reconstruct(svd, [0, 1, 2, 3, 4])) < 1e-9);
  });
});

describe('SCP selection', () => {
  const rng = new Rng(31);
  const d = 6;
  const inter = 16;
  const linear = (o: number, i: number): LinearStats => ({
    outFeatures: o,
    inFeatures: i,
    weight: randn(rng, o, i),
    grad: randn(rng, o, i),
    inputFactor: randomSpd(rng, i),
    outputFactor: randomSpd(rng, o),
  });

  it('prunes the lowest-GCS channels to the budget; the pruned MLP has the formula parameter count', () => {
    const up = linear(inter, d);
    const gate = linear(inter, d);
    const down = linear(d, inter);
    const gcs = channelRemovalGcs({ up, gate, down }, 1);
    const kept = selectScpChannels(gcs, 0.25);
    assert.equal(kept.length, 4);
    const keptSet = new Set(kept);
    const pruned = Array.from({ length: inter }, (_, j) => j).filter((j) => !keptSet.has(j));
    assert.ok(Math.max(...pruned.map((j) => gcs[j] as number)) <= Math.min(...kept.map((j) => gcs[j] as number)));
    const small = pruneMlpChannels({ modelWidth: d, intermediate: inter, up: up.weight, gate: gate.weight, down: down.weight }, kept);
    assert.equal(small.up.length + (small.gate?.length ?? 0) + small.down.length, mlpParamCount(d, 4, { gated: true, bias: false }));
    const twoMatrix = pruneMlpChannels({ modelWidth: d, intermediate: inter, up: up.weight, down: down.weight }, kept);
    assert.equal(twoMatrix.up.length + twoMatrix.down.length, mlpParamCount(d, 4, { gated: false, bias: false }));
    assert.equal(mlpParamCount(768, 1536, { gated: false, bias: true }), 2 * 768 * 1536 + 1536 + 768);
    // Pruned MLP == original with the pruned channels' contributions removed (SiLU-free check on the linear parts).
    const x = randn(rng, d, 1);
    const h = naiveMatmul(up.weight, inter, d, x, 1).map((v, j) => (keptSet.has(j) ? v : 0));
    const yFull = naiveMatmul(down.weight, d, inter, h, 1);
    const ySmall = naiveMatmul(twoMatrix.down, d, 4, naiveMatmul(twoMatrix.up, 4, d, x, 1), 1);
    assert.ok(maxAbsDiff(yFull, ySmall) < 1e-12);
  });

  it('magnitude baseline keeps the largest L2 norms of the paired rows/columns', () => {
    const up = new Float64Array(4 * 2).fill(0.1);
    const down = new Float64Array(2 * 4).fill(0.1);
    up.set([3, 4], 2 * 2); // channel 2: |up row| = 5
    down[0 * 4 + 1] = 10; // channel 1: |down column| ~ 10
    const mlp = { modelWidth: 2, intermediate: 4, up, down };
    const mag = channelMagnitudes(mlp);
    assert.ok(Math.abs((mag[2] as number) - Math.sqrt(25 + 0.02)) < 1e-12);
    assert.deepEqual(selectChannelsByMagnitude(mlp, 0.5), [1, 2]);
  });
});

describe('layer-dropping baselines', () => {
  it('OT-dagger keeps round(i (L_mid - 1) / (n - 1))', () => {
    assert.deepEqual(uniformLayerDrop(10, 4), [0, 3, 6, 9]);
    assert.deepEqual(uniformLayerDrop(12, 6), [0, 2, 4, 7, 9, 11]);
    assert.deepEqual(uniformLayerDrop(5, 5), [0, 1, 2, 3, 4]);
    assert.deepEqual(uniformLayerDrop(5, 1), [0]);
    assert.throws(() => uniformLayerDrop(5, 6), /keepLayers = 6 must be an integer in \[1, 5\]/);
  });

  it('linear CKA is 1 for rotated/scaled copies, symmetric, and equals the feature-space formula', () => {
    const rng = new Rng(32);
    const n = 30;
    const d = 5;
    const x = randn(rng, n, d);
    const y = randn(rng, n, 4);
    const xScaled = x.map((v) => 3 * v + 0); // scale invariance
    assert.ok(Math.abs(linearCka(x, xScaled, n, d, d) - 1) < 1e-12);
    assert.ok(Math.abs(linearCka(x, y, n, d, 4) - linearCka(y, x, n, 4, d)) < 1e-12);
    // Feature-space form on centred data: ||Yc^T Xc||_F^2 / (||Xc^T Xc||_F ||Yc^T Yc||_F).
    const centre = (a: Float64Array, c: number): Float64Array => {
      const out = Float64Array.from(a);
      for (let j = 0; j < c; j++) {
        let m = 0;
        for (let i = 0; i < n; i++) m += out[i * c + j] as number;
        for (let i = 0; i < n; i++) out[i * c + j] = (out[i * c + j] as number) - m / n;
      }
      return out;
    };
    const tr = (a: Float64Array, r: number, c: number): Float64Array => {
      const o = new Float64Array(r * c);
      for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) o[j * r + i] = a[i * c + j] as number;
      return o;
    };
    const fro2 = (a: Float64Array): number => a.reduce((s, v) => s + v * v, 0);
    const xc = centre(x, d);
    const yc = centre(y, 4);
    const feature = fro2(naiveMatmul(tr(yc, n, 4), 4, n, xc, d)) /
      Math.sqrt(fro2(naiveMatmul(tr(xc, n, d), d, n, xc, d)) * fro2(naiveMatmul(tr(yc, n, 4), 4, n, yc, 4)));
    assert.ok(Math.abs(linearCka(x, y, n, d, 4) - feature) < 1e-12);
  });

  it('CRaSh finds block structure, shares one representative per cluster, and the DP is optimal', () => {
    // Representations in three groups of adjacent layers: near-copies within a group.
    const rng = new Rng(33);
    const tokens = 24;
    const width = 6;
    const groups = [0, 0, 0, 1, 1, 2, 2, 2, 2];
    const bases = [randn(rng, tokens, width), randn(rng, tokens, width), randn(rng, tokens, width)];
    const reps = groups.map((g) => (bases[g] as Float64Array).map((v) => v + 0.05 * rng.normal()));
    const sim = layerSimilarityMatrix(reps, tokens, width);
    const plan = crashPlan(sim, 9, 3);
    assert.deepEqual(plan.clusters, [[0, 3], [3, 5], [5, 9]]);
    assert.equal(plan.layerMap.length, 9);
    plan.clusters.forEach(([a, b], c) => {
      const r = plan.representatives[c] as number;
      assert.ok(r >= a && r < b);
      for (let i = a; i < b; i++) assert.equal(plan.layerMap[i], r);
    });
    // Against brute force over all contiguous partitions of a random similarity matrix.
    const layers = 7;
    const k = 3;
    const s = new Float64Array(layers * layers);
    for (let i = 0; i < layers; i++) {
      s[i * layers + i] = 1;
      for (let j = i + 1; j < layers; j++) s[i * layers + j] = s[j * layers + i] = rng.uniform();
    }
    const cost = (a: number, b: number): number => {
      let t = 0;
      for (let i = a; i < b; i++) for (let j = i + 1; j < b; j++) t += 1 - (s[i * layers + j] as number);
      return t / (b - a);
    };
    let best = Infinity;
    for (let c1 = 1; c1 < layers; c1++) for (let c2 = c1 + 1; c2 < layers; c2++) best = Math.min(best, cost(0, c1) + cost(c1, c2) + cost(c2, layers));
    const dp = crashPlan(s, layers, k);
    const dpCost = dp.clusters.reduce((t, [a, b]) => t + cost(a, b), 0);
    assert.ok(Math.abs(dpCost - best) < 1e-12, `DP cost ${dpCost} vs brute force ${best}`);
    assert.throws(() => crashPlan(s, layers, 8), /keepLayers = 8 must be an integer in \[1, 7\]/);
  });
});
