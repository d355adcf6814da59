// Cross-entropy with ignore-index masking, per-example gradients and output-gradient hooks (KFAC statistics).
import * as assert from 'node:assert/strict';
import { crossEntropy, GraphBuilder, gradients, perExampleLinearGradient, secondMoment } from '../../../src/engine/graph';
import { checkGradients, feed, numbers, randomValues, rng, session } from './ortHarness';

const N = 5, V = 4;

/** Reference: mean over kept tokens of -log softmax(logits)[label]; 0 when none is kept. */
function referenceCrossEntropy(logits: number[], labels: number[], ignore: number): number {
  let total = 0;
  let kept = 0;
  labels.forEach((label, i) => {
    if (label === ignore) return;
    const row = logits.slice(i * V, (i + 1) * V);
    const m = Math.max(...row);
    const lse = m + Math.log(row.reduce((s, z) => s + Math.exp(z - m), 0));
    total += lse - row[label];
    kept++;
  });
  return kept === 0 ? 0 : total / kept;
}

async function runCrossEntropy(logits: number[], labels: number[]): Promise<{ loss: number; grad: number[] }> {
  const b = new GraphBuilder();
  const z = b.input('logits', 'float64', [N, V], { trainable: true });
  const y = b.input('labels', 'int64', [N]);
  b.output(crossEntropy(b, z, y, { ignoreIndex: -100 }), 'loss');
  gradients(b, b.outputs[0]);
  const out = await (await session(b)).run({ logits: feed('float64', [N, V], logits), labels: feed('int64', [N], labels) });
  return { loss: numbers(out.loss, 'loss')[0], grad: numbers(out['grad.logits'], 'grad') };
}

describe('graph: cross-entropy with ignore-index', () => {
  const logits = randomValues(N * V, rng(4), -2, 2);

  it('averages over kept tokens only', async () => {
    const labels = [2, -100, 0, 3, -100];
    const { loss } = await runCrossEntropy(logits, labels);
    assert.ok(Math.abs(loss - referenceCrossEntropy(logits, labels, -100)) < 1e-12);
    const { loss: allKept } = await runCrossEntropy(logits, [2, 1, 0, 3, 1]);
    assert.ok(Math.abs(allKept - referenceCrossEntropy(logits, [2, 1, 0, 3, 1], -100)) < 1e-12);
  });

  it('gives loss 0 and zero gradients when every token is ignored', async () => {
    const { loss, grad } = await runCrossEntropy(logits, [-100, -100, -100, -100, -100]);
    assert.equal(loss, 0);
    assert.ok(grad.every((g) => g === 0));
  });

  it('ignored rows get no gradient; the gradient matches finite differences', async () => {
    const labels = [2, -100, 0, 3, -100];
    const { grad } = await runCrossEntropy(logits, labels);
    for (const row of [1, 4]) assert.ok(grad.slice(row * V, (row + 1) * V).every((g) => g === 0));
    await checkGradients({
      name: 'cross-entropy',
      inputs: [{ name: 'z', shape: [N, V], trainable: true, values: logits }, { name: 'y', dtype: 'int64', shape: [N], values: labels }],
      build: (b, t) => crossEntropy(b, t.z, t.y),
      scalarLoss: true,
    });
  });
});

describe('graph: per-example gradients and output-gradient hooks', () => {
  const Bn = 3, T = 4, IN = 5, OUT = 6;
  const rand = rng(8);
  const xv = randomValues(Bn * T * IN, rand);
  const wv = randomValues(IN * OUT, rand);
  const rv = randomValues(Bn * T * OUT, rand);

  /** loss = sum(tanh(x W) * R); W trainable (input) or frozen (initializer). */
  function build(trainable: boolean): { b: GraphBuilder; hookName: string } {
    const b = new GraphBuilder();
    const x = b.input('x', 'float64', [Bn, T, IN]);
    const w = trainable ? b.input('w', 'float64', [IN, OUT], { trainable: true }) : b.initializer('w', 'float64', [IN, OUT], Float64Array.from(wv));
    const y = b.named(b.matmul(x, w), 'layer.y');
    const loss = b.reduceSum(b.mul(b.tanh(y), b.constant('float64', [Bn, T, OUT], rv)), [0, 1, 2], false);
    b.output(loss, 'loss');
    // Frozen W can still be a differentiation target (GradOT needs dL/dW of frozen weights).
    const { hookGrads } = gradients(b, loss, { hooks: [y], wrt: [w] });
    const dy = hookGrads.get(y);
    assert.ok(dy);
    b.output(perExampleLinearGradient(b, x, dy), 'per_example.w');
    b.output(secondMoment(b, x), 'kfac.A');
    b.output(secondMoment(b, dy), 'kfac.G');
    return { b, hookName: 'grad.layer.y' };
  }

  it('per-example gradients sum to the batch gradient, in the same run as the loss', async () => {
    const { b } = build(true);
    const out = await (await session(b)).run({ x: feed('float64', [Bn, T, IN], xv), w: feed('float64', [IN, OUT], wv) });
    const per = numbers(out['per_example.w'], 'per_example.w');
    const batch = numbers(out['grad.w'], 'grad.w');
    assert.equal(per.length, Bn * IN * OUT);
    batch.forEach((g, i) => {
      const s = per[i] + per[i + IN * OUT] + per[i + 2 * IN * OUT];
      assert.ok(Math.abs(s - g) < 1e-12 * Math.max(1, Math.abs(g)), `element ${i}: ${s} vs ${g}`);
    });
    // Example 0's gradient alone equals the gradient of example 0's loss (FD on W with the others' R zeroed
    // is equivalent to x_0^T dy_0, checked directly here).
    const dy = numbers(out['grad.layer.y'], 'dy');
    for (let i = 0; i < IN; i++) for (let j = 0; j < OUT; j++) {
      let s = 0;
      for (let t = 0; t < T; t++) s += xv[t * IN + i] * dy[t * OUT + j];
      assert.ok(Math.abs(s - per[i * OUT + j]) < 1e-12);
    }
  });

  it('hooks give dL/dy on frozen layers (no trainable input), dL/dW of a frozen W, and KFAC A and G', async () => {
    const trained = await (await session(build(true).b)).run({ x: feed('float64', [Bn, T, IN], xv), w: feed('float64', [IN, OUT], wv) });
    const { b } = build(false);
    assert.equal(b.trainableInputs.length, 0);
    const out = await (await session(b)).run({ x: feed('float64', [Bn, T, IN], xv) });
    const dyFrozen = numbers(out['grad.layer.y'], 'dy');
    const dy = numbers(trained['grad.layer.y'], 'dy');
    dy.forEach((g, i) => assert.ok(Math.abs(g - dyFrozen[i]) < 1e-14));
    const gw = numbers(trained['grad.w'], 'grad.w');
    numbers(out['grad.w'], 'grad.w (frozen)').forEach((g, i) => assert.ok(Math.abs(g - gw[i]) < 1e-12));
    // A = E[x x^T] over the B*T rows.
    const a = numbers(out['kfac.A'], 'A');
    const rows = Bn * T;
    for (let i = 0; i < IN; i++) for (let j = 0; j < IN; j++) {
      let s = 0;
      for (let r = 0; r < rows; r++) s += xv[r * IN + i] * xv[r * IN + j];
      assert.ok(Math.abs(s / rows - a[i * IN + j]) < 1e-14, `A[${i},${j}]`);
    }
    const g = numbers(out['kfac.G'], 'G');
    let s00 = 0;
    for (let r = 0; r < rows; r++) s00 += dy[r * OUT] ** 2;
    assert.ok(Math.abs(s00 / rows - g[0]) < 1e-14 * Math.max(1, Math.abs(g[0])));
  });
});
