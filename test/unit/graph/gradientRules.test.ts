// Every gradient rule against central finite differences in float64 (relative error < 1e-6), and float32
// gradients against float64 ones (relative L2 < 1e-5), on random shapes and values run through ORT CPU.
import * as assert from 'node:assert/strict';
import { applyRope, dropout, gelu, gradients, GraphBuilder, rmsNorm, ropeTables, silu, swiglu } from '../../../src/engine/graph';
import { checkFloat32, checkGradients, type GradCase } from './ortHarness';

const POS = { lo: 0.5, hi: 2 };

const cases: GradCase[] = [
  {
    name: 'MatMul batched with broadcast batch dims',
    inputs: [{ name: 'a', shape: [2, 3, 4, 5], trainable: true }, { name: 'w', shape: [3, 5, 2], trainable: true }],
    build: (b, t) => b.matmul(t.a, t.w),
  },
  {
    name: 'MatMul activations x 2-D weight (Gemm backward)',
    inputs: [{ name: 'a', shape: [2, 3, 4], trainable: true }, { name: 'w', shape: [4, 5], trainable: true }],
    build: (b, t) => b.matmul(t.a, t.w),
  },
  {
    name: 'MatMul 2-D x batched',
    inputs: [{ name: 'a', shape: [3, 4], trainable: true }, { name: 'w', shape: [2, 4, 5], trainable: true }],
    build: (b, t) => b.matmul(t.a, t.w),
  },
  ...[false, true].flatMap((transA) =>
    [false, true].map((transB): GradCase => ({
      name: `Gemm transA=${transA} transB=${transB} with broadcast C`,
      inputs: [
        { name: 'a', shape: transA ? [4, 3] : [3, 4], trainable: true },
        { name: 'w', shape: transB ? [5, 4] : [4, 5], trainable: true },
        { name: 'c', shape: [5], trainable: true },
      ],
      build: (b, t) => b.gemm(t.a, t.w, t.c, { transA, transB, alpha: 0.75, beta: 1.25 }),
    })),
  ),
  {
    name: 'Gemm with a frozen weight only differentiates A',
    inputs: [{ name: 'a', shape: [3, 4], trainable: true }, { name: 'w', shape: [5, 4] }],
    build: (b, t) => b.gemm(t.a, t.w, undefined, { transB: true }),
  },
  ...(['add', 'sub', 'mul', 'div'] as const).map((op): GradCase => ({
    name: `${op} with broadcasting`,
    inputs: [{ name: 'x', shape: [2, 1, 4], trainable: true }, { name: 'y', shape: [3, 1], trainable: true, ...POS }],
    build: (b, t) => b[op](t.x, t.y),
  })),
  {
    name: 'Neg, Exp, Tanh, Sigmoid',
    inputs: [{ name: 'x', shape: [3, 4], trainable: true }],
    build: (b, t) => b.add(b.add(b.neg(b.exp(t.x)), b.tanh(t.x)), b.sigmoid(b.mul(t.x, 1.7))),
  },
  {
    name: 'Log, Sqrt, Reciprocal',
    inputs: [{ name: 'x', shape: [3, 4], trainable: true, ...POS }],
    build: (b, t) => b.add(b.add(b.log(t.x), b.sqrt(t.x)), b.reciprocal(t.x)),
  },
  {
    name: 'Pow with constant exponents 2, 3, -0.5',
    inputs: [{ name: 'x', shape: [3, 4], trainable: true, ...POS }],
    build: (b, t) => b.sum([b.pow(t.x, 2), b.pow(t.x, 3), b.pow(t.x, -0.5)]),
  },
  {
    name: 'a tensor used several times accumulates its gradient',
    inputs: [{ name: 'x', shape: [2, 3], trainable: true }],
    build: (b, t) => b.add(b.mul(t.x, t.x), b.mul(b.exp(t.x), t.x)),
  },
  {
    name: 'Reshape, Transpose, Unsqueeze, Squeeze',
    inputs: [{ name: 'x', shape: [2, 3, 4], trainable: true }],
    build: (b, t) => b.squeeze(b.unsqueeze(b.transpose(b.reshape(t.x, [6, 4]), [1, 0]), [0, 2]), [0]),
  },
  {
    name: 'Expand',
    inputs: [{ name: 'x', shape: [3, 1], trainable: true }],
    build: (b, t) => b.expand(t.x, [2, 3, 4]),
  },
  {
    name: 'Slice (negative indices, two axes)',
    inputs: [{ name: 'x', shape: [4, 5, 3], trainable: true }],
    build: (b, t) => b.slice(t.x, [1, -4], [3, -1], [0, 1]),
  },
  {
    name: 'Split with an unused part, Concat',
    inputs: [{ name: 'x', shape: [2, 7], trainable: true }, { name: 'y', shape: [2, 2], trainable: true }],
    build: (b, t) => {
      const [p, , r] = b.split(t.x, 1, [2, 3, 2]);
      return b.concat([r, t.y, p], 1);
    },
  },
  {
    name: 'Pad (zero padding, the adjoint of Slice)',
    inputs: [{ name: 'x', shape: [2, 3], trainable: true }],
    build: (b, t) => b.pad(t.x, [1, 0, 0, 2]),
  },
  {
    // In the float64 run the casts are no-ops; the float32 run exercises the Cast rule against float64.
    name: 'Cast to float64 and back',
    inputs: [{ name: 'x', shape: [3, 4], trainable: true }],
    build: (b, t, dtype) => b.cast(b.exp(b.cast(t.x, 'float64')), dtype),
  },
  {
    name: 'Gather rows with repeated indices (embedding)',
    inputs: [
      { name: 'table', shape: [5, 3], trainable: true },
      { name: 'ids', dtype: 'int64', shape: [2, 3], values: [1, 3, 1, 0, 4, 1] },
    ],
    build: (b, t) => b.gather(t.table, t.ids, 0),
  },
  {
    name: 'Gather along a middle axis with 2-D indices',
    inputs: [
      { name: 'x', shape: [2, 4, 3], trainable: true },
      { name: 'ids', dtype: 'int64', shape: [2, 2], values: [3, 0, 3, 1] },
    ],
    build: (b, t) => b.gather(t.x, t.ids, 1),
  },
  {
    name: 'Where',
    inputs: [
      { name: 'cond', dtype: 'bool', shape: [2, 3], values: [1, 0, 1, 0, 0, 1] },
      { name: 'x', shape: [2, 3], trainable: true },
      { name: 'y', shape: [3], trainable: true },
    ],
    build: (b, t) => b.where(t.cond, t.x, t.y),
  },
  {
    name: 'ReduceSum and ReduceMean (keepdims on and off)',
    inputs: [{ name: 'x', shape: [2, 3, 4], trainable: true }],
    build: (b, t) => b.add(b.reduceSum(t.x, [0, 2], false), b.reshape(b.reduceMean(t.x, [-1, 0], true), [3])),
  },
  {
    name: 'Softmax and LogSoftmax',
    inputs: [{ name: 'x', shape: [2, 5, 3], trainable: true }],
    build: (b, t) => b.add(b.softmax(t.x, 1), b.logSoftmax(t.x, -1)),
  },
  {
    name: 'LayerNormalization (last axis, scale and bias)',
    inputs: [{ name: 'x', shape: [2, 3, 6], trainable: true }, { name: 'g', shape: [6], trainable: true }, { name: 'h', shape: [6], trainable: true }],
    build: (b, t) => b.layerNorm(t.x, t.g, t.h, { epsilon: 1e-5 }),
  },
  {
    name: 'LayerNormalization over two axes, no bias',
    inputs: [{ name: 'x', shape: [2, 3, 4], trainable: true }, { name: 'g', shape: [3, 4], trainable: true }],
    build: (b, t) => b.layerNorm(t.x, t.g, undefined, { axis: 1 }),
  },
  {
    name: 'RMSNorm',
    inputs: [{ name: 'x', shape: [2, 3, 6], trainable: true }, { name: 'g', shape: [6], trainable: true }],
    build: (b, t) => rmsNorm(b, t.x, t.g, 1e-6),
  },
  {
    name: 'tanh-GELU',
    inputs: [{ name: 'x', shape: [3, 5], trainable: true, lo: -3, hi: 3 }],
    build: (b, t) => gelu(b, t.x),
  },
  {
    name: 'SiLU and SwiGLU',
    inputs: [{ name: 'x', shape: [3, 5], trainable: true, lo: -3, hi: 3 }, { name: 'u', shape: [3, 5], trainable: true }],
    build: (b, t) => b.add(silu(b, t.x), swiglu(b, t.x, t.u)),
  },
  {
    name: 'dropout with a fed mask',
    inputs: [
      { name: 'x', shape: [3, 4], trainable: true },
      { name: 'mask', shape: [3, 4], values: [1, 0, 1, 1, 0, 0, 1, 1, 1, 0, 1, 1] },
    ],
    build: (b, t) => dropout(b, t.x, t.mask, 0.25),
  },
  {
    name: 'RoPE rotate-half',
    inputs: [{ name: 'x', shape: [2, 2, 5, 4], trainable: true }],
    build: (b, t, dtype) => {
      const { cos, sin } = ropeTables(b, 5, 4, dtype);
      return applyRope(b, t.x, cos, sin);
    },
  },
];

describe('graph: gradient rules vs central finite differences (float64, ORT CPU)', () => {
  for (const c of cases) {
    it(c.name, async () => {
      const err = await checkGradients(c, 11);
      assert.ok(err < 1e-6, `${c.name}: ${err}`);
    });
  }
});

describe('graph: float32 gradients agree with float64', () => {
  it('for every rule case', async () => {
    for (const c of cases) {
      const rel = await checkFloat32(c, 5);
      assert.ok(rel < 1e-5, `${c.name}: ${rel}`);
    }
  });
});

describe('graph: transpose of a transpose is emitted as one Transpose', () => {
  it('composes permutations (and drops identities) with the right values and gradients', async () => {
    const c: GradCase = {
      name: 'Transpose composition',
      inputs: [{ name: 'x', shape: [2, 3, 4, 5], trainable: true }],
      build: (b, t) => {
        const y = b.transpose(b.transpose(t.x, [0, 2, 1, 3]), [3, 0, 2, 1]);
        const back = b.transpose(b.transpose(t.x, [1, 0, 3, 2]), [1, 0, 3, 2]);
        assert.equal(back, t.x);
        assert.deepEqual(y.shape, [5, 2, 3, 4]);
        return b.add(y, b.transpose(t.x, [3, 0, 1, 2]));
      },
    };
    assert.ok((await checkGradients(c, 4)) < 1e-6);
    const b = new GraphBuilder();
    const x = b.input('x', 'float32', [2, 3, 4]);
    b.output(b.transpose(b.transpose(x, [1, 0, 2]), [0, 2, 1]), 'y');
    const transposes = b.nodes.filter((n) => n.opType === 'Transpose');
    assert.equal(transposes.length, 2);
    assert.deepEqual(transposes[1].inputs, ['x']);
    const perm = transposes[1].attrs.perm;
    assert.ok(perm.kind === 'ints');
    assert.deepEqual(perm.value, [1, 2, 0]);
  });
});

describe('graph: only paths from differentiated tensors to the loss are differentiated', () => {
  it('emits no backward nodes for a frozen branch or for a branch that does not reach the loss', () => {
    const b = new GraphBuilder();
    const x = b.input('x', 'float32', [3, 4]);
    const w = b.input('w', 'float32', [4, 2], { trainable: true });
    const frozenBranch = b.exp(b.matmul(x, b.initializer('f', 'float32', [4, 2], new Float32Array(8).fill(0.1))));
    const trainedBranch = b.matmul(x, w);
    b.output(b.tanh(trainedBranch), 'unused_for_loss');
    const loss = b.reduceSum(b.mul(frozenBranch, trainedBranch), [0, 1], false);
    const forward = b.nodes.length;
    gradients(b, loss);
    const backward = b.nodes.slice(forward);
    // d loss/d w = x^T (dL/dsum broadcast * frozenBranch): ReduceSum's gradient (Reshape + Expand), one Mul,
    // one Gemm (x^T g, no transpose copy), the output Identity; nothing flows into Exp, the frozen MatMul or Tanh.
    assert.deepEqual(backward.map((n) => n.opType), ['Reshape', 'Expand', 'Mul', 'Gemm', 'Identity']);
  });
});

describe('graph: LayerNormalization backward statistics', () => {
  /** Op types of the backward of loss = sum(LayerNorm(x)) in the given dtype. */
  function backwardOps(dtype: 'float32' | 'float64'): { forwardOutputs: number; ops: string[] } {
    const b = new GraphBuilder();
    const x = b.input('x', dtype, [2, 3, 4], { trainable: true });
    const y = b.layerNorm(x, b.constant(dtype, [4], [1, 2, 3, 4]), b.constant(dtype, [4], [0, 0, 1, 1]));
    const loss = b.reduceSum(y, [0, 1, 2], false);
    const forward = b.nodes.length;
    const forwardOutputs = b.nodes.find((n) => n.opType === 'LayerNormalization')?.outputs.length ?? 0;
    gradients(b, loss);
    return { forwardOutputs, ops: b.nodes.slice(forward).map((n) => n.opType) };
  }

  it('float32 reuses the node\'s Mean/InvStdDev outputs; float64 recomputes them (those outputs would be float32)', () => {
    const f32 = backwardOps('float32');
    assert.equal(f32.forwardOutputs, 3);
    assert.ok(!f32.ops.includes('Sqrt') && !f32.ops.includes('Reciprocal'), f32.ops.join(','));
    const f64 = backwardOps('float64');
    assert.equal(f64.forwardOutputs, 1);
    assert.ok(f64.ops.includes('Sqrt') && f64.ops.includes('Reciprocal'), f64.ops.join(','));
  });
});
