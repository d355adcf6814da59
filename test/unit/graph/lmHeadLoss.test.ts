// The fused LM head + cross-entropy: same loss as crossEntropy over the projected logits, gradients w.r.t. the
// hidden states (label rows gathered from W) and the weight (shared P - Y), both weight layouts.
import * as assert from 'node:assert/strict';
import { crossEntropy, GraphBuilder, GraphBuildError, gradients, lmHeadCrossEntropy, type LmHeadCrossEntropyOptions } from '../../../src/engine/graph';
import { checkFloat32, checkGradients, feed, numbers, randomValues, rng, session, type GradCase } from './ortHarness';

const T = 6, D = 4, V = 7;
const LABELS = [3, -100, 0, 6, 2, -100];
type Layout = NonNullable<LmHeadCrossEntropyOptions['weightLayout']>;
const weightShape = (layout: Layout) => (layout === 'vocabByModel' ? [V, D] : [D, V]);

function lmCase(layout: Layout, trainWeight: boolean, labels = LABELS): GradCase {
  return {
    name: `lmHeadCrossEntropy ${layout}, weight ${trainWeight ? 'trained' : 'frozen'}`,
    inputs: [
      { name: 'h', shape: [T, D], trainable: true, lo: -2, hi: 2 },
      { name: 'w', shape: weightShape(layout), trainable: trainWeight, lo: -1.5, hi: 1.5 },
      { name: 'y', dtype: 'int64', shape: [T], values: labels },
    ],
    build: (b, t) => lmHeadCrossEntropy(b, t.h, t.w, t.y, { weightLayout: layout }),
    scalarLoss: true,
  };
}

/** Loss and gradients of the fused op and of crossEntropy(Gemm(...)) on the same float64 values. */
async function fusedAndReference(layout: Layout, labels: number[]): Promise<{ fused: Record<string, number[]>; reference: Record<string, number[]> }> {
  const rand = rng(21);
  const hv = randomValues(T * D, rand, -2, 2);
  const wv = randomValues(V * D, rand, -1.5, 1.5);
  const run = async (fused: boolean): Promise<Record<string, number[]>> => {
    const b = new GraphBuilder();
    const h = b.input('h', 'float64', [T, D], { trainable: true });
    const w = b.input('w', 'float64', weightShape(layout), { trainable: true });
    const y = b.input('y', 'int64', [T]);
    const loss = fused
      ? lmHeadCrossEntropy(b, h, w, y, { weightLayout: layout })
      : crossEntropy(b, b.gemm(h, w, undefined, { transB: layout === 'vocabByModel' }), y);
    b.output(loss, 'loss');
    gradients(b, loss);
    const out = await (await session(b)).run({ h: feed('float64', [T, D], hv), w: feed('float64', weightShape(layout), wv), y: feed('int64', [T], labels) });
    return { loss: numbers(out.loss, 'loss'), h: numbers(out['grad.h'], 'grad.h'), w: numbers(out['grad.w'], 'grad.w') };
  };
  return { fused: await run(true), reference: await run(false) };
}

function maxAbsDiff(a: number[], b: number[]): number {
  assert.equal(a.length, b.length);
  return a.reduce((m, x, i) => Math.max(m, Math.abs(x - b[i])), 0);
}

describe('graph: fused LM head + cross-entropy', () => {
  for (const layout of ['vocabByModel', 'modelByVocab'] as const) {
    it(`${layout}: same loss and gradients as crossEntropy over Gemm logits`, async () => {
      const { fused, reference } = await fusedAndReference(layout, LABELS);
      assert.ok(Math.abs(fused.loss[0] - reference.loss[0]) < 1e-12, `loss ${fused.loss[0]} vs ${reference.loss[0]}`);
      assert.ok(maxAbsDiff(fused.h, reference.h) < 1e-12);
      assert.ok(maxAbsDiff(fused.w, reference.w) < 1e-12);
      // Ignored tokens get no gradient.
      for (const row of [1, 5]) assert.ok(fused.h.slice(row * D, (row + 1) * D).every((g) => g === 0));
    });

    for (const trainWeight of [true, false]) {
      const c = lmCase(layout, trainWeight);
      it(`${c.name}: gradients match central finite differences (float64) and float32 agrees`, async () => {
        assert.ok((await checkGradients(c, 13)) < 1e-6);
        assert.ok((await checkFloat32(c, 13)) < 1e-5);
      });
    }
  }

  it('gives loss 0 and zero gradients when every token is ignored', async () => {
    const { fused } = await fusedAndReference('vocabByModel', LABELS.map(() => -100));
    assert.equal(fused.loss[0], 0);
    assert.ok([...fused.h, ...fused.w].every((g) => g === 0));
  });

  it('without a weight gradient, the backward never builds the [T, V] P - Y (no ScatterElements)', () => {
    const b = new GraphBuilder();
    const h = b.input('h', 'float32', [T, D], { trainable: true });
    const w = b.initializer('w', 'float32', [V, D], new Float32Array(V * D));
    const loss = lmHeadCrossEntropy(b, h, w, b.input('y', 'int64', [T]));
    const forward = b.nodes.length;
    gradients(b, loss);
    const ops = b.nodes.slice(forward).map((n) => n.opType);
    assert.ok(!ops.includes('ScatterElements'), ops.join(','));
    assert.equal(ops.filter((op) => op === 'Gemm').length, 1);
  });

  it('rejects mismatched shapes, naming the tensors and the layout', () => {
    const b = new GraphBuilder();
    const h = b.input('h', 'float32', [T, D]);
    const y = b.input('y', 'int64', [T]);
    const bad = (fn: () => unknown, re: RegExp) => assert.throws(fn, (e: unknown) => e instanceof GraphBuildError && re.test(e.message));
    bad(() => lmHeadCrossEntropy(b, h, b.input('w1', 'float32', [D, V]), y), /weight \[V,d\].*'vocabByModel'.*w1 float32\[4,7\]/);
    bad(() => lmHeadCrossEntropy(b, h, b.input('w2', 'float32', [V, D]), y, { weightLayout: 'modelByVocab' }), /weight \[d,V\]/);
    bad(() => lmHeadCrossEntropy(b, h, b.input('w3', 'float64', [V, D]), y), /one float type/);
    bad(() => lmHeadCrossEntropy(b, h, b.input('w4', 'float32', [V, D]), b.input('y2', 'int64', [T + 1])), /int64 labels \[6\]/);
  });
});
