// What a tune job (and `peft-lab eval`, and the offsite task for its data) sets up from a config: the model, the
// data block read and checked against the model, the adapter of the peft block, and the evaluation of an adapter.
import * as path from 'node:path';
import type { TuneConfig } from '../config/types';
import { derivedRng, RNG_TAGS } from '../data/batches';
import { readChoiceItems, readExamples, targetTokenCount, type ChoiceItem, type TokenExample } from '../data/examples';
import { splitValidation } from '../data/validationSplit';
import { generationAccuracy, multipleChoiceAccuracy, perplexity } from '../eval';
import { loadModel, type LoadedModel } from '../models/model';
import { ModelTokenizer } from '../models/tokenizer';
import { loadAdapterFolderInto, type PeftAdapter } from '../peft/adapterFolder';
import { BottleneckAdapter } from '../peft/bottleneck';
import { DoraAdapter, modelWeightReader } from '../peft/dora';
import { LoraAdapter } from '../peft/lora';
import { RUN_FILES } from '../runs/layout';
import { PeftSessionRunner } from '../train/peftGraph';
import type { PeftRunner } from '../train/runner';
import { maxBy } from '../util/arrays';
import { TaskError, type TaskContext } from './context';

export const ADAPTER_DIR = RUN_FILES.adapter;

/** Everything a tune or eval job sets up from the config. Close with `dispose()`. */
export interface TuneSetup {
  readonly model: LoadedModel;
  readonly tokenizer: ModelTokenizer | undefined;
  /** LoraAdapter, DoraAdapter or BottleneckAdapter, as peft.method says. */
  readonly adapter: PeftAdapter;
  readonly runner: PeftSessionRunner<PeftAdapter>;
  readonly train: readonly TokenExample[];
  readonly trainSeq: number;
  readonly evalExamples: readonly TokenExample[] | undefined;
  readonly evalSeq: number;
  /** train.valExamples drawn from the training file (not in `train`); empty without them. */
  readonly validation: readonly TokenExample[];
  readonly choices: readonly ChoiceItem[] | undefined;
  readonly padId: number;
  dispose(): Promise<void>;
}

/**
 * The adapter of the config's peft block; its modules are created when the first graph is built (seeded init;
 * DoRA's magnitudes start at the norms of `model`'s weights).
 */
export function createAdapter(peft: TuneConfig['peft'], seed: number, model: LoadedModel): PeftAdapter {
  const rng = derivedRng(seed, RNG_TAGS.init);
  if (peft.method === 'bottleneck') {
    const { placement, bottleneckSize, activation, scaling, dropout, targets } = peft;
    return new BottleneckAdapter({ placement, bottleneckSize, activation, scaling, dropout, targets }, rng);
  }
  const spec = { r: peft.r, alpha: peft.alpha, dropout: peft.dropout, targets: peft.targets, rsLora: peft.rsLora };
  return peft.method === 'dora' ? new DoraAdapter(spec, rng, modelWeightReader(model)) : new LoraAdapter(spec, rng);
}

export function describeAdapter(peft: TuneConfig['peft']): string {
  return peft.method === 'bottleneck'
    ? `${peft.placement} bottleneck adapters (size ${peft.bottleneckSize}, ${peft.activation}, scaling ${peft.scaling})`
    : `${peft.method === 'dora' ? 'DoRA' : 'LoRA'} r=${peft.r} alpha=${peft.alpha}`;
}

// A loop, not Math.max(...): a spread of ~125k examples overflows the call stack.
export const longest = (examples: readonly TokenExample[]): number => maxBy(examples, (e) => e.ids.length);

/**
 * maxLength must fit the model's position table: past it ONNX Runtime fails deep in a Gather of the position
 * embeddings (GPT-2, OPT) or RoPE goes beyond the trained range (LLaMA family), neither naming the config key.
 */
export function assertMaxLengthFits(model: LoadedModel, maxLength: number): void {
  const limit = model.config.maxPositions;
  if (maxLength <= limit) return;
  const key = model.config.family === 'gpt2' ? 'n_positions' : 'max_position_embeddings';
  throw new TaskError(`maxLength ${maxLength} is more than the model's ${limit} positions (${key} in ${path.join(model.dir, 'config.json')}); use at most ${limit}`, '$.data.maxLength');
}

/** A config's data block read for a model: token examples (ids checked against the vocabulary), choices, padding id. */
export interface TaskData {
  readonly tokenizer: ModelTokenizer | undefined;
  readonly train: TokenExample[];
  readonly evalExamples: TokenExample[] | undefined;
  /** Multiple-choice items of an llm-adapters eval set (undefined when it has none). */
  readonly choices: ChoiceItem[] | undefined;
  readonly padId: number;
  /** Reads another file of the data block's format (e.g. offsite support data); `where` is the JSON path for errors. */
  read(file: string, limit: number, where?: string): TokenExample[];
}

/** Loads the tokenizer (when the format needs it) and the data block's files for `model`. */
export function loadTaskData(model: LoadedModel, d: TuneConfig['data'], ctx: Pick<TaskContext, 'log'>): TaskData {
  assertMaxLengthFits(model, d.maxLength);
  const evalIsInstructions = d.eval !== undefined && d.format === 'llm-adapters';
  const needsTokenizer = d.format !== 'tokens' || evalIsInstructions;
  const tokenizer = needsTokenizer ? ModelTokenizer.load(model.dir, model.config.vocabSize) : undefined;
  const read = (file: string, limit: number, where = '$.data'): TokenExample[] => {
    const examples = readExamples(file, d.format, { maxLength: d.maxLength, limit, trainOnInputs: d.trainOnInputs }, tokenizer);
    let noTargets = 0;
    examples.forEach((e, i) => {
      const bad = e.ids.findIndex((id) => id >= model.config.vocabSize);
      if (bad >= 0) throw new TaskError(`${file}: example ${i}, token ${bad} is id ${e.ids[bad]}, not below the model's vocab_size ${model.config.vocabSize}`, where);
      // With the loss on inputs an example keeps targets when its answer is gone; count lost answers either way.
      const answerLost = e.promptLength === undefined ? targetTokenCount(e) === 0 : e.ids.length <= e.promptLength;
      if (answerLost) noTargets += 1;
    });
    // A prompt of maxLength tokens or more leaves its answer no target token: such examples add nothing to the
    // loss, and a set made only of them would "train" with loss 0 and gradient 0 and still complete.
    if (noTargets === examples.length) {
      throw new TaskError(`${file}: all ${examples.length} examples have their answer cut off entirely by maxLength ${d.maxLength}, so nothing is left to train on or score; raise maxLength`, '$.data.maxLength');
    }
    if (noTargets > 0) {
      ctx.log('warn', `${file}: ${noTargets} of ${examples.length} examples have their answer cut off entirely by maxLength ${d.maxLength} (they add no loss; raise $.data.maxLength to keep them)`);
    }
    return examples;
  };
  const train = read(d.train, d.limit.train);
  const evalExamples = d.eval === undefined ? undefined : read(d.eval, d.limit.eval);
  let choices: ChoiceItem[] | undefined;
  if (d.eval !== undefined && evalIsInstructions) {
    try {
      choices = readChoiceItems(d.eval, d.limit.eval);
    } catch (e) {
      ctx.log('warn', `no multiple-choice accuracy: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  return { tokenizer, train, evalExamples, choices, padId: tokenizer?.padTokenId ?? tokenizer?.eosTokenId ?? 0, read };
}

/** Loads model, tokenizer, data and the adapter (peft.init, or an explicit adapter folder), and builds the graphs. */
export async function setupTune(config: TuneConfig, ctx: Pick<TaskContext, 'log'>, options: { adapterDir?: string } = {}): Promise<TuneSetup> {
  let model: LoadedModel;
  try {
    model = loadModel(config.model);
  } catch (e) {
    throw new TaskError(e instanceof Error ? e.message : String(e), '$.model');
  }
  let runner: PeftSessionRunner<PeftAdapter> | undefined;
  try {
    const data = loadTaskData(model, config.data, ctx);
    const { tokenizer, evalExamples, choices, padId } = data;
    let split: { train: TokenExample[]; validation: TokenExample[] };
    try {
      split = splitValidation(data.train, config.train.valExamples, config.train.seed);
    } catch (e) {
      throw new TaskError(`${config.data.train}: ${e instanceof Error ? e.message : String(e)}`, '$.train.valExamples');
    }
    const { train, validation } = split;
    const adapter = createAdapter(config.peft, config.train.seed, model);
    runner = new PeftSessionRunner<PeftAdapter>(model, adapter, { device: config.runtime.device, threads: config.runtime.threads, execution: config.runtime.execution ?? 'blocks', recompute: config.runtime.recompute ?? false });
    const trainSeq = longest(train);
    // Creates the adapter's modules (LoRA: A Kaiming-uniform from the seed, B = 0; bottleneck: W_down
    // Kaiming-uniform, W_up and the biases 0) and the train sessions.
    await runner.prepare(config.train.batchSize, trainSeq);
    const init = options.adapterDir ?? config.peft.init;
    if (init !== undefined) {
      try {
        loadAdapterFolderInto(init, adapter);
      } catch (e) {
        throw new TaskError(e instanceof Error ? e.message : String(e), options.adapterDir !== undefined ? '--adapter' : '$.peft.init');
      }
      ctx.log('info', `adapter weights loaded from ${init}`);
    }
    const finalRunner = runner;
    return {
      model, tokenizer, adapter, runner, train, trainSeq, evalExamples, evalSeq: evalExamples === undefined ? 0 : longest(evalExamples), validation, choices, padId,
      dispose: async () => {
        await finalRunner.dispose();
        model.close();
      },
    };
  } catch (e) {
    await runner?.dispose();
    model.close();
    throw e;
  }
}

/** Evaluation metrics of the current adapter: eval-set loss/perplexity and, where parsed, choice accuracy. */
export async function evaluateSetup(
  setup: Pick<TuneSetup, 'evalExamples' | 'evalSeq' | 'choices' | 'tokenizer' | 'padId'> & { readonly runner: PeftRunner },
  config: Pick<TuneConfig, 'train' | 'data'>,
): Promise<Record<string, number>> {
  const metrics: Record<string, number> = {};
  const batchSize = config.train.evalBatchSize;
  if (setup.evalExamples !== undefined) {
    const p = await perplexity(setup.runner, setup.evalExamples, setup.evalSeq, setup.padId, batchSize);
    Object.assign(metrics, { evalLoss: p.loss, evalPerplexity: p.perplexity, evalTokens: p.tokens });
  }
  if (setup.choices !== undefined && setup.tokenizer !== undefined) {
    const a = await multipleChoiceAccuracy(setup.runner, setup.choices, setup.tokenizer, { maxLength: config.data.maxLength, padId: setup.padId, batchSize });
    Object.assign(metrics, { evalAccuracy: a.accuracy, evalCorrect: a.correct, evalTotal: a.total });
    if (config.train.evalGenerationTokens > 0) {
      const gen = await generationAccuracy(setup.runner, setup.choices, setup.tokenizer, {
        maxNewTokens: config.train.evalGenerationTokens, numBeams: config.train.evalBeams, batchSize, maxLength: config.data.maxLength,
      });
      Object.assign(metrics, { evalGenerationAccuracy: gen.accuracy, evalGenerationCorrect: gen.correct });
    }
  }
  return metrics;
}
