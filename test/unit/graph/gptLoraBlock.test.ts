// End-to-end gradient check of two GPT-style blocks (pre-LayerNorm, multi-head causal attention, tanh-GELU MLP,
// residuals) with LoRA on the attention projections, through a vocabulary projection and cross-entropy with
// ignored tokens; float64 on ORT CPU. Also checks that the backward graph never transposes a frozen weight.
import * as assert from 'node:assert/strict';
import { causalMask, crossEntropy, gelu, GraphBuilder, gradients, type Tensor } from '../../../src/engine/graph';
import { checkFloat32, checkGradients, randomValues, rng, type CaseInput, type GradCase } from './ortHarness';

const B = 2, T = 4, D = 8, H = 2, R = 2, V = 7, LAYERS = 2, ALPHA = 4;
const PROJ = ['q', 'k', 'v', 'o'] as const;

function loraInputs(): CaseInput[] {
  const out: CaseInput[] = [];
  for (let l = 0; l < LAYERS; l++) {
    for (const p of PROJ) {
      out.push({ name: `l${l}.${p}.lora_A`, shape: [D, R], trainable: true, lo: -0.5, hi: 0.5 });
      out.push({ name: `l${l}.${p}.lora_B`, shape: [R, D], trainable: true, lo: -0.5, hi: 0.5 });
    }
  }
  return out;
}

function buildModel(b: GraphBuilder, t: Record<string, Tensor>, dtype: 'float32' | 'float64'): Tensor {
  const rand = rng(2024);
  const weight = (shape: number[], scale = 0.4): Tensor => b.constant(dtype, shape, randomValues(shape.reduce((p, q) => p * q, 1), rand, -scale, scale));
  const mask = causalMask(b, T, dtype);
  const hd = D / H;
  let x = t.x;
  for (let l = 0; l < LAYERS; l++) {
    x = b.scope(`l${l}`, () => {
      const linear = (h: Tensor, name: (typeof PROJ)[number]): Tensor => {
        const base = b.add(b.matmul(h, weight([D, D])), weight([D], 0.1));
        const lora = b.matmul(b.matmul(h, t[`l${l}.${name}.lora_A`]), t[`l${l}.${name}.lora_B`]);
        return b.add(base, b.mul(lora, ALPHA / R));
      };
      const heads = (y: Tensor): Tensor => b.transpose(b.reshape(y, [B, T, H, hd]), [0, 2, 1, 3]);
      const h = b.layerNorm(x, weight([D], 1), weight([D], 0.1));
      const q = heads(linear(h, 'q'));
      const k = heads(linear(h, 'k'));
      const v = heads(linear(h, 'v'));
      const scores = b.add(b.mul(b.matmul(q, b.transposeLast2(k)), 1 / Math.sqrt(hd)), mask);
      const ctx = b.reshape(b.transpose(b.matmul(b.softmax(scores, -1), v), [0, 2, 1, 3]), [B, T, D]);
      const x1 = b.add(x, linear(ctx, 'o'));
      const h2 = b.layerNorm(x1, weight([D], 1), weight([D], 0.1));
      const mlp = b.add(b.matmul(gelu(b, b.add(b.matmul(h2, weight([D, 4 * D])), weight([4 * D], 0.1))), weight([4 * D, D])), weight([D], 0.1));
      return b.add(x1, mlp);
    });
  }
  const logits = b.matmul(b.reshape(b.layerNorm(x, weight([D], 1), weight([D], 0.1)), [B * T, D]), weight([D, V]));
  return crossEntropy(b, logits, t.labels, { ignoreIndex: -100 });
}

const gptCase: GradCase = {
  name: 'two GPT-2-style blocks with LoRA on q,k,v,o',
  inputs: [
    { name: 'x', shape: [B, T, D] },
    { name: 'labels', dtype: 'int64', shape: [B * T], values: [3, 1, -100, 6, 0, -100, 2, 5] },
    ...loraInputs(),
  ],
  build: buildModel,
  scalarLoss: true,
};

describe('graph: GPT-style blocks with LoRA, end to end', () => {
  it('LoRA gradients match central finite differences in float64', async () => {
    const err = await checkGradients(gptCase, 3, 1e-6, 1);
    assert.ok(err < 1e-6);
  });

  it('float32 LoRA gradients agree with float64', async () => {
    const rel = await checkFloat32(gptCase, 3);
    assert.ok(rel < 1e-5);
  });

  it('the backward graph neither transposes nor differentiates frozen weights', () => {
    const b = new GraphBuilder();
    const tensors: Record<string, Tensor> = {};
    for (const i of gptCase.inputs) tensors[i.name] = b.input(i.name, i.dtype ?? 'float32', i.shape, { trainable: i.trainable });
    const loss = buildModel(b, tensors, 'float32');
    const forwardNodes = b.nodes.length;
    gradients(b, loss);
    const frozen = new Set(b.initializers.filter((r) => r.tensor.rank === 2 && r.tensor.shape[0] === D).map((r) => r.tensor.name));
    assert.ok(frozen.size >= 4 * LAYERS);
    const backward = b.nodes.slice(forwardNodes);
    for (const n of backward) {
      if (n.opType === 'Transpose') assert.ok(!frozen.has(n.inputs[0]), `${n.name} transposes frozen ${n.inputs[0]}`);
    }
    // Each frozen weight enters the backward only as the B operand of a Gemm (dX = dY W^T), never as a
    // gradient target: the number of Gemms reading it is at most one.
    for (const w of frozen) {
      const readers = backward.filter((n) => n.inputs.includes(w));
      assert.ok(readers.every((n) => n.opType === 'Gemm'), `${w} read by ${readers.map((n) => n.opType).join(',')}`);
      assert.ok(readers.length <= 1);
    }
  });
});
