import { strict as assert } from 'node:assert';
import { Rng } from '../../../src/engine/util/random';
import {
  createLayerScores,
  isImportanceStep,
  layerBudget,
  runImportanceRound,
  sampleSuppressionSets,
  sampleUpdateLayers,
  selectLayers,
  sigmoid,
  updateScores,
} from '../../../src/engine/ist';

/**
 * Exact probability of each unordered set under successive weighted draws without replacement:
 * P(ordered i1..in) = prod_t w_it / (W - w_i1 - ... - w_i(t-1)); a set's probability sums its orderings.
 */
function exactSetProbabilities(weights: number[], n: number): Map<string, number> {
  const out = new Map<string, number>();
  const rec = (chosen: number[], prob: number, remaining: number): void => {
    if (chosen.length === n) {
      const key = [...chosen].sort((a, b) => a - b).join(',');
      out.set(key, (out.get(key) ?? 0) + prob);
      return;
    }
    weights.forEach((w, i) => {
      if (chosen.includes(i)) return;
      rec([...chosen, i], (prob * w) / remaining, remaining - w);
    });
  };
  rec([], 1, weights.reduce((a, b) => a + b, 0));
  return out;
}

function chiSquare(counts: Map<string, number>, expected: Map<string, number>, draws: number): number {
  let chi = 0;
  for (const [key, p] of expected) {
    const e = p * draws;
    const o = counts.get(key) ?? 0;
    chi += ((o - e) * (o - e)) / e;
  }
  for (const key of counts.keys()) assert.ok(expected.has(key), `sampled set ${key} has probability 0`);
  return chi;
}

// Upper 0.001 quantile of the chi-square distribution with 9 degrees of freedom (standard tables, e.g. NIST/SEMATECH
// e-Handbook 1.3.6.7.4): C(5,2) = 10 possible sets -> 9 degrees of freedom.
const CHI2_DF9_P001 = 27.877;

describe('IST sampling', () => {
  const scores = [-1.5, -0.5, 0, 0.7, 2.0];
  const draws = 20000;

  function setCounts(sample: (rng: Rng) => number[], seed: number): Map<string, number> {
    const rng = new Rng(seed);
    const counts = new Map<string, number>();
    for (let d = 0; d < draws; d++) {
      const key = sample(rng).join(',');
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
    return counts;
  }

  it('samples update layers with the exact without-replacement distribution of weights sigmoid(-s)', () => {
    // ratio 0.4 of 5 layers -> 2 layers per step.
    const counts = setCounts((rng) => sampleUpdateLayers(scores, 0.4, rng), 12345);
    const right = exactSetProbabilities(scores.map((s) => sigmoid(-s)), 2);
    const chi = chiSquare(counts, right, draws);
    assert.ok(chi < CHI2_DF9_P001, `chi-square ${chi.toFixed(2)} >= ${CHI2_DF9_P001} against sigmoid(-s)`);
    // The same counts must be rejected against the plausible bugs: the wrong sign, and uniform weights.
    const wrongSign = exactSetProbabilities(scores.map((s) => sigmoid(s)), 2);
    assert.ok(chiSquare(counts, wrongSign, draws) > CHI2_DF9_P001 * 10, 'sigmoid(+s) weights not rejected');
    const uniform = exactSetProbabilities(scores.map(() => 1), 2);
    assert.ok(chiSquare(counts, uniform, draws) > CHI2_DF9_P001 * 10, 'uniform weights not rejected');
  });

  it('samples suppression sets with weights sigmoid(+s)', () => {
    // ratio 0.5 of 5 layers -> floor(2.5) = 2 layers; one rollout per draw so no resampling is involved.
    const counts = setCounts((rng) => sampleSuppressionSets(scores, 0.5, 1, rng).sets[0] ?? [], 777);
    const right = exactSetProbabilities(scores.map((s) => sigmoid(s)), 2);
    assert.ok(chiSquare(counts, right, draws) < CHI2_DF9_P001);
    const wrong = exactSetProbabilities(scores.map((s) => sigmoid(-s)), 2);
    assert.ok(chiSquare(counts, wrong, draws) > CHI2_DF9_P001 * 10);
  });

  it('returns sorted distinct layers, floor(ratio L) of them, at least 1', () => {
    const rng = new Rng(1);
    const s = createLayerScores(12);
    const picked = sampleUpdateLayers(s, 0.25, rng);
    assert.equal(picked.length, 3);
    assert.deepEqual(picked, [...new Set(picked)].sort((a, b) => a - b));
    assert.equal(layerBudget(0.25, 3), 1, 'floor(0.75) = 0 is raised to 1');
    assert.equal(layerBudget(0.5, 1), 1);
    assert.equal(layerBudget(1, 7), 7);
    assert.equal(layerBudget(0.5, 7), 3);
    assert.deepEqual(sampleUpdateLayers([3.0], 0.25, rng), [0], 'L = 1 always trains its only layer');
    assert.throws(() => layerBudget(0, 4), /ratio must be in \(0, 1\]/);
    assert.throws(() => layerBudget(1.5, 4), /ratio must be in \(0, 1\]/);
  });

  it('resamples a suppression set equal to an earlier one, and accepts duplicates only when it must', () => {
    // 4 layers, 3 suppressed: only 4 distinct sets exist, so 3 rollouts must all differ.
    for (let seed = 0; seed < 50; seed++) {
      const { sets, duplicatesAccepted } = sampleSuppressionSets([0, 0, 0, 0], 0.75, 3, new Rng(seed));
      assert.equal(duplicatesAccepted, 0);
      assert.equal(new Set(sets.map((s) => s.join(','))).size, 3, `seed ${seed}: ${JSON.stringify(sets)}`);
    }
    // L = 1: only one set exists; ist.py would loop forever, here the retries are bounded.
    const single = sampleSuppressionSets([0], 0.5, 3, new Rng(3));
    assert.deepEqual(single.sets, [[0], [0], [0]]);
    assert.equal(single.duplicatesAccepted, 2);
    // 3 layers, 2 suppressed, 4 rollouts: 3 distinct sets exist, the 4th rollout is a duplicate.
    const three = sampleSuppressionSets([0, 0, 0], 0.7, 4, new Rng(4));
    assert.equal(new Set(three.sets.slice(0, 3).map((s) => s.join(','))).size, 3);
    assert.equal(three.duplicatesAccepted, 1);
  });

  it('is deterministic for a seed', () => {
    const a = Array.from({ length: 20 }, (_, k) => sampleUpdateLayers(scores, 0.4, new Rng(k)).join());
    const b = Array.from({ length: 20 }, (_, k) => sampleUpdateLayers(scores, 0.4, new Rng(k)).join());
    assert.deepEqual(a, b);
  });
});

describe('IST score update', () => {
  it('matches a hand computation', () => {
    const scores = [0, 1, -1, 0.5];
    const sets = [[0, 1], [1, 2], [3]];
    const losses = [1.0, 2.0, 0.5];
    const { scores: next, rewards, rawRewards } = updateScores(scores, sets, losses, 10);
    // r = exp(-l) = [0.367879, 0.135335, 0.606531], mean 0.369915; centred r^ as below (computed with Python's math
    // module, independently of this code).
    const rHat = [-0.0020356868687871343, -0.23457984480361677, 0.23661553167240396];
    rawRewards.forEach((r, k) => assert.ok(Math.abs(r - Math.exp(-(losses[k] ?? 0))) < 1e-15));
    rewards.forEach((r, k) => assert.ok(Math.abs(r - (rHat[k] ?? 0)) < 1e-15));
    // Layer 1 is in two sets: 1 + 10 * (r^_0 + r^_1) * p(1 - p), with p = sigmoid(1) from before the loop.
    const p1 = 1 / (1 + Math.exp(-1));
    assert.ok(Math.abs((next[1] ?? 0) - (1 + 10 * ((rHat[0] ?? 0) + (rHat[1] ?? 0)) * p1 * (1 - p1))) < 1e-14);
    const expected = [-0.005089217171967836, 0.5347856288292759, -1.4612119678632587, 1.0560552830756889];
    expected.forEach((e, i) => assert.ok(Math.abs((next[i] ?? 0) - e) < 1e-14, `s[${i}] = ${next[i]}, want ${e}`));
    assert.deepEqual(scores, [0, 1, -1, 0.5], 'input not modified');
  });

  it('leaves layers outside every suppression set unchanged, and rejects bad input', () => {
    const { scores } = updateScores([0.3, -0.2, 0.1], [[0], [0]], [1, 3], 10);
    assert.equal(scores[1], -0.2);
    assert.equal(scores[2], 0.1);
    // Both rollouts suppress layer 0, so the centred rewards cancel.
    assert.ok(Math.abs((scores[0] ?? NaN) - 0.3) < 1e-15);
    assert.throws(() => updateScores([0, 0], [[2]], [1], 10), /layer 2, outside \[0, 2\)/);
    assert.throws(() => updateScores([0, 0], [[0]], [1, 2], 10), /1 suppression sets but 2 losses/);
    assert.throws(() => updateScores([0, 0], [[0]], [NaN], 10), /loss\[0\] = NaN/);
  });

  it('runs a round through a caller-supplied loss and raises the scores of layers whose suppression costs little', async () => {
    // Loss grows with how many "important" layers (0 and 1) are suppressed: suppressing layers 2-5 is cheap.
    const rng = new Rng(99);
    let scores: Float64Array = createLayerScores(6);
    for (let round = 0; round < 30; round++) {
      const result = await runImportanceRound(
        scores,
        { suppressRatio: 0.5, rollouts: 3, scoreLr: 10, suppressionFactor: 0.25 },
        rng,
        (set, factor) => {
          assert.equal(factor, 0.25);
          return 1 + set.filter((i) => i < 2).length;
        },
      );
      assert.equal(result.suppressed.length, 3);
      assert.equal(result.losses.length, 3);
      scores = result.scores;
    }
    const important = Math.max(scores[0] ?? 0, scores[1] ?? 0);
    const dispensable = Math.min(...Array.from(scores.slice(2)));
    assert.ok(important < dispensable, `scores ${Array.from(scores).map((s) => s.toFixed(2)).join(' ')}`);
  });

  it('updates every interval steps, never at step 0', () => {
    const steps = Array.from({ length: 31 }, (_, s) => s).filter((s) => isImportanceStep(s, 10));
    assert.deepEqual(steps, [10, 20, 30]);
    assert.equal(isImportanceStep(0, 1), false);
    assert.equal(isImportanceStep(1, 1), true);
    assert.throws(() => isImportanceStep(3, 0), /interval must be a positive integer/);
  });
});

describe('layer selection baselines', () => {
  const base = { layerCount: 8, updateRatio: 0.25, interval: 5 };

  it('uniform trains every layer', () => {
    assert.deepEqual(selectLayers({ ...base, strategy: 'uniform', step: 3, rng: new Rng(0) }), [0, 1, 2, 3, 4, 5, 6, 7]);
  });

  it('random draws n layers every step, covering all layers uniformly', () => {
    const rng = new Rng(5);
    const counts = new Array<number>(8).fill(0);
    const draws = 4000;
    for (let step = 0; step < draws; step++) {
      const picked = selectLayers({ ...base, strategy: 'random', step, rng });
      assert.equal(picked.length, 2);
      assert.equal(new Set(picked).size, 2);
      picked.forEach((i) => (counts[i] = (counts[i] ?? 0) + 1));
    }
    // Each layer is included with probability 2/8; binomial sd = sqrt(4000 * 0.25 * 0.75) ~ 27.4; allow 4.5 sd.
    counts.forEach((c) => assert.ok(Math.abs(c - 1000) < 4.5 * 27.4, `inclusion count ${c}`));
  });

  it('lisa keeps its layers for interval steps and switches at multiples of interval', () => {
    const rng = new Rng(11);
    let previous: number[] | undefined;
    const history: string[] = [];
    for (let step = 0; step < 40; step++) {
      const picked = selectLayers({ ...base, strategy: 'lisa', step, rng, previous });
      if (step % 5 !== 0) assert.deepEqual(picked, previous, `step ${step} must keep the previous layers`);
      previous = picked;
      history.push(picked.join(','));
    }
    const periods = Array.from({ length: 8 }, (_, p) => history[p * 5]);
    assert.ok(new Set(periods).size > 1, 'lisa never switched');
  });

  it('ist uses the scores; it needs one score per layer', () => {
    const scores = [-30, -30, 30, 30, 30, 30, 30, 30]; // layers 0 and 1 are essentially certain
    assert.deepEqual(selectLayers({ ...base, strategy: 'ist', step: 0, scores, rng: new Rng(2) }), [0, 1]);
    assert.throws(() => selectLayers({ ...base, strategy: 'ist', step: 0, rng: new Rng(2) }), /scores are required/);
    assert.throws(() => selectLayers({ ...base, strategy: 'ist', step: 0, scores: [0], rng: new Rng(2) }), /1 scores for 8/);
  });
});
