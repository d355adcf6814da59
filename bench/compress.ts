/**
 * GradOT emulator compression time (issue 7: "compressing the middle layers of a GPT-2-small-shaped model takes
 * under 60 s"). Writes a random GPT-2-small-shaped checkpoint (12 layers, d = 768, 12 heads, vocab 50257) to a
 * temporary folder, then builds its emulator with adapters [2, 2] (8 middle layers: 32 attention maps for DRD,
 * 8 MLPs for SCP) from a small support set, and prints the time per phase (wall clock and this process's CPU).
 * Run: node --import tsx bench/compress.ts [--method=gradot|svd|uniform-drop|crash|ot] [--layers=12]
 *      [--support=8x64] [--threads=0] [--keep]
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { makeBatch } from '../src/engine/data/batches';
import { parseModelConfig } from '../src/engine/models/config';
import { loadModel } from '../src/engine/models/model';
import { writeSafetensors } from '../src/engine/models/safetensorsWriter';
import { expectedWeights } from '../src/engine/models/weights';
import { buildEmulator, EMULATOR_METHODS, type EmulatorMethod } from '../src/engine/offsite/emulator';
import { Rng } from '../src/engine/util/random';
import { randomFloat32 } from './randomWeights';

process.env.ORT_DISABLE_TELEMETRY = '1';

function arg(name: string, fallback: string): string {
  const hit = process.argv.find((a) => a.startsWith(`--${name}=`));
  return hit === undefined ? fallback : hit.slice(name.length + 3);
}

function isMethod(m: string): m is EmulatorMethod {
  return (EMULATOR_METHODS as readonly string[]).includes(m);
}

const methodArg = arg('method', 'gradot');
if (!isMethod(methodArg)) throw new Error(`--method must be one of ${EMULATOR_METHODS.join(', ')}`);
const method: EmulatorMethod = methodArg;
const layers = Number(arg('layers', '12'));
const [rows, seq] = arg('support', '8x64').split('x').map(Number) as [number, number];
const threads = Number(arg('threads', '0'));

const config = { model_type: 'gpt2', vocab_size: 50257, n_embd: 768, n_layer: layers, n_head: 12, n_positions: 1024 };
const root = fs.mkdtempSync(path.join(os.tmpdir(), 'peft-bench-compress-'));
const modelDir = path.join(root, 'model');
fs.mkdirSync(modelDir);
const t0 = performance.now();
fs.writeFileSync(path.join(modelDir, 'config.json'), JSON.stringify(config));
// GPT-2 initialisation scale: N(0, 0.02) ~ uniform(-0.035, 0.035); LayerNorm gains 1, biases 0.
writeSafetensors(path.join(modelDir, 'model.safetensors'), expectedWeights(parseModelConfig(config)).map((s, i) => {
  const n = s.shape.reduce((a, d) => a * d, 1);
  const isGain = /ln_[12f]?\.weight$|ln_f\.weight$/.test(s.name);
  const isBias = s.name.endsWith('.bias');
  const data = isGain ? new Float32Array(n).fill(1) : isBias ? new Float32Array(n) : randomFloat32(n, 1000 + i, 0.035);
  return { name: s.name, dtype: 'F32' as const, shape: s.shape, data };
}), { format: 'pt' });
console.log(`random GPT-2 (${layers} layers, d 768, vocab 50257) written in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

const rng = new Rng(7);
const examples = Array.from({ length: rows }, () => {
  const ids = Array.from({ length: seq }, () => rng.uniformInt(50257));
  return { ids, labels: ids };
});
const batchSize = Math.min(4, rows);
const support = Array.from({ length: Math.ceil(rows / batchSize) }, (_, b) => makeBatch(examples.slice(b * batchSize, (b + 1) * batchSize), seq, 0));

async function main(): Promise<void> {
const model = loadModel(modelDir);
try {
  const c0 = process.cpuUsage();
  const w0 = performance.now();
  const r = await buildEmulator(model, support, {
    method, adapterLayers: [2, 2], keepLayers: Math.max(1, Math.round((layers - 4) / 2)),
    session: threads > 0 ? { intraOpNumThreads: threads } : {},
  }, path.join(root, 'emulator'));
  const wall = (performance.now() - w0) / 1000;
  const cpu = process.cpuUsage(c0);
  console.log(`method ${method}, adapters [2, 2], support ${rows} x ${seq} tokens, ${os.cpus().length} CPUs, load average ${os.loadavg()[0]?.toFixed(1)}`);
  for (const [phase, s] of Object.entries(r.timings)) console.log(`  ${phase.padEnd(10)} ${s.toFixed(2)} s`);
  // Compression proper = the phases that produce the emulator; `evaluate` (support loss of the full model and the
  // emulator, a diagnostic) is reported apart, as summary.offsite.compressionSeconds leaves it out.
  const t = r.timings;
  console.log(`  compression ${(t.stats + t.svd + t.selection + t.write).toFixed(2)} s wall (stats + svd + selection + write)`);
  console.log(`  total      ${wall.toFixed(2)} s wall, ${((cpu.user + cpu.system) / 1e6).toFixed(2)} s CPU (main thread + ORT threads)`);
  console.log(`  parameters ${r.parameterCount} of ${r.fullParameterCount} (${((100 * r.parameterCount) / r.fullParameterCount).toFixed(1)} %)`);
  if (r.diagnostics.loss !== undefined) console.log(`  support loss: full ${r.diagnostics.loss.full.toFixed(4)}, emulator ${r.diagnostics.loss.emulator.toFixed(4)}`);
} finally {
  model.close();
  if (!process.argv.includes('--keep')) fs.rmSync(root, { recursive: true, force: true });
}
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
