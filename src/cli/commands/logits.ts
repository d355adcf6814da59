import { padBatch, type PaddingSide } from '../../engine/models/batch';
import { checkIdsInVocab, computeLogits } from '../../engine/models/logits';
import { isModelInputError } from '../../engine/models/inputErrors';
import { loadModel } from '../../engine/models/model';
import { ModelTokenizer } from '../../engine/models/tokenizer';
import { isExecutionProviderChoice } from '../../engine/runtime';
import { parseArgs } from '../args';
import { EXIT, UsageError, type CliCommand } from '../command';

export const command: CliCommand = {
  name: 'logits',
  summary: 'Run a model on token ids (or text) and print the logits as JSON',
  usage: [
    'Usage: peft-lab logits <model-dir | org/name[@revision]> --ids 1,2,3 [--ids 4,5 ...] [options]',
    '       peft-lab logits <model-dir> --text "some text" [--text "more"] [options]',
    '',
    'Prints {"logits": [batch][seq][vocab], "mask": [batch][seq]} on stdout. Rows shorter than the longest are',
    'padded (right by default) and the attention mask keeps the padding out of every real position; the logits',
    'at padded positions (mask 0) carry no meaning.',
    '--ids LIST          comma-separated token ids, one row per --ids',
    '--text STRING       text encoded with the model\'s tokenizer.json, one row per --text',
    '--padding-side S    right (default) or left',
    '--device D          cpu (default), cuda, webgpu or auto',
    'Exit codes: 0 ok, 1 run failed, 2 usage error or unusable model / ids.',
  ].join('\n'),
  async run(args, io) {
    const { rows: idRows, rest: afterIds } = takeRepeated(args, 'ids');
    const { rows: texts, rest } = takeRepeated(afterIds, 'text');
    const parsed = parseArgs(rest, { 'padding-side': { value: true }, device: { value: true } });
    if (parsed.positionals.length !== 1) throw new UsageError('expected one model folder or repo id');
    if (idRows.length === 0 && texts.length === 0) throw new UsageError('give at least one --ids or --text');
    if (idRows.length > 0 && texts.length > 0) throw new UsageError('give either --ids or --text, not both');
    const side = parsed.values.get('padding-side') ?? 'right';
    if (side !== 'left' && side !== 'right') throw new UsageError(`--padding-side must be left or right, got '${side}'`);
    const device = parsed.values.get('device') ?? 'cpu';
    if (!isExecutionProviderChoice(device)) throw new UsageError(`--device must be cpu, cuda, webgpu or auto, got '${device}'`);
    const ids = idRows.map((row, r) => parseIds(row, r));
    try {
      const model = loadModel(parsed.positionals[0]);
      try {
        const rows = texts.length > 0 ? encodeTexts(model.dir, model.config.vocabSize, texts) : ids;
        checkIdsInVocab(rows, model.config.vocabSize);
        const batch = padBatch(rows, side satisfies PaddingSide, model.config.padTokenId ?? model.config.eosTokenIds[0] ?? 0);
        const result = await computeLogits(model, batch, { session: { executionProvider: device } });
        const [B, S, V] = result.dims;
        const logits = Array.from({ length: B }, (_, b) => Array.from({ length: S }, (_, s) =>
          Array.from(result.logits.subarray((b * S + s) * V, (b * S + s + 1) * V), float32Json)));
        const mask = Array.from({ length: B }, (_, b) => Array.from(batch.mask.subarray(b * S, (b + 1) * S)));
        io.out(JSON.stringify({ logits, mask }));
        if (device !== 'cpu') io.err(`device: ${result.provider}`);
      } finally {
        model.close();
      }
    } catch (e) {
      if (!isModelInputError(e)) throw e;
      io.err(`peft-lab logits: ${e.message}`);
      return EXIT.usage;
    }
    return EXIT.ok;
  },
};

/** Pulls every `--name V` / `--name=V` out of args (the shared parser keeps only the last value of an option). */
function takeRepeated(args: readonly string[], name: string): { rows: string[]; rest: string[] } {
  const rows: string[] = [];
  const rest: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === `--${name}`) {
      const value = args[i + 1];
      if (value === undefined) throw new UsageError(`option '--${name}' needs a value`);
      rows.push(value);
      i += 1;
    } else if (arg.startsWith(`--${name}=`)) {
      rows.push(arg.slice(name.length + 3));
    } else {
      rest.push(arg);
    }
  }
  return { rows, rest };
}

function parseIds(text: string, row: number): number[] {
  const parts = text.split(',').map((p) => p.trim());
  if (parts.length === 0 || parts.some((p) => !/^\d+$/.test(p))) {
    throw new UsageError(`--ids #${row + 1} '${text}' is not a comma-separated list of non-negative integers`);
  }
  return parts.map(Number);
}

function encodeTexts(dir: string, vocabSize: number, texts: readonly string[]): number[][] {
  const tokenizer = ModelTokenizer.load(dir, vocabSize);
  return texts.map((t) => tokenizer.encode(t));
}

/** 9 significant digits identify a float32 exactly; shorter JSON than the float64 expansion. */
function float32Json(v: number): number {
  return Number(v.toPrecision(9));
}
