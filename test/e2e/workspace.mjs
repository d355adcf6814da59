// Prepares the UI tests' workspace (the temporary copy of test/fixtures/workspace) before VS Code opens it:
// two tiny experiment configs on the tiny GPT-2 fixture (../shared/fixtures/models/tiny-random-gpt2), each in its
// own folder (runs are listed per config folder), and a real offsite (GradOT) run folder made through the CLI.
// - experiments/ist-lens/ist-lens.peft.json: an IST tune run (40 steps, importance every 4: long enough for the tree
//   to show it running) that the UI test starts from its CodeLens; the Layer importance panel then shows that run.
// - experiments/offsite/offsite.peft.json: a GradOT offsite run (3 steps), run here by `bin/peft-lab.js run`; its
//   diagnostics.json feeds the Rank choices and Gradient diagnostics panels.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

export const tinyGpt2 = process.env.PEFT_LAB_TINY_GPT2 || resolve(import.meta.dirname, '..', '..', '..', 'shared', 'fixtures', 'models', 'tiny-random-gpt2');

/** Pre-tokenized rows walking a fixed cycle of token ids (< the fixture's vocabulary of 1000): learnable, tiny. */
function writeCycleTokens(file, count, length, seed) {
  const cycle = [5, 17, 23, 42, 77, 101, 133, 150, 201, 250, 311, 404, 512, 640, 777, 901];
  let state = seed;
  const lines = [];
  for (let i = 0; i < count; i++) {
    state = (state * 1103515245 + 12345) % 2147483648;
    const start = state % cycle.length;
    lines.push(JSON.stringify({ input_ids: Array.from({ length }, (_, t) => cycle[(start + t) % cycle.length]) }));
  }
  writeFileSync(file, `${lines.join('\n')}\n`);
}

function writeExperiment(dir, name, config) {
  mkdirSync(dir, { recursive: true });
  writeCycleTokens(join(dir, 'train.jsonl'), 16, 10, 1);
  writeCycleTokens(join(dir, 'eval.jsonl'), 6, 10, 2);
  const file = join(dir, `${name}.peft.json`);
  writeFileSync(file, `${JSON.stringify(config, null, 2)}\n`);
  return file;
}

const data = { train: 'train.jsonl', eval: 'eval.jsonl', format: 'tokens', maxLength: 10 };
const runtime = { device: 'cpu', threads: 1 };

/**
 * Writes the configs and runs the offsite one through the CLI. Returns the config paths and the offsite run
 * folder (under the config's .peft-lab/runs/, so the Experiments tree lists it).
 */
export function prepareWorkspace(workspace, repoRoot) {
  if (!existsSync(join(tinyGpt2, 'config.json'))) {
    throw new Error(`the tiny GPT-2 fixture is missing at ${tinyGpt2} (set PEFT_LAB_TINY_GPT2 to its folder)`);
  }
  const experiments = join(workspace, 'experiments');
  const istConfig = writeExperiment(join(experiments, 'ist-lens'), 'ist-lens', {
    name: 'ist lens',
    task: 'tune',
    model: tinyGpt2,
    layerSelection: 'ist',
    ist: { interval: 4, scoreBatch: 4 },
    data,
    peft: { r: 2, alpha: 4, dropout: 0, targets: ['c_attn', 'c_proj', 'c_fc'] },
    train: { steps: 40, batchSize: 4, lr: 0.05, warmupSteps: 0, seed: 3, evalEvery: 0, checkpointEvery: 0 },
    runtime,
  });
  const offsiteConfig = writeExperiment(join(experiments, 'offsite'), 'offsite', {
    name: 'offsite',
    task: 'offsite',
    model: tinyGpt2,
    data,
    peft: { r: 2, alpha: 4, dropout: 0 },
    train: { steps: 3, batchSize: 4, lr: 0.05, warmupSteps: 0, seed: 3, evalEvery: 0, evalBatchSize: 4 },
    offsite: { adapterLayers: [1, 1], adapterPeft: 'lora', diagnosticExamples: 6, emulator: { method: 'gradot', keepLayers: 2, supportExamples: 8 } },
    runtime,
  });
  const started = performance.now();
  const cli = spawnSync(process.execPath, [join(repoRoot, 'bin', 'peft-lab.js'), 'run', offsiteConfig], {
    encoding: 'utf8',
    timeout: 180_000,
    env: { ...process.env, ORT_DISABLE_TELEMETRY: '1' },
  });
  if (cli.status !== 0) throw new Error(`peft-lab run ${offsiteConfig} failed (${cli.status ?? cli.signal}):\n${cli.stdout}\n${cli.stderr}`);
  // The run folder is the last line on stdout.
  const offsiteRunDir = cli.stdout.trim().split('\n').pop() ?? '';
  const summary = JSON.parse(readFileSync(join(offsiteRunDir, 'summary.json'), 'utf8'));
  if (summary.status !== 'completed') throw new Error(`the offsite run ${offsiteRunDir} ended ${summary.status}`);
  const seconds = (performance.now() - started) / 1000;
  return { istConfig, offsiteConfig, offsiteRunDir, seconds };
}
