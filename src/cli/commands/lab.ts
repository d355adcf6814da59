// `peft-lab lab pretrain`: pretrains the built-in lab model (builtin:demo) on the generated world, in this process
// (a CLI process may block on ONNX Runtime; the extension host never runs this). `peft-lab lab compare` runs the
// lab's research comparison (engine/lab/labExperiments.ts: COMPARE_SELECTIONS, COMPARE_EMULATORS).
import * as path from 'node:path';
import { DEFAULT_PRETRAIN, pretrainLabModel } from '../../engine/lab/pretrain';
import type { PretrainSettings } from '../../protocol/labFiles';
import { compareExperiments, DEMO_SETTINGS, labLoraDescription, writeLabWorkspace, type LabSettings } from '../../engine/lab/labExperiments';
import { compareOffsiteTable, compareTuneTable, offsiteRow, tuneRow, type OffsiteRow, type TuneRow } from '../../engine/lab/labResults';
import { readBuiltinRecord } from '../../engine/lab/labModel';
import { generateWorld } from '../../engine/lab/world';
import { BUILTIN_MODELS, builtinModelDir, packageRoot } from '../../engine/models/builtinModels';
import { readSummary } from '../../engine/runs';
import { writeFileAtomic } from '../../engine/runs/atomic';
import { runLabJob } from '../labJobs';
import { parseArgs } from '../args';
import { EXIT, UsageError, type CliCommand, type CliIO } from '../command';

const NUMERIC: readonly (keyof PretrainSettings)[] = ['worldSeed', 'people', 'seed', 'steps', 'batchSize', 'seq', 'lr', 'warmupSteps', 'passes', 'evalEvery', 'threads'];
const flagOf = (key: string): string => key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

export const command: CliCommand = {
  name: 'lab',
  summary: 'The built-in lab: pretrain its model (lab pretrain) or run the IST / GradOT comparison (lab compare)',
  usage: [
    'Usage: peft-lab lab pretrain [--out DIR] [--steps N] [--people N] [--lr X] ...',
    '       peft-lab lab compare [--out DIR] [--seeds N] [--steps N] [--task NAME]',
    '',
    'pretrain: generates the lab world (people with birth city, employer, field, birth year, friend), its',
    'tokenizer, and pretrains a small LLaMA-architecture model on re-phrased biographies with the project\'s',
    `engine (every weight trainable). Writes the model folder (default ${BUILTIN_MODELS.demo ?? ''} in the package,`,
    'which is builtin:demo) with pretraining.json (loss curve, probe accuracies, wall time).',
    `Options (defaults): ${NUMERIC.map((k) => `--${flagOf(k)} ${String(DEFAULT_PRETRAIN[k])}`).join(', ')}.`,
    '',
    'compare: on builtin:demo and its task (default the demo\'s), for seeds 0..N-1 (default 3): LoRA with layer',
    'selection uniform, ist, random, lisa, and offsite-tuning with the gradot, uniform-drop, svd, crash and ot emulators',
    '(with the full fine-tuning upper bound). Writes the workspace DIR (default ./lab-compare) with every run and',
    'results.md (mean ± standard deviation over the seeds).',
  ].join('\n'),
  async run(args, io) {
    const spec: Record<string, { value: boolean }> = { out: { value: true }, seeds: { value: true }, task: { value: true } };
    for (const k of NUMERIC) spec[flagOf(k)] = { value: true };
    const parsed = parseArgs(args, spec);
    const [action, ...rest] = parsed.positionals;
    if (rest.length > 0) throw new UsageError(`unexpected argument '${rest[0] ?? ''}'`);
    if (action === 'pretrain') {
      const overrides: Partial<Record<keyof PretrainSettings, number>> = {};
      for (const k of NUMERIC) {
        const v = parsed.values.get(flagOf(k));
        if (v === undefined) continue;
        const n = Number(v);
        if (!Number.isFinite(n) || n < 0) throw new UsageError(`--${flagOf(k)} must be a non-negative number, got '${v}'`);
        overrides[k] = n;
      }
      const settings: PretrainSettings = { ...DEFAULT_PRETRAIN, ...overrides };
      const out = path.resolve(parsed.values.get('out') ?? path.join(packageRoot(), BUILTIN_MODELS.demo ?? ''));
      let cancelled = false;
      const onSigint = (): void => {
        cancelled = true;
        io.err('cancelling (Ctrl-C) ...');
      };
      process.on('SIGINT', onSigint);
      try {
        const record = await pretrainLabModel(out, settings, {
          log: (line) => io.err(line),
          throwIfCancelled: () => {
            if (cancelled) throw new Error('cancelled');
          },
        });
        io.err(`pretrained in ${record.wallSeconds.toFixed(0)} s`);
      } catch (e) {
        if (cancelled) return EXIT.cancelled;
        throw e;
      } finally {
        process.off('SIGINT', onSigint);
      }
      io.out(out);
      return EXIT.ok;
    }
    if (action === 'compare') return runCompare(parsed.values, io);
    throw new UsageError(action === undefined ? 'lab needs an action: pretrain or compare' : `unknown lab action '${action}'`);
  },
};

async function runCompare(values: ReadonlyMap<string, string>, io: CliIO): Promise<number> {
  const count = (flag: string, fallback: number): number => {
    const v = values.get(flag);
    if (v === undefined) return fallback;
    const n = Number(v);
    if (!Number.isSafeInteger(n) || n < 1) throw new UsageError(`--${flag} must be a positive integer, got '${v}'`);
    return n;
  };
  const seeds = Array.from({ length: count('seeds', 3) }, (_, i) => i);
  const settings: LabSettings = { ...DEMO_SETTINGS, task: values.get('task') ?? DEMO_SETTINGS.task, steps: count('steps', DEMO_SETTINGS.steps) };
  const workspace = path.resolve(values.get('out') ?? 'lab-compare');
  const record = readBuiltinRecord(builtinModelDir('builtin:demo'));
  const world = generateWorld(record.settings.worldSeed, { people: record.settings.people });
  const experiments = compareExperiments(seeds);
  const configs = writeLabWorkspace(workspace, world, record.settings.worldSeed, experiments, settings);
  io.err(`lab compare workspace: ${workspace} (${experiments.length} runs, task ${settings.task}, ${settings.steps} steps each)`);
  const t0 = performance.now();
  const tune: TuneRow[] = [];
  const offsite: OffsiteRow[] = [];
  for (const [i, e] of experiments.entries()) {
    const { code, runDir } = await runLabJob(configs[i] ?? '', `${i + 1}/${experiments.length} ${e.name}`, false, io);
    if (code !== EXIT.ok) return code;
    if (e.kind === 'tune') tune.push(tuneRow(readSummary(runDir), runDir, e.selection));
    else offsite.push(offsiteRow(readSummary(runDir), runDir));
  }
  const seconds = (performance.now() - t0) / 1000;
  const text = [
    `# PEFT Lab comparison: ${settings.task} on builtin:demo, seeds ${seeds.join(', ')} (${settings.steps} steps, batch ${settings.batchSize}, lr ${settings.lr}; ${seconds.toFixed(0)} s)`,
    '',
    `Layer selection (LoRA ${labLoraDescription()}; accuracy % on the test split, mean ± standard deviation over seeds):`,
    '',
    compareTuneTable(tune),
    '',
    'Offsite-tuning (adapters 2 + 2 layers, LoRA; emulator = the middle 4 layers compressed; gap = plug-in - emulator FT):',
    '',
    compareOffsiteTable(offsite),
  ].join('\n');
  writeFileAtomic(path.join(workspace, 'results.md'), `${text}\n`);
  io.out(text);
  return EXIT.ok;
}
