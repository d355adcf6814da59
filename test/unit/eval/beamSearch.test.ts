// Beam search (models/beamSearch.ts) for generation-based evaluation, checked three ways: against an exhaustive
// search over every sequence of a tiny vocabulary (with enough beams it must find the best length-normalised
// sequence), against a plain reference beam search written here (lists, full recomputation, transformers'
// rules) with fewer beams, and on the tiny GPT-2 fixture: one beam is greedy decoding, and the KV-cached,
// batched search equals the same search recomputing every row from scratch.
import { strict as assert } from 'node:assert';
import * as path from 'node:path';
import { validateConfigText } from '../../../src/engine/config';
import { readChoiceItems } from '../../../src/engine/data';
import { makeBatch } from '../../../src/engine/data/batches';
import { IGNORE_INDEX } from '../../../src/engine/data/examples';
import { generationAccuracy } from '../../../src/engine/eval';
import { padBatch } from '../../../src/engine/models/batch';
import {
  addHypothesis, beamSearch, gatherRows, isDone, searchBeams, splitCandidates, topCandidates, type BeamAdvance, type Hypothesis,
} from '../../../src/engine/models/beamSearch';
import { generate } from '../../../src/engine/models/generate';
import { computeLogits } from '../../../src/engine/models/logits';
import { loadModel, type LoadedModel } from '../../../src/engine/models/model';
import { ModelTokenizer } from '../../../src/engine/models/tokenizer';
import { LoraAdapter } from '../../../src/engine/peft/lora';
import { LoraRunner } from '../../../src/engine/train/loraGraph';
import { Rng } from '../../../src/engine/util/random';
import { FIXTURES } from '../models/fixturePaths';
import { COMMONSENSE_DIR, LLAMA_DIR } from '../peft/fixtures';

/** Next-token log-probabilities of each prefix (new tokens after the prompt). */
type NextLogprobs = (prefixes: readonly (readonly number[])[]) => Promise<Float64Array[]>;

interface Found { tokens: number[]; score: number }

function logSoftmax64(row: ArrayLike<number>): Float64Array {
  const values = Array.from(row);
  const max = Math.max(...values);
  const lse = max + Math.log(values.reduce((s, v) => s + Math.exp(v - max), 0));
  return Float64Array.from(values, (v) => v - lse);
}

/**
 * The reference: transformers' beam search rules written out plainly for one prompt: every (beam, token) of
 * the live beams, sorted, the first 2K kept; EOS among the first K finishes, the first K others go on; done
 * when K are finished and the worst beats the best candidate at this length; the live beams join at the end.
 */
async function referenceBeamSearch(next: NextLogprobs, K: number, T: number, eos: readonly number[], lengthPenalty = 1): Promise<Found> {
  let beams: { tokens: number[]; sum: number }[] = [{ tokens: [], sum: 0 }];
  let finished: Found[] = [];
  const finish = (tokens: number[], sum: number, length: number): void => {
    // Sorted stably, best first: among equal scores the earlier stays (as BeamHypotheses.add's strict >).
    finished = [...finished, { tokens, score: sum / length ** lengthPenalty }].sort((a, b) => b.score - a.score).slice(0, K);
  };
  for (let t = 1; t <= T; t++) {
    const lps = await next(beams.map((b) => b.tokens));
    const all = beams.flatMap((b, i) => Array.from(lps[i] ?? [], (lp, v) => ({ i, v, sum: b.sum + lp })));
    all.sort((a, b) => b.sum - a.sum || a.i - b.i || a.v - b.v);
    const ranked = all.slice(0, 2 * K);
    const live: { tokens: number[]; sum: number }[] = [];
    for (const [rank, c] of ranked.entries()) {
      if (live.length === K) break;
      const tokens = [...(beams[c.i]?.tokens ?? []), c.v];
      if (!eos.includes(c.v)) live.push({ tokens, sum: c.sum });
      else if (rank < K) finish(tokens, c.sum, t);
    }
    const best = ranked[0]?.sum ?? -Infinity;
    const worst = finished[finished.length - 1]?.score ?? -Infinity;
    beams = live;
    if ((finished.length >= K && worst >= best / t ** lengthPenalty) || live.length === 0) return finished[0] ?? { tokens: [], score: NaN };
  }
  for (const b of beams) finish(b.tokens, b.sum, b.tokens.length);
  return finished[0] ?? { tokens: [], score: NaN };
}

/** Every sequence a search can return: non-EOS tokens, then an EOS or the length limit; the best by sum / length^p. */
function exhaustiveBest(logprobs: (prefix: readonly number[]) => Float64Array, T: number, eos: readonly number[], lengthPenalty = 1): Found & { count: number } {
  let best: Found = { tokens: [], score: -Infinity };
  let count = 0;
  const visit = (prefix: number[], sum: number): void => {
    const lp = logprobs(prefix);
    lp.forEach((l, v) => {
      const tokens = [...prefix, v];
      if (eos.includes(v) || tokens.length === T) {
        count += 1;
        const score = (sum + l) / tokens.length ** lengthPenalty;
        if (score > best.score) best = { tokens, score };
      } else {
        visit(tokens, sum + l);
      }
    });
  };
  visit([], 0);
  return { ...best, count };
}

/** A stand-in language model: logits a fixed pseudo-random function of (prompt, prefix), EOS favoured a little. */
function standInLogits(prompt: number, prefix: readonly number[], V: number, seed: number, eosBias: number): Float32Array {
  let h = (2166136261 ^ seed) >>> 0;
  for (const x of [prompt, ...prefix, -1]) h = Math.imul(h ^ (x + 7), 16777619) >>> 0;
  const random = new Rng(h);
  return Float32Array.from({ length: V }, (_, v) => random.uniform() * 4 - 2 + (v === 0 ? eosBias : 0));
}

/** searchBeams on the stand-in: each row's sequence is tracked, its logits recomputed from it. */
async function standInSearch(prompts: number, V: number, K: number, T: number, seed: number, eosBias: number, lengthPenalty = 1) {
  let rows: number[][] = Array.from({ length: prompts }, () => []);
  const first = new Float32Array(prompts * V);
  for (let b = 0; b < prompts; b++) first.set(standInLogits(b, [], V, seed, eosBias), b * V);
  let calls = 0;
  const advance: BeamAdvance = (parents, tokens) => {
    calls += 1;
    rows = Array.from(parents, (p, r) => (p < 0 ? [] : [...(rows[p] ?? []), tokens[r] ?? -1]));
    const out = new Float32Array(parents.length * V);
    parents.forEach((p, r) => { if (p >= 0) out.set(standInLogits(Math.floor(r / K), rows[r] ?? [], V, seed, eosBias), r * V); });
    return Promise.resolve(out);
  };
  const results = await searchBeams(first, prompts, V, { numBeams: K, maxNewTokens: T, eosTokenIds: [0], lengthPenalty }, advance);
  return { results, calls };
}

const PROMPTS = [[5, 9, 42, 7], [17, 4], [3, 3, 8]];

/** Reference next-token log-probs on the model by a full forward pass over prompt + each prefix (no cache, no left padding). */
function fullForward(model: LoadedModel, prompt: readonly number[]): NextLogprobs {
  const V = model.config.vocabSize;
  return async (prefixes) => {
    const rows = prefixes.map((p) => [...prompt, ...p]);
    const batch = padBatch(rows, 'right', 0);
    const { logits } = await computeLogits(model, batch, { session: { intraOpNumThreads: 1 } });
    return rows.map((row, i) => logSoftmax64(logits.subarray((i * batch.seq + row.length - 1) * V, (i * batch.seq + row.length) * V)));
  };
}

describe('eval: beam search for generation-based evaluation', function () {
  this.timeout(120_000);

  describe('hypothesis bookkeeping', () => {
    const hyp = (score: number, tag = 0): Hypothesis => ({ tokens: [tag], sumLogprob: score, score, eos: true });

    it('keeps the numBeams best hypotheses, best first; an equal score does not displace the kept one', () => {
      let kept: Hypothesis[] = [];
      for (const s of [-3, -1, -2, -5]) kept = addHypothesis(kept, hyp(s), 3);
      assert.deepEqual(kept.map((h) => h.score), [-1, -2, -3]);
      kept = addHypothesis(kept, hyp(-3, 9), 3);
      assert.deepEqual(kept.map((h) => h.tokens[0]), [0, 0, 0]);
      kept = addHypothesis(kept, hyp(-0.5, 7), 3);
      assert.deepEqual(kept.map((h) => h.score), [-0.5, -1, -2]);
    });

    it('ranks candidates by summed log-probability, ties to the lower beam then token; EOS finishes only below rank numBeams', () => {
      const beams = [{ tokens: [1], sumLogprob: -1, row: 0 }, { tokens: [2], sumLogprob: -0.5, row: 1 }];
      // Sums (exact in binary): beam 0: -1.25, -3, -1.5; beam 1: -1.25, -3.5, -1.5.
      const lps = [Float64Array.from([-0.25, -2, -0.5]), Float64Array.from([-0.75, -3, -1])];
      const ranked = topCandidates(beams, lps, 4);
      assert.deepEqual(ranked.map((c) => [c.beam, c.token]), [[0, 0], [1, 0], [0, 2], [1, 2]]);
      assert.equal(ranked[0]?.sumLogprob, -1.25);
      const { continuing, finishing } = splitCandidates(ranked, new Set([0]), 2);
      // Rank 0 and 1 are EOS (both finish), then the first two others continue.
      assert.deepEqual(finishing.map((c) => c.beam), [0, 1]);
      assert.deepEqual(continuing.map((c) => [c.beam, c.token]), [[0, 2], [1, 2]]);
      const late = splitCandidates([{ beam: 0, token: 1, sumLogprob: -1 }, { beam: 0, token: 0, sumLogprob: -2 }, { beam: 0, token: 2, sumLogprob: -3 }], new Set([0]), 1);
      assert.deepEqual([late.finishing.length, late.continuing.length], [0, 1]);
    });

    it('is done once numBeams are finished and none of the live beams can beat the worst at this length', () => {
      const settings = { numBeams: 2, maxNewTokens: 10, eosTokenIds: [0] };
      const kept = [hyp(-1), hyp(-2)];
      assert.equal(isDone([hyp(-1)], -0.1, 3, settings), false);
      assert.equal(isDone(kept, -6, 3, settings), true); // -2 >= -6 / 3
      assert.equal(isDone(kept, -5.9, 3, settings), false);
      assert.equal(isDone(kept, -100, 3, { ...settings, earlyStopping: true }), true);
      assert.equal(isDone(kept, -6, 3, { ...settings, earlyStopping: 'never' }), false); // bound -6 / 10
      assert.equal(isDone(kept, -6, 3, { ...settings, lengthPenalty: 2 }), false); // -2 < -6 / 9
      assert.equal(isDone(kept, -6, 3, { ...settings, lengthPenalty: 0 }), true); // -2 >= -6
    });

    it('gathers cache rows by parent, in place through cycles as into a new buffer', () => {
      const block = 3;
      const source = Float32Array.from({ length: 5 * block }, (_, i) => i);
      const parents = Int32Array.from([1, 0, 0, -1, 2]);
      const expected = Float32Array.from(source);
      parents.forEach((p, r) => { if (p >= 0) expected.set(source.subarray(p * block, (p + 1) * block), r * block); });
      const inPlace = Float32Array.from(source);
      gatherRows(inPlace, inPlace, block, parents);
      assert.deepEqual(inPlace, expected);
      const into = new Float32Array(5 * block);
      gatherRows(source, into, block, parents);
      assert.deepEqual(into.subarray(0, 3 * block), expected.subarray(0, 3 * block));
      assert.deepEqual(into.subarray(3 * block, 4 * block), new Float32Array(block));
    });
  });

  describe('search on a stand-in model with a 4-token vocabulary', () => {
    const V = 4;
    const T = 4;

    for (const lengthPenalty of [1, 0, 2]) {
      it(`with beams for every candidate it finds the exhaustive best (length penalty ${lengthPenalty})`, async () => {
        for (let seed = 0; seed < 6; seed++) {
          const prompts = 3;
          const truth = Array.from({ length: prompts }, (_, b) => exhaustiveBest((prefix) => logSoftmax64(standInLogits(b, prefix, V, seed, 0.8)), T, [0], lengthPenalty));
          // 1 + 3 + 9 + 27 sequences end at EOS, 81 at the length limit.
          assert.equal(truth[0]?.count, 121);
          const { results } = await standInSearch(prompts, V, 121, T, seed, 0.8, lengthPenalty);
          results.forEach((r, b) => {
            assert.deepEqual(r.tokens, truth[b]?.tokens, `seed ${seed} prompt ${b}`);
            assert.ok(Math.abs(r.score - (truth[b]?.score ?? NaN)) < 1e-9);
            assert.equal(r.stopReason, r.tokens[r.tokens.length - 1] === 0 ? 'eos' : 'length');
          });
        }
      });
    }

    it('with fewer beams it equals the plain reference beam search, which then misses the best sometimes', async () => {
      let missed = 0;
      let early = 0;
      for (let seed = 0; seed < 20; seed++) {
        for (const K of [1, 2, 3]) {
          for (const eosBias of [0, 1.5]) {
            const prompts = 2;
            const { results } = await standInSearch(prompts, V, K, 6, seed, eosBias);
            for (let b = 0; b < prompts; b++) {
              const next: NextLogprobs = (prefixes) => Promise.resolve(prefixes.map((p) => logSoftmax64(standInLogits(b, p, V, seed, eosBias))));
              const ref = await referenceBeamSearch(next, K, 6, [0]);
              assert.deepEqual(results[b]?.tokens, ref.tokens, `seed ${seed} K ${K} bias ${eosBias} prompt ${b}`);
              assert.ok(Math.abs((results[b]?.score ?? NaN) - ref.score) < 1e-9);
              const truth = exhaustiveBest((prefix) => logSoftmax64(standInLogits(b, prefix, V, seed, eosBias)), 6, [0]);
              if (ref.score < truth.score - 1e-9) missed += 1;
            }
          }
        }
        const { calls } = await standInSearch(1, V, 2, 6, seed, 3);
        if (calls < 5) early += 1;
      }
      // The comparison is not vacuous: narrow beams lose to the exhaustive best, and searches stop early.
      assert.ok(missed > 0, 'no case where a narrow beam missed the best');
      assert.ok(early > 0, 'no search stopped before the length limit');
    });
  });

  describe('on the tiny GPT-2 fixture', () => {
    let model: LoadedModel;
    before(() => { model = loadModel(FIXTURES.gpt2); });
    after(() => model.close());

    it('one beam is greedy decoding, EOS stops included', async () => {
      const free = await generate(model, PROMPTS, { maxNewTokens: 6, eosTokenIds: [], session: { intraOpNumThreads: 1 } });
      for (const eos of [[], [free.tokens[0]?.[2] ?? 0], [free.tokens[1]?.[0] ?? 0, free.tokens[2]?.[3] ?? 0]]) {
        const greedy = await generate(model, PROMPTS, { maxNewTokens: 6, eosTokenIds: eos, session: { intraOpNumThreads: 1 } });
        const beam = await beamSearch(model, PROMPTS, { numBeams: 1, maxNewTokens: 6, eosTokenIds: eos, session: { intraOpNumThreads: 1 } });
        assert.deepEqual(beam.tokens, greedy.tokens, `eos ${eos.join(',')}`);
        assert.deepEqual(beam.stopReasons, greedy.stopReasons);
      }
    });

    it('the KV-cached batched search equals the reference beam search over full forward passes', async () => {
      // EOS: a runner-up token of prompt 0's first step, so hypotheses finish at EOS during the search.
      const [first] = await fullForward(model, PROMPTS[0] ?? [])([[]]);
      const order = Array.from(first ?? [], (_, v) => v).sort((a, b) => (first?.[b] ?? 0) - (first?.[a] ?? 0));
      const eos = [order[2] ?? 0];
      for (const K of [2, 3]) {
        const T = 5;
        const cached = await beamSearch(model, PROMPTS, { numBeams: K, maxNewTokens: T, eosTokenIds: eos, session: { intraOpNumThreads: 1 } });
        for (const [b, prompt] of PROMPTS.entries()) {
          const ref = await referenceBeamSearch(fullForward(model, prompt), K, T, eos);
          assert.deepEqual(cached.tokens[b], ref.tokens, `K ${K} prompt ${b}`);
          assert.ok(Math.abs((cached.scores[b] ?? NaN) - ref.score) < 1e-5, `K ${K} prompt ${b}: ${cached.scores[b]} vs ${ref.score}`);
        }
      }
    });

    it('the KV cache path equals the same search recomputing every row from scratch', async () => {
      const K = 3;
      const T = 6;
      const V = model.config.vocabSize;
      const eos = [model.config.eosTokenIds[0] ?? 0];
      const cached = await beamSearch(model, PROMPTS, { numBeams: K, maxNewTokens: T, eosTokenIds: eos, session: { intraOpNumThreads: 1 } });
      // Full sequences of the current rows; every step a plain forward pass over all of them.
      let rows: number[][] = PROMPTS.map((p) => [...p]);
      const lastLogits = async (seqs: number[][]): Promise<Float32Array> => {
        const batch = padBatch(seqs, 'right', 0);
        const { logits } = await computeLogits(model, batch, { session: { intraOpNumThreads: 1 } });
        const out = new Float32Array(seqs.length * V);
        seqs.forEach((s, i) => out.set(logits.subarray((i * batch.seq + s.length - 1) * V, (i * batch.seq + s.length) * V), i * V));
        return out;
      };
      const advance: BeamAdvance = (parents, tokens) => {
        // An unused row repeats its prompt (its logits are ignored).
        rows = Array.from(parents, (p, r) => (p < 0 ? [...(PROMPTS[Math.floor(r / K)] ?? [])] : [...(rows[p] ?? []), tokens[r] ?? 0]));
        return lastLogits(rows);
      };
      const scratch = await searchBeams(await lastLogits(rows), PROMPTS.length, V, { numBeams: K, maxNewTokens: T, eosTokenIds: eos }, advance);
      assert.deepEqual(cached.tokens, scratch.map((s) => [...s.tokens]));
      scratch.forEach((s, b) => assert.ok(Math.abs(s.sumLogprob - (cached.sumLogprobs[b] ?? NaN)) < 1e-5, `prompt ${b}`));
      // Beam search finds a sequence at least as likely (per token) as greedy's here.
      const greedy = await beamSearch(model, PROMPTS, { numBeams: 1, maxNewTokens: T, eosTokenIds: eos, session: { intraOpNumThreads: 1 } });
      cached.scores.forEach((s, b) => assert.ok(s >= (greedy.scores[b] ?? Infinity) - 1e-9, `prompt ${b}`));
    });

    it('runner.generate with numBeams and a LoRA equals the reference search scored through the runner\'s score graph', async () => {
      const runner = new LoraRunner(model, new LoraAdapter({ r: 2, alpha: 8, dropout: 0, targets: ['c_attn', 'c_fc'] }, new Rng(3)), { device: 'cpu', threads: 1 });
      try {
        await runner.session('score', 1, 2); // creates the LoRA modules
        const random = new Rng(11);
        for (const m of runner.adapter.ordered()) for (let i = 0; i < m.b.length; i++) m.b[i] = random.uniform() * 2 - 1;
        const prompts = [[5, 9, 42, 7], [300, 2]];
        const K = 2;
        const T = 3;
        const V = model.config.vocabSize;
        const generated = await runner.generate(prompts, { maxNewTokens: T, eosTokenIds: [], numBeams: K });
        for (const [row, prompt] of prompts.entries()) {
          // log p(v | prompt + prefix) for every v through tokenLogprobs (targets are labels shifted by one).
          const next: NextLogprobs = async (prefixes) => Promise.all(prefixes.map(async (prefix) => {
            const seq = [...prompt, ...prefix];
            const examples = Array.from({ length: V }, (_, v) => ({ ids: [...seq, v], labels: [...seq.map(() => IGNORE_INDEX), v] }));
            const logp = await runner.tokenLogprobs(makeBatch(examples, seq.length + 1, 0));
            return Float64Array.from({ length: V }, (_, v) => logp[v * (seq.length + 1) + seq.length - 1] ?? -Infinity);
          }));
          const ref = await referenceBeamSearch(next, K, T, []);
          assert.deepEqual(generated[row], ref.tokens, `row ${row}`);
        }
        const greedy = await runner.generate(prompts, { maxNewTokens: T, eosTokenIds: [] });
        const one = await runner.generate(prompts, { maxNewTokens: T, eosTokenIds: [], numBeams: 1 });
        assert.deepEqual(one, greedy);
      } finally {
        await runner.dispose();
      }
    });
  });

  it('generation accuracy asks the runner for train.evalBeams beams', async () => {
    const tok = ModelTokenizer.load(LLAMA_DIR, 32000);
    const items = readChoiceItems(path.join(COMMONSENSE_DIR, 'boolq/test.json'), 3);
    const seen: (number | undefined)[] = [];
    const runner = {
      generate: (prompts: readonly (readonly number[])[], options: { numBeams?: number }): Promise<number[][]> => {
        seen.push(options.numBeams);
        return Promise.resolve(prompts.map(() => tok.encode('true', { addSpecialTokens: false })));
      },
    };
    await generationAccuracy(runner, items, tok, { maxNewTokens: 32, numBeams: 4, batchSize: 2, maxLength: 512 });
    await generationAccuracy(runner, items, tok, { maxNewTokens: 32, batchSize: 3, maxLength: 512 });
    assert.deepEqual(seen, [4, 4, 1]);
  });

  it('config: train.evalBeams defaults to 4 (the authors\' num_beams); a bad value names $.train.evalBeams', () => {
    const config = (train: Record<string, unknown>) => JSON.stringify({ name: 'n', task: 'tune', model: 'gpt2', data: { train: 'x.json' }, train });
    const ok = validateConfigText(config({ evalGenerationTokens: 32 }), '/x/a.peft.json');
    assert.ok(ok.ok && ok.config.task === 'tune');
    assert.equal(ok.config.train.evalBeams, 4);
    const one = validateConfigText(config({ evalBeams: 1 }), '/x/a.peft.json');
    assert.ok(one.ok && one.config.task === 'tune' && one.config.train.evalBeams === 1);
    for (const bad of [0, 2.5, '4', -1]) {
      const result = validateConfigText(config({ evalBeams: bad }), '/x/a.peft.json');
      assert.equal(result.ok, false, `evalBeams ${JSON.stringify(bad)}`);
      if (!result.ok) assert.ok(result.issues.some((i) => i.jsonPath === '$.train.evalBeams'), JSON.stringify(result.issues));
    }
  });
});
