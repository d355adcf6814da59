import * as fs from 'node:fs';
import * as path from 'node:path';
import { defaultDeviceCheckConfig } from '../../engine/config';
import { createRunDir, writeJsonAtomic } from '../../engine/runs';
import { parseArgs } from '../args';
import { UsageError, type CliCommand } from '../command';
import { runJobFromCli } from '../runJob';

export const DEMO_CONFIG_FILE = 'demo.peft.json';

export const command: CliCommand = {
  name: 'demo',
  summary: 'Run the built-in device check (no download): MatMul on ONNX Runtime, device used, GFLOP/s',
  usage: [
    'Usage: peft-lab demo [--out DIR] [--json]',
    '',
    `Writes the built-in device-check config as ${DEMO_CONFIG_FILE} into a new run folder`,
    '(default ./.peft-lab/runs/<run-id>/, or exactly DIR with --out) and runs it.',
    'Exit codes: 0 completed, 1 failed, 2 usage error, 130 cancelled (Ctrl-C).',
  ].join('\n'),
  async run(args, io) {
    const parsed = parseArgs(args, { out: { value: true }, json: { value: false } });
    if (parsed.positionals.length > 0) throw new UsageError(`unexpected argument '${parsed.positionals[0] ?? ''}'`);
    const config = defaultDeviceCheckConfig();
    const out = parsed.values.get('out');
    let runDir: string;
    if (out !== undefined) {
      runDir = path.resolve(out);
      fs.mkdirSync(runDir, { recursive: true });
    } else {
      runDir = createRunDir(path.join(process.cwd(), DEMO_CONFIG_FILE), config.name);
    }
    const configPath = path.join(runDir, DEMO_CONFIG_FILE);
    writeJsonAtomic(configPath, config);
    return runJobFromCli({ configPath, runDir }, parsed.flags.has('json'), io);
  },
};
