// `peft-lab demo`: the built-in lab end to end on the pretrained model builtin:demo, no download. Writes a
// workspace (default ./demo) with the world's tasks and four configs, runs them one after another as jobs
// (LoRA with uniform and IST layer selection; offsite-tuning with GradOT and uniform-drop emulators), and prints
// one table (also written to <workspace>/results.md).
import * as path from 'node:path';
import { DEMO_EXPERIMENTS, DEMO_SETTINGS, labLoraDescription, writeLabWorkspace, type LabExperiment, type LabSettings } from '../../engine/lab/labExperiments';
import { offsiteRow, offsiteTable, tuneRow, tuneTable, type OffsiteRow, type TuneRow } from '../../engine/lab/labResults';
import { readBuiltinRecord } from '../../engine/lab/labModel';
import { generateWorld } from '../../engine/lab/world';
import { builtinModelDir } from '../../engine/models/builtinModels';
import { readSummary } from '../../engine/runs';
import { writeFileAtomic } from '../../engine/runs/atomic';
import { parseArgs } from '../args';
import { EXIT, UsageError, type CliCommand, type CliIO } from '../command';
import { runLabJob } from '../labJobs';

export const DEMO_WORKSPACE = 'demo';
export const DEMO_RESULTS_FILE = 'results.md';

function positiveInt(value: string | undefined, flag: string, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 1) throw new UsageError(`${flag} must be a positive integer, got '${value}'`);
  return n;
}

export const command: CliCommand = {
  name: 'demo',
  summary: 'Run the built-in lab demo (no download): LoRA uniform vs IST, offsite GradOT vs uniform-drop, on builtin:demo',
  usage: [
    'Usage: peft-lab demo [--out DIR] [--task NAME] [--steps N] [--eval-limit N] [--threads N] [--json]',
    '',
    'The model is builtin:demo, pretrained by the project on its generated world of people (media/builtin/demo,',
    '`npm run lab:pretrain` remakes it). Writes the workspace DIR (default ./demo): data/<task>/{train,test}.json',
    'in the LLM-Adapters format and four configs (lora-uniform, lora-ist, offsite-gradot, offsite-uniform-drop),',
    'runs each as a job (runs in DIR/.peft-lab/runs/, as from VS Code: open DIR to see them in the explorer)',
    'and prints the table (also DIR/results.md). Accuracy: multiple choice on the test split (unseen people).',
    `Defaults: --task ${DEMO_SETTINGS.task} --steps ${DEMO_SETTINGS.steps} --eval-limit ${DEMO_SETTINGS.evalLimit}.`,
    'Exit codes: 0 completed, 1 a job failed, 2 usage error, 130 cancelled (Ctrl-C).',
  ].join('\n'),
  async run(args, io) {
    const parsed = parseArgs(args, { out: { value: true }, task: { value: true }, steps: { value: true }, 'eval-limit': { value: true }, threads: { value: true }, json: { value: false } });
    if (parsed.positionals.length > 0) throw new UsageError(`unexpected argument '${parsed.positionals[0] ?? ''}'`);
    const settings: LabSettings = {
      ...DEMO_SETTINGS,
      task: parsed.values.get('task') ?? DEMO_SETTINGS.task,
      steps: positiveInt(parsed.values.get('steps'), '--steps', DEMO_SETTINGS.steps),
      evalLimit: positiveInt(parsed.values.get('eval-limit'), '--eval-limit', DEMO_SETTINGS.evalLimit),
      threads: parsed.values.has('threads') ? positiveInt(parsed.values.get('threads'), '--threads', 1) : DEMO_SETTINGS.threads,
    };
    const workspace = path.resolve(parsed.values.get('out') ?? DEMO_WORKSPACE);
    const record = readBuiltinRecord(builtinModelDir('builtin:demo'));
    const world = generateWorld(record.settings.worldSeed, { people: record.settings.people });
    const configs = writeLabWorkspace(workspace, world, record.settings.worldSeed, DEMO_EXPERIMENTS, settings);
    const json = parsed.flags.has('json');
    io.err(`demo workspace: ${workspace} (task ${settings.task}, ${settings.steps} steps per run)`);
    const t0 = performance.now();
    const result = await runExperiments(DEMO_EXPERIMENTS, configs, json, io);
    if (typeof result === 'number') return result;
    const text = demoReport(result.tune, result.offsite, settings, (performance.now() - t0) / 1000);
    writeFileAtomic(path.join(workspace, DEMO_RESULTS_FILE), `${text}\n`);
    if (json) io.out(JSON.stringify({ type: 'demo-results', workspace, tune: result.tune, offsite: result.offsite }));
    else io.out(text);
    return EXIT.ok;
  },
};

/** Runs the experiments in order; stops at the first one that does not complete (its exit code is returned). */
async function runExperiments(experiments: readonly LabExperiment[], configs: readonly string[], json: boolean, io: CliIO): Promise<{ tune: TuneRow[]; offsite: OffsiteRow[] } | number> {
  const tune: TuneRow[] = [];
  const offsite: OffsiteRow[] = [];
  for (const [i, e] of experiments.entries()) {
    const configPath = configs[i] ?? '';
    const { code, runDir } = await runLabJob(configPath, `${i + 1}/${experiments.length} ${e.name}`, json, io);
    if (code !== EXIT.ok) return code;
    const summary = readSummary(runDir);
    if (e.kind === 'tune') tune.push(tuneRow(summary, runDir, e.selection));
    else offsite.push(offsiteRow(summary, runDir));
  }
  return { tune, offsite };
}

export function demoReport(tune: readonly TuneRow[], offsite: readonly OffsiteRow[], s: LabSettings, seconds: number): string {
  return [
    `# PEFT Lab demo: ${s.task} on builtin:demo (${s.steps} steps, batch ${s.batchSize}, lr ${s.lr}, seed ${s.seed}; ${seconds.toFixed(0)} s)`,
    '',
    `LoRA (${labLoraDescription()}), accuracy on the test split (people the tuning never saw):`,
    '',
    tuneTable(tune),
    '',
    'Offsite-tuning (adapters: first 2 + last 2 layers, LoRA; the middle 4 layers compressed into the emulator):',
    '',
    offsiteTable(offsite),
  ].join('\n');
}

