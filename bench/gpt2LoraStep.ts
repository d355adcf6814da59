// A GPT-2-small-shaped LoRA training step built with the project's graph builder and autodiff: random frozen
// weights (initializers, streamed to an external data file), LoRA A/B as trainable inputs on c_attn only
// (q, k, v in one projection, as PEFT's default target for GPT-2), tied LM head, token cross-entropy.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { causalMask, gelu, gradients, GraphBuilder, saveModel, type Tensor } from '../src/engine/graph';
import { createSession, hostTensor, type FeedTensors, type RuntimeSession } from '../src/engine/runtime';
import { lmHeadLoss, type LmHeadLossVariant } from './lmHeadLoss';
import { matmulFlops } from './matmul';
import { lazyConstantFloat32, lazyRandomFloat32, mulberry32, randomFloat32 } from './randomWeights';

export interface Gpt2StepConfig {
  layers: number;
  dModel: number;
  heads: number;
  batch: number;
  seq: number;
  vocab: number;
  loraRank: number;
  loraAlpha: number;
  /** How the LM head and loss are built (see lmHeadLoss.ts); 'lmHeadCrossEntropy' = the graph library's fused op. */
  lmHeadLoss: LmHeadLossVariant;
}

export const GPT2_SMALL_STEP: Gpt2StepConfig = {
  layers: 12, dModel: 768, heads: 12, batch: 4, seq: 128, vocab: 50257, loraRank: 8, loraAlpha: 16, lmHeadLoss: 'lmHeadCrossEntropy',
};

interface CountedMatMul { m: number; k: number; n: number; count: number; backwardFactor: number }

/**
 * MatMul FLOPs of one step, counted analytically as 2mkn per product (non-matmul ops are not counted).
 * Forward, with T = batch*seq tokens, per layer: c_attn T*d*3d, LoRA T*d*r + T*r*3d, scores and
 * attention-times-values batch*heads*(S*hd*S + S*S*hd), c_proj T*d*d, c_fc T*d*4d, mlp c_proj T*4d*d;
 * then the LM head T*d*V. Backward, relative to the forward product: 1x for products with a frozen weight
 * (only dX), except layer 0's c_attn (its input does not depend on a trainable tensor: 0x); 2x for the attention
 * products (both operands are activations) and LoRA B (dB and dU); LoRA A: 1x (dA) plus 1x for dX above layer 0.
 */
export function stepFlops(c: Gpt2StepConfig): { forward: number; step: number } {
  const t = c.batch * c.seq;
  const d = c.dModel;
  const hd = d / c.heads;
  const bh = c.batch * c.heads;
  const list: CountedMatMul[] = [];
  for (let l = 0; l < c.layers; l++) {
    list.push(
      { m: t, k: d, n: 3 * d, count: 1, backwardFactor: l === 0 ? 0 : 1 },
      { m: t, k: d, n: c.loraRank, count: 1, backwardFactor: l === 0 ? 1 : 2 },
      { m: t, k: c.loraRank, n: 3 * d, count: 1, backwardFactor: 2 },
      { m: c.seq, k: hd, n: c.seq, count: bh, backwardFactor: 2 },
      { m: c.seq, k: c.seq, n: hd, count: bh, backwardFactor: 2 },
      { m: t, k: d, n: d, count: 1, backwardFactor: 1 },
      { m: t, k: d, n: 4 * d, count: 1, backwardFactor: 1 },
      { m: t, k: 4 * d, n: d, count: 1, backwardFactor: 1 },
    );
  }
  list.push({ m: t, k: d, n: c.vocab, count: 1, backwardFactor: 1 });
  let forward = 0;
  let step = 0;
  for (const x of list) {
    const f = matmulFlops(x.m, x.k, x.n) * x.count;
    forward += f;
    step += f * (1 + x.backwardFactor);
  }
  return { forward, step };
}

interface BuiltStep {
  builder: GraphBuilder;
  loraInputs: Tensor[];
  /** Names of the nodes emitted before gradients(): the rest of the graph is the backward pass. */
  forwardNodeNames: Set<string>;
}

/** Builds forward (+ backward when `train`) for the config; weights are seeded per tensor name index. */
export function buildGpt2LoraStep(c: Gpt2StepConfig, train: boolean): BuiltStep {
  const b = new GraphBuilder(train ? 'gpt2_lora_train_step' : 'gpt2_lora_forward');
  const t = c.batch * c.seq;
  const d = c.dModel;
  const hd = d / c.heads;
  let seed = 1;
  const frozen = (name: string, shape: number[], scale = 0.02) =>
    b.initializer(name, 'float32', shape, lazyRandomFloat32(shape.reduce((p, q) => p * q, 1), seed++, scale));
  const constant = (name: string, n: number, v: number) => b.initializer(name, 'float32', [n], lazyConstantFloat32(n, v));

  const ids = b.input('input_ids', 'int64', [t]);
  const labels = b.input('labels', 'int64', [t]);
  const wte = frozen('wte', [c.vocab, d]);
  const wpe = frozen('wpe', [c.seq, d], 0.01);
  const mask = causalMask(b, c.seq, 'float32');
  const loraScale = c.loraAlpha / c.loraRank;
  const loraInputs: Tensor[] = [];

  // h: [T, d] throughout, so every linear layer is one 2-D Gemm; attention reshapes to [B, H, S, hd].
  let h = b.add(b.reshape(b.gather(wte, ids), [c.batch, c.seq, d]), wpe);
  h = b.reshape(h, [t, d]);
  for (let l = 0; l < c.layers; l++) {
    h = b.scope(`h${l}`, () => {
      const x = b.layerNorm(h, constant(`h${l}.ln_1.g`, d, 1), constant(`h${l}.ln_1.b`, d, 0));
      const loraA = b.input(`h${l}.c_attn.lora_A`, 'float32', [d, c.loraRank], { trainable: true });
      const loraB = b.input(`h${l}.c_attn.lora_B`, 'float32', [c.loraRank, 3 * d], { trainable: true });
      loraInputs.push(loraA, loraB);
      const base = b.gemm(x, frozen(`h${l}.c_attn.w`, [d, 3 * d]), constant(`h${l}.c_attn.b`, 3 * d, 0));
      // Scale the rank-r intermediate [T, r], not the [T, 3d] product: the same math, and the Mul (and its
      // gradient) then touch r/3d = 1/288 of the elements.
      const qkv = b.add(base, b.matmul(b.mul(b.matmul(x, loraA), loraScale), loraB));
      const heads = (u: Tensor) => b.transpose(b.reshape(u, [c.batch, c.seq, c.heads, hd]), [0, 2, 1, 3]);
      const [q, k, v] = b.split(qkv, 1, [d, d, d]).map(heads);
      const scores = b.add(b.matmul(b.mul(q, 1 / Math.sqrt(hd)), b.transposeLast2(k)), mask);
      const att = b.matmul(b.softmax(scores, -1), v);
      const merged = b.reshape(b.transpose(att, [0, 2, 1, 3]), [t, d]);
      let r = b.add(h, b.gemm(merged, frozen(`h${l}.attn.c_proj.w`, [d, d]), constant(`h${l}.attn.c_proj.b`, d, 0)));
      const x2 = b.layerNorm(r, constant(`h${l}.ln_2.g`, d, 1), constant(`h${l}.ln_2.b`, d, 0));
      const fc = gelu(b, b.gemm(x2, frozen(`h${l}.mlp.c_fc.w`, [d, 4 * d]), constant(`h${l}.mlp.c_fc.b`, 4 * d, 0)));
      r = b.add(r, b.gemm(fc, frozen(`h${l}.mlp.c_proj.w`, [4 * d, d]), constant(`h${l}.mlp.c_proj.b`, d, 0)));
      return r;
    });
  }
  const hf = b.layerNorm(h, constant('ln_f.g', d, 1), constant('ln_f.b', d, 0));
  const loss = lmHeadLoss(b, hf, wte, labels, c.lmHeadLoss); // tied LM head: wte [V, d] used transposed
  b.output(loss, 'loss');
  const forwardNodeNames = new Set(b.nodes.map((n) => n.name));
  if (train) gradients(b, loss);
  return { builder: b, loraInputs, forwardNodeNames };
}

/**
 * The step's tail alone: final LayerNorm, tied LM head and cross-entropy, forward and backward to the hidden
 * state (fed as a trainable input), to measure what the vocabulary projection and the loss cost.
 */
export function buildLmHeadLossStep(c: Gpt2StepConfig): GraphBuilder {
  const b = new GraphBuilder('gpt2_lm_head_loss');
  const t = c.batch * c.seq;
  const d = c.dModel;
  const h = b.input('hidden', 'float32', [t, d], { trainable: true });
  const labels = b.input('labels', 'int64', [t]);
  const wte = b.initializer('wte', 'float32', [c.vocab, d], lazyRandomFloat32(c.vocab * d, 1, 0.02));
  const hf = b.layerNorm(h, b.initializer('ln_f.g', 'float32', [d], lazyConstantFloat32(d, 1)), b.initializer('ln_f.b', 'float32', [d], lazyConstantFloat32(d, 0)));
  const loss = lmHeadLoss(b, hf, wte, labels, c.lmHeadLoss);
  b.output(loss, 'loss');
  gradients(b, loss);
  return b;
}

/** Random hidden states and labels for the tail graph. */
export function tailFeeds(c: Gpt2StepConfig): FeedTensors {
  const tokens = c.batch * c.seq;
  const next = mulberry32(99);
  const labels = BigInt64Array.from({ length: tokens }, () => BigInt(Math.floor(next() * c.vocab)));
  return {
    hidden: hostTensor('hidden', randomFloat32(tokens * c.dModel, 5, 1), [tokens, c.dModel]),
    labels: hostTensor('labels', labels, [tokens]),
  };
}

/** Saves and opens the tail graph alone (for comparing LM-head/loss variants). */
export async function openTailSession(c: Gpt2StepConfig, threads: number, allowSpinning = true): Promise<{ session: RuntimeSession; dispose(): Promise<void> }> {
  const dir = mkdtempSync(path.join(tmpdir(), 'peft-bench-tail-'));
  try {
    const file = path.join(dir, 'tail.onnx');
    saveModel(buildLmHeadLossStep(c), file);
    const session = await createSession({ path: file }, { executionProvider: 'cpu', intraOpNumThreads: threads, allowSpinning, label: `tail ${c.lmHeadLoss}` });
    return { session, async dispose() { await session.dispose(); rmSync(dir, { recursive: true, force: true }); } };
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
}

export interface Gpt2StepSessions {
  forward: RuntimeSession;
  train: RuntimeSession;
  /** LM head + loss, forward and backward (see buildLmHeadLossStep). */
  tail: RuntimeSession;
  tailFeeds: FeedTensors;
  feeds: FeedTensors;
  buildMs: number;
  /** Temp folder holding the graphs and, with profiling, ORT's profile JSON; removed by dispose(). */
  profileDir: string;
  forwardNodeNames: Set<string>;
  /** Nodes in the train graph as built (before ORT's fusions). */
  trainNodeCount: number;
  dispose(): Promise<void>;
}

/** Builds both graphs, saves them (weights as external data) in a temp dir, and opens ORT CPU sessions. */
export async function openGpt2StepSessions(c: Gpt2StepConfig, options: { threads: number; profile: boolean; allowSpinning: boolean }): Promise<Gpt2StepSessions> {
  const t0 = performance.now();
  const dir = mkdtempSync(path.join(tmpdir(), 'peft-bench-gpt2-'));
  const sessions: RuntimeSession[] = [];
  try {
    let loraInputs: Tensor[] = [];
    let forwardNodeNames = new Set<string>();
    let trainNodeCount = 0;
    for (const train of [false, true]) {
      const built = buildGpt2LoraStep(c, train);
      loraInputs = built.loraInputs;
      forwardNodeNames = built.forwardNodeNames;
      trainNodeCount = built.builder.nodes.length;
      const file = path.join(dir, train ? 'train.onnx' : 'forward.onnx');
      saveModel(built.builder, file);
      sessions.push(await createSession({ path: file }, {
        executionProvider: 'cpu', intraOpNumThreads: options.threads, allowSpinning: options.allowSpinning, label: path.basename(file),
        ...(train && options.profile ? { enableProfiling: true, profileFilePrefix: path.join(dir, 'profile') } : {}),
      }));
    }
    const tailFile = path.join(dir, 'tail.onnx');
    saveModel(buildLmHeadLossStep(c), tailFile);
    sessions.push(await createSession({ path: tailFile }, { executionProvider: 'cpu', intraOpNumThreads: options.threads, allowSpinning: options.allowSpinning, label: 'tail.onnx' }));
    const tokens = c.batch * c.seq;
    const next = mulberry32(99);
    const ids = BigInt64Array.from({ length: tokens }, () => BigInt(Math.floor(next() * c.vocab)));
    const labels = BigInt64Array.from({ length: tokens }, () => BigInt(Math.floor(next() * c.vocab)));
    const feeds: Record<string, ReturnType<typeof hostTensor>> = {
      input_ids: hostTensor('input_ids', ids, [tokens]),
      labels: hostTensor('labels', labels, [tokens]),
    };
    loraInputs.forEach((x, i) => {
      feeds[x.name] = hostTensor(x.name, randomFloat32(x.size, 1000 + i, 0.05), x.shape);
    });
    const [forward, train, tail] = sessions;
    if (!forward || !train || !tail) throw new Error('sessions were not created');
    return {
      forward, train, tail, tailFeeds: tailFeeds(c), feeds, buildMs: performance.now() - t0, profileDir: dir, forwardNodeNames, trainNodeCount,
      async dispose() {
        await Promise.all(sessions.map((s) => s.dispose()));
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (e) {
    await Promise.all(sessions.map((s) => s.dispose()));
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
}
