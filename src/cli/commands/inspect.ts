import { formatSummary, summarizeModel } from '../../engine/models/inspect';
import { isModelInputError } from '../../engine/models/inputErrors';
import { loadModel } from '../../engine/models/model';
import { parseArgs } from '../args';
import { EXIT, UsageError, type CliCommand } from '../command';

export const command: CliCommand = {
  name: 'inspect',
  summary: 'Show a Hugging Face model folder: architecture, layers, sizes, parameter count, dtype, tokenizer',
  usage: [
    'Usage: peft-lab inspect <model-dir | org/name[@revision]> [--json]',
    '',
    'Reads config.json, the safetensors checkpoint (checking every tensor the config needs) and the tokenizer.',
    'A repo id is looked up in the Hugging Face cache ($HF_HUB_CACHE, or $HF_HOME/hub, default',
    '~/.cache/huggingface/hub); nothing is downloaded.',
    '--json   print the summary as one JSON object',
    'Exit codes: 0 ok, 2 usage error or unusable model folder.',
  ].join('\n'),
  async run(args, io) {
    const parsed = parseArgs(args, { json: { value: false } });
    if (parsed.positionals.length !== 1) throw new UsageError('expected one model folder or repo id');
    const [spec] = parsed.positionals;
    try {
      const model = loadModel(spec);
      try {
        const summary = summarizeModel(model);
        if (parsed.flags.has('json')) io.out(JSON.stringify(summary));
        else for (const line of formatSummary(summary)) io.out(line);
      } finally {
        model.close();
      }
    } catch (e) {
      if (!isModelInputError(e)) throw e;
      io.err(`peft-lab inspect: ${e.message}`);
      return EXIT.usage;
    }
    return EXIT.ok;
  },
};
