import * as fs from 'node:fs';
import * as path from 'node:path';
import { createRunDir, writeJsonAtomic } from '../../engine/runs';
import { DEMO_MODEL_NAME, peftLabCacheDir, writeDemoExperiment, writeDemoModel } from '../../engine/tasks/demoModel';
import { parseArgs } from '../args';
import { UsageError, type CliCommand } from '../command';
import { runJobFromCli } from '../runJob';

export const DEMO_CONFIG_FILE = 'demo.peft.json';

export const command: CliCommand = {
  name: 'demo',
  summary: 'Run the built-in LoRA demo (no download): a tiny generated GPT-2-style model learns a token pattern',
  usage: [
    'Usage: peft-lab demo [--out DIR] [--json]',
    '',
    `Generates a tiny random GPT-2-style model (once, in ${path.join('~/.cache/peft-lab', DEMO_MODEL_NAME)}; `,
    '$PEFT_LAB_CACHE or $XDG_CACHE_HOME move it), writes a synthetic token data set and the tune config',
    `${DEMO_CONFIG_FILE} into a new run folder (default ./.peft-lab/runs/<run-id>/, or exactly DIR with --out)`,
    'and runs a short LoRA fine-tuning on it; the loss per step is printed and drops visibly.',
    'Exit codes: 0 completed, 1 failed, 2 usage error, 130 cancelled (Ctrl-C).',
  ].join('\n'),
  async run(args, io) {
    const parsed = parseArgs(args, { out: { value: true }, json: { value: false } });
    if (parsed.positionals.length > 0) throw new UsageError(`unexpected argument '${parsed.positionals[0] ?? ''}'`);
    const out = parsed.values.get('out');
    let runDir: string;
    if (out !== undefined) {
      runDir = path.resolve(out);
      fs.mkdirSync(runDir, { recursive: true });
    } else {
      runDir = createRunDir(path.join(process.cwd(), DEMO_CONFIG_FILE), 'demo');
    }
    const modelDir = writeDemoModel(path.join(peftLabCacheDir(), DEMO_MODEL_NAME), 0);
    const configPath = path.join(runDir, DEMO_CONFIG_FILE);
    writeJsonAtomic(configPath, writeDemoExperiment(runDir, modelDir));
    return runJobFromCli({ configPath, runDir }, parsed.flags.has('json'), io);
  },
};
