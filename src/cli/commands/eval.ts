import * as path from 'node:path';
import { applyRuntimeOverrides, loadExperimentConfig } from '../../engine/config';
import { evaluateSetup, setupTune } from '../../engine/tasks';
import { deviceNameSchema } from '../../protocol/runFiles';
import { parseArgs } from '../args';
import { EXIT, UsageError, type CliCommand } from '../command';

export const command: CliCommand = {
  name: 'eval',
  summary: 'Evaluate a tune config\'s model (optionally with a LoRA adapter): perplexity and multiple-choice accuracy',
  usage: [
    'Usage: peft-lab eval <config.peft.json> [--adapter DIR] [--device auto|cpu|cuda|webgpu] [--threads N] [--json]',
    '',
    'Loads the model and data.eval of a tune config, applies the adapter (Hugging Face PEFT format: DIR, else',
    'the config\'s peft.init, else the untrained LoRA whose B = 0, i.e. the base model) and prints eval loss,',
    'perplexity and, for LLM-Adapters sets, accuracy by the log-likelihood of each answer choice.',
    '  --adapter DIR  adapter folder (adapter_config.json + adapter_model.safetensors), e.g. <runDir>/adapter',
    '  --json         print the metrics as one JSON object',
    'Exit codes: 0 done, 1 evaluation failed, 2 usage or config error.',
  ].join('\n'),
  async run(args, io) {
    const parsed = parseArgs(args, { adapter: { value: true }, device: { value: true }, threads: { value: true }, json: { value: false } });
    if (parsed.positionals.length !== 1) throw new UsageError('expected exactly one config file');
    const configPath = path.resolve(parsed.positionals[0] ?? '');
    const deviceArg = parsed.values.get('device');
    const device = deviceArg === undefined ? undefined : deviceNameSchema.safeParse(deviceArg);
    if (device !== undefined && !device.success) throw new UsageError(`--device must be one of ${deviceNameSchema.options.join(', ')} (got '${deviceArg ?? ''}')`);
    const threadsArg = parsed.values.get('threads');
    if (threadsArg !== undefined && !/^\d+$/.test(threadsArg)) throw new UsageError(`--threads must be a non-negative integer (got '${threadsArg}')`);
    const config = applyRuntimeOverrides(loadExperimentConfig(configPath), {
      ...(device?.success === true ? { device: device.data } : {}),
      ...(threadsArg === undefined ? {} : { threads: Number(threadsArg) }),
    });
    if (config.task !== 'tune') throw new UsageError(`${configPath}: eval needs a config with task "tune" (got "${config.task}")`);
    if (config.data.eval === undefined) throw new UsageError(`${configPath}: $.data.eval is not set: nothing to evaluate`);
    const adapterArg = parsed.values.get('adapter');
    try {
      const setup = await setupTune(config, { log: (level, message) => io.err(`${level}: ${message}`) }, adapterArg === undefined ? {} : { adapterDir: path.resolve(adapterArg) });
      try {
        const metrics = await evaluateSetup(setup, config);
        if (parsed.flags.has('json')) io.out(JSON.stringify(metrics));
        else for (const [k, v] of Object.entries(metrics)) io.out(`${k} ${Number.isInteger(v) ? v : v.toPrecision(6)}`);
        return EXIT.ok;
      } finally {
        await setup.dispose();
      }
    } catch (e) {
      const where = typeof e === 'object' && e !== null && 'where' in e && typeof e.where === 'string' ? ` (at ${e.where})` : '';
      io.err(`error: ${e instanceof Error ? e.message : String(e)}${where}`);
      return EXIT.failed;
    }
  },
};
