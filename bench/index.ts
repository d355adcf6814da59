// PEFT Lab benchmark: `npm run bench [-- --only=matmul,gpt2,torch] [--layers=12] [--repeats=3] [--threads=0]
// [--profile] [--no-spin] [--lm-head-loss=lmHeadCrossEntropy|crossEntropy|fused-recompute|fused-reuse]`; `--only=tail` compares LM-head/loss
// variants. Sections: the machine's ORT CPU MatMul rate; a GPT-2-small-shaped LoRA step built with the
// project's graph builder and autodiff; the same step in PyTorch (when /usr/bin/python3 has torch); `train`: a
// whole runTune run on that shape (tokens/s of full trainer steps, peak RSS); `--only=ist` adds the four layer
// selections (uniform, ist, random, lisa) side by side; `--only=compress` times GradOT compression of GPT-2 small;
// `--only=offsite` prints the offsite pipeline table of every emulator method on the tiny GPT-2 fixture.
import { spawnSync } from 'node:child_process';
import { cpus } from 'node:os';
import * as path from 'node:path';
import { GPT2_SMALL_STEP, openGpt2StepSessions, openTailSession, stepFlops, tailFeeds, type Gpt2StepConfig } from './gpt2LoraStep';
import { LM_HEAD_LOSS_VARIANTS, type LmHeadLossVariant } from './lmHeadLoss';
import { matmulFlops, measureMatMul, openMatMulSession, stepShapes, type MatMulResult } from './matmul';
import { summariseProfile } from './profile';
import { istSection, trainSection } from './trainRuns';
import { offsiteTable } from './offsiteCompare';
import { bestOf, bestOfInterleaved, fmt, formatTable, median, type BenchRow } from './report';
import type { RuntimeSession } from '../src/engine/runtime';
import { runTorchStep, torchAvailable, TORCH_INSTALL_HINT, type TorchStepTiming } from './torchBaseline';

process.env.ORT_DISABLE_TELEMETRY = '1';

const SECTIONS = ['matmul', 'gpt2', 'torch', 'tail', 'train', 'ist', 'compress', 'offsite'] as const;
/** Sections run when --only is not given ('tail' is a diagnostic: LM-head/loss variants compared). */
const DEFAULT_SECTIONS: readonly Section[] = ['matmul', 'gpt2', 'torch', 'train'];
type Section = (typeof SECTIONS)[number];
/** Steps of each whole training run (sections train and ist). */
const TRAIN_RUN_STEPS = 10;

interface BenchArgs {
  only: Set<Section>; layers: number; repeats: number; threads: number; profile: boolean; lmHeadLoss: LmHeadLossVariant;
  allowSpinning: boolean;
}

function parseArgs(argv: readonly string[]): BenchArgs {
  const args: BenchArgs = {
    only: new Set(DEFAULT_SECTIONS), layers: GPT2_SMALL_STEP.layers, repeats: 3, threads: 0, profile: false, lmHeadLoss: GPT2_SMALL_STEP.lmHeadLoss, allowSpinning: true,
  };
  const int = (flag: string, v: string, min: number): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) throw new Error(`${flag} expects an integer >= ${min}, got "${v}"`);
    return n;
  };
  for (const a of argv) {
    const [flag, value = ''] = a.split('=', 2);
    switch (flag) {
      case '--only': {
        const names = value.split(',').map((s) => s.trim()).filter(Boolean);
        const bad = names.filter((n) => !(SECTIONS as readonly string[]).includes(n));
        if (bad.length > 0 || names.length === 0) throw new Error(`--only expects some of ${SECTIONS.join(',')}, got "${value}"`);
        args.only = new Set(SECTIONS.filter((s) => names.includes(s)));
        break;
      }
      case '--layers': args.layers = int(flag, value, 1); break;
      case '--repeats': args.repeats = int(flag, value, 1); break;
      case '--threads': args.threads = int(flag, value, 0); break;
      case '--profile': args.profile = true; break;
      case '--no-spin': args.allowSpinning = false; break;
      case '--lm-head-loss': {
        const v = LM_HEAD_LOSS_VARIANTS.find((x) => x === value);
        if (!v) throw new Error(`--lm-head-loss expects one of ${LM_HEAD_LOSS_VARIANTS.join(', ')}, got "${value}"`);
        args.lmHeadLoss = v;
        break;
      }
      default: throw new Error(`unknown argument "${a}" (use --only=${SECTIONS.join(',')} --layers=N --repeats=N --threads=N --profile --no-spin --lm-head-loss=${LM_HEAD_LOSS_VARIANTS.join('|')})`);
    }
  }
  return args;
}

async function matmulSection(args: BenchArgs, rows: BenchRow[]): Promise<MatMulResult[]> {
  const c = GPT2_SMALL_STEP;
  const results: MatMulResult[] = [];
  for (const shape of stepShapes(c.batch * c.seq, c.dModel, c.vocab)) {
    const r = await measureMatMul(shape, Math.max(args.repeats, 3), args.threads, args.allowSpinning);
    results.push(r);
    rows.push({ section: 'matmul', metric: r.label, value: `${fmt(r.gflops)} GFLOP/s`, note: `best ${fmt(r.bestMs, 2)} ms` });
  }
  const best = Math.max(...results.map((r) => r.gflops));
  rows.push({ section: 'matmul', metric: 'MatMul rate (best shape)', value: `${fmt(best)} GFLOP/s`, note: 'ORT CPU float32' });
  return results;
}

interface Gpt2Result { forwardMs: number; stepMs: number; gflops: number }

async function gpt2Section(args: BenchArgs, matmulRate: number | undefined, rows: BenchRow[]): Promise<Gpt2Result> {
  const c: Gpt2StepConfig = { ...GPT2_SMALL_STEP, layers: args.layers, lmHeadLoss: args.lmHeadLoss };
  const tokens = c.batch * c.seq;
  const s = await openGpt2StepSessions(c, { threads: args.threads, profile: args.profile, allowSpinning: args.allowSpinning });
  try {
    rows.push({ section: 'gpt2', metric: 'build + save + load both graphs', value: `${fmt(s.buildMs / 1000, 1)} s`, note: `${s.trainNodeCount} nodes in the train graph` });
    // A reference MatMul timed in the same round-robin, so the ratio compares rates measured under the same load.
    const refShape = stepShapes(tokens, c.dModel, c.vocab)[1];
    if (!refShape) throw new Error('no reference MatMul shape');
    const ref = await openMatMulSession(refShape, args.threads, args.allowSpinning);
    const refRuns: number[] = [];
    let timings: { best: number; all: number[] }[];
    try {
      timings = await bestOfInterleaved(args.repeats, [
        () => s.forward.run(s.feeds), () => s.train.run(s.feeds), () => s.tail.run(s.tailFeeds),
        async () => { refRuns.push((await bestOf(3, 0, () => ref.run())).best); },
      ]);
    } finally {
      await ref.dispose();
    }
    const [fwd, step, tail] = timings;
    if (!fwd || !step || !tail) throw new Error('timings missing');
    const refBestMs = Math.min(...refRuns);
    const refGflops = matmulFlops(refShape.m, refShape.k, refShape.n) / (refBestMs * 1e6);
    const flops = stepFlops(c);
    const gflops = flops.step / (step.best * 1e6);
    rows.push(
      { section: 'gpt2', metric: `config`, value: `${c.layers}L d${c.dModel} h${c.heads}`, note: `batch ${c.batch} x ${c.seq} tokens, vocab ${c.vocab}, LoRA r=${c.loraRank} on c_attn, LM head/loss: ${c.lmHeadLoss}` },
      { section: 'gpt2', metric: 'forward (loss only)', value: `${fmt(fwd.best)} ms`, note: `${fmt(flops.forward / (fwd.best * 1e6))} GFLOP/s; runs ${fwd.all.map((x) => fmt(x, 0)).join(', ')}` },
      { section: 'gpt2', metric: 'forward + backward', value: `${fmt(step.best)} ms`, note: `median ${fmt(median(step.all), 0)}; runs ${step.all.map((x) => fmt(x, 0)).join(', ')}` },
      { section: 'gpt2', metric: 'LM head + loss, fwd + bwd', value: `${fmt(tail.best)} ms`, note: `${fmt((100 * tail.best) / step.best)} % of the step (timed alone)` },
      { section: 'gpt2', metric: 'per layer, fwd + bwd', value: `${fmt((step.best - tail.best) / c.layers)} ms`, note: '(step - LM head/loss) / layers' },
      { section: 'gpt2', metric: 'tokens/s (train step)', value: fmt(tokens / (step.best / 1000), 0) },
      { section: 'gpt2', metric: 'achieved GFLOP/s (train step)', value: fmt(gflops), note: `${fmt(flops.step / 1e9)} GFLOP per step (matmuls only, analytic)` },
    );
    const ratio = gflops / refGflops;
    rows.push(
      { section: 'gpt2', metric: `MatMul rate alongside (${refShape.label})`, value: `${fmt(refGflops)} GFLOP/s`, note: 'timed round-robin with the step (best of 3 per round, best round)' },
      { section: 'gpt2', metric: 'ratio to MatMul rate alongside', value: `${fmt(100 * ratio)} %`, note: `target >= 70 % (${ratio >= 0.7 ? 'met' : 'not met'})` },
    );
    if (matmulRate !== undefined) {
      rows.push({ section: 'gpt2', metric: 'ratio to MatMul rate (matmul section)', value: `${fmt((100 * gflops) / matmulRate)} %`, note: 'rates measured at different moments' });
    }
    if (args.profile) {
      s.train.endProfiling();
      const p = summariseProfile(s.profileDir, 'profile', args.repeats + 1, s.forwardNodeNames); // + the warm-up run
      rows.push({ section: 'profile', metric: 'kernel time per train step', value: `${fmt(p.totalKernelMs)} ms` });
      for (const o of p.byPhaseOp.slice(0, 14)) {
        rows.push({ section: 'profile', metric: o.key, value: `${fmt(o.ms)} ms`, note: `${fmt((100 * o.ms) / p.totalKernelMs)} %, ${fmt(o.count, 0)} kernels` });
      }
      for (const o of p.topNodes.slice(0, 8)) rows.push({ section: 'profile', metric: `node ${o.key}`, value: `${fmt(o.ms)} ms` });
    }
    return { forwardMs: fwd.best, stepMs: step.best, gflops };
  } finally {
    await s.dispose();
  }
}

/**
 * Times the LM head + loss (forward and backward) for each variant, round-robin, and checks that each variant's
 * loss and gradient agree with the first variant's (the library's lmHeadCrossEntropy).
 */
async function tailSection(args: BenchArgs, rows: BenchRow[]): Promise<void> {
  const feeds = tailFeeds(GPT2_SMALL_STEP);
  const opened: { variant: LmHeadLossVariant; session: RuntimeSession; dispose(): Promise<void> }[] = [];
  try {
    for (const variant of LM_HEAD_LOSS_VARIANTS) {
      opened.push({ variant, ...(await openTailSession({ ...GPT2_SMALL_STEP, lmHeadLoss: variant }, args.threads, args.allowSpinning)) });
    }
    const notes: string[] = [];
    let reference: { loss: number; grad: Float32Array } | undefined;
    for (const t of opened) {
      const out = await t.session.run(feeds);
      const loss = out.get('loss', 'float32', []).data[0] ?? NaN;
      const grad = out.get('grad.hidden', 'float32').data;
      if (!reference) {
        reference = { loss, grad: Float32Array.from(grad) };
        notes.push('reference');
        continue;
      }
      let maxDiff = 0;
      let maxRef = 0;
      for (let i = 0; i < grad.length; i++) {
        const r = reference.grad[i] ?? 0;
        maxDiff = Math.max(maxDiff, Math.abs((grad[i] ?? 0) - r));
        maxRef = Math.max(maxRef, Math.abs(r));
      }
      notes.push(`loss diff ${Math.abs(loss - reference.loss).toExponential(1)}, grad max diff ${(maxDiff / maxRef).toExponential(1)} (relative)`);
    }
    const times = await bestOfInterleaved(args.repeats, opened.map((t) => () => t.session.run(feeds)));
    opened.forEach((t, i) => {
      const time = times[i];
      if (!time) return;
      rows.push({ section: 'tail', metric: `LM head + loss fwd+bwd, ${t.variant}`, value: `${fmt(time.best)} ms`, note: `median ${fmt(median(time.all), 0)}; ${notes[i] ?? ''}` });
    });
  } finally {
    await Promise.all(opened.map((t) => t.dispose()));
  }
}

async function torchSection(args: BenchArgs, ours: Gpt2Result | undefined, rows: BenchRow[]): Promise<TorchStepTiming | undefined> {
  if (!torchAvailable()) {
    rows.push({ section: 'torch', metric: 'skipped', value: '-', note: TORCH_INSTALL_HINT });
    return undefined;
  }
  const t = await runTorchStep({ repeats: Math.min(args.repeats, 2), layers: args.layers, timeoutMs: 240_000 });
  rows.push(
    { section: 'torch', metric: 'forward (no_grad)', value: `${fmt(t.forward_ms)} ms`, note: `torch ${t.torch}, ${t.threads} threads` },
    { section: 'torch', metric: 'forward + backward', value: `${fmt(t.step_ms)} ms` },
  );
  if (ours) {
    const speedup = t.step_ms / ours.stepMs;
    rows.push({ section: 'torch', metric: 'speed-up of ours (train step)', value: `${fmt(speedup, 2)}x`, note: `target >= 2x (${speedup >= 2 ? 'met' : 'not met'})` });
  }
  return t;
}

/**
 * `--only=compress` (not a default section: about a minute): GradOT compression of a random GPT-2-small-shaped
 * model's 8 middle layers (bench/compress.ts, run as its own process so its memory is returned), issue 7's < 60 s.
 */
function compressSection(args: BenchArgs, rows: BenchRow[]): void {
  const script = path.join(__dirname, 'compress.ts');
  const r = spawnSync(process.execPath, ['--import', 'tsx', script, '--method=gradot', ...(args.threads > 0 ? [`--threads=${args.threads}`] : [])], { encoding: 'utf8' });
  process.stdout.write(r.stdout);
  if (r.status !== 0) throw new Error(`bench/compress.ts failed (exit ${r.status}): ${r.stderr}`);
  const total = /total\s+([\d.]+) s wall/.exec(r.stdout)?.[1];
  const compression = Number(/compression\s+([\d.]+) s wall/.exec(r.stdout)?.[1]);
  rows.push(
    { section: 'compress', metric: 'GradOT compression of GPT-2 small, adapters [2, 2]', value: `${compression.toFixed(2)} s`, note: `stats + svd + selection + write, wall clock; target < 60 s (${compression < 60 ? 'met' : 'not met'})` },
    { section: 'compress', metric: 'with the support-loss evaluation', value: `${total ?? '?'} s`, note: 'the whole buildEmulator call' },
  );
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const rows: BenchRow[] = [];
  console.log(`PEFT Lab bench: ${cpus().length} CPU(s) (${cpus()[0]?.model ?? 'unknown'}), ORT intraOpNumThreads=${args.threads} (0 = ORT default), spinning ${args.allowSpinning ? 'on' : 'off'}`);
  console.log('Timings are best-of-N wall times; other processes on the machine make them noisy.\n');
  let matmulRate: number | undefined;
  if (args.only.has('matmul')) {
    const r = await matmulSection(args, rows);
    matmulRate = Math.max(...r.map((x) => x.gflops));
  }
  let ours: Gpt2Result | undefined;
  if (args.only.has('gpt2')) ours = await gpt2Section(args, matmulRate, rows);
  const torch = args.only.has('torch') ? await torchSection(args, ours, rows) : undefined;
  if (args.only.has('tail')) await tailSection(args, rows);
  const uniform = args.only.has('train') ? trainSection(TRAIN_RUN_STEPS, rows) : undefined;
  const uniformMs = uniform?.msPerStepMedian;
  if (torch !== undefined && typeof uniformMs === 'number') {
    // The whole trainer step (data, layer-granular forward/backward, clipping, AdamW) against PyTorch's forward +
    // backward alone: the ratio leans towards PyTorch.
    const speedup = torch.step_ms / uniformMs;
    rows.push({ section: 'torch', metric: 'speed-up of layer-granular uniform (whole trainer step)', value: `${fmt(speedup, 2)}x`, note: `torch fwd+bwd ${fmt(torch.step_ms)} ms / uniform ${fmt(uniformMs)} ms; target >= 2x (${speedup >= 2 ? 'met' : 'not met'})` });
  }
  if (args.only.has('ist')) istSection(TRAIN_RUN_STEPS, rows, uniform);
  if (args.only.has('compress')) compressSection(args, rows);
  // The offsite table (bench/offsiteCompare.ts) has its own columns: printed after the main table.
  const offsiteLines = args.only.has('offsite') ? [...(await offsiteTable('lora', 40)), '', ...(await offsiteTable('full', 40))] : [];
  console.log(formatTable(rows));
  if (offsiteLines.length > 0) console.log(`\n${offsiteLines.join('\n')}`);
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.stack ?? e.message : String(e));
  process.exitCode = 1;
});
