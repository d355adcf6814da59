// A summary of a model folder for `peft-lab inspect` and the UI: architecture, sizes, parameters, dtypes, tokenizer.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ModelConfig } from './config';
import type { LoadedModel } from './model';
import { ModelTokenizer, type TokenizerSummary } from './tokenizer';

export interface ModelSummary {
  readonly dir: string;
  readonly modelType: string;
  readonly architectures: readonly string[];
  readonly layers: number;
  readonly hiddenSize: number;
  readonly heads: number;
  readonly kvHeads: number;
  readonly headDim: number;
  readonly intermediateSize: number;
  readonly vocabSize: number;
  readonly maxPositions: number;
  readonly tiedEmbeddings: boolean;
  readonly parameters: number;
  /** Stored dtype -> element count, e.g. { F16: 1234 }. */
  readonly storedDtypes: Readonly<Record<string, number>>;
  readonly checkpointFiles: readonly string[];
  readonly tokenizer: TokenizerSummary | { readonly error: string };
}

export function summarizeModel(model: LoadedModel): ModelSummary {
  const c = model.config;
  const files = new Set(model.checkpoint.names().map((n) => path.relative(model.dir, model.checkpoint.info(n).file)));
  let tokenizer: ModelSummary['tokenizer'];
  if (!fs.existsSync(path.join(model.dir, 'tokenizer.json'))) {
    tokenizer = { error: 'no tokenizer.json' };
  } else {
    try {
      tokenizer = ModelTokenizer.load(model.dir, c.vocabSize).summary();
    } catch (e) {
      tokenizer = { error: e instanceof Error ? e.message : String(e) };
    }
  }
  return {
    dir: model.dir, modelType: c.modelType, architectures: c.architectures, layers: c.numLayers,
    hiddenSize: c.hiddenSize, heads: c.numHeads, kvHeads: kvHeadsOf(c), headDim: c.headDim,
    intermediateSize: intermediateOf(c), vocabSize: c.vocabSize, maxPositions: c.maxPositions,
    tiedEmbeddings: c.tieWordEmbeddings, parameters: model.weights.parameterCount(),
    storedDtypes: Object.fromEntries(model.checkpoint.dtypeSummary()), checkpointFiles: [...files].sort(), tokenizer,
  };
}

function kvHeadsOf(c: ModelConfig): number {
  return c.family === 'llama' ? c.numKvHeads : c.numHeads;
}

function intermediateOf(c: ModelConfig): number {
  switch (c.family) {
    case 'gpt2': return c.innerSize;
    case 'llama': return c.intermediateSize;
    case 'opt': return c.ffnDim;
  }
}

export function formatSummary(s: ModelSummary): string[] {
  const millions = (n: number) => (n >= 1e6 ? `${(n / 1e6).toFixed(2)}M` : n.toLocaleString('en-US'));
  const tok = 'error' in s.tokenizer
    ? `unavailable (${s.tokenizer.error})`
    : `${s.tokenizer.tokenizerClass ?? 'tokenizer.json'}, ${s.tokenizer.vocabSize} tokens` +
      `${s.tokenizer.bosToken ? `, bos ${s.tokenizer.bosToken}` : ''}${s.tokenizer.eosToken ? `, eos ${s.tokenizer.eosToken}` : ''}` +
      `${s.tokenizer.hasChatTemplate ? ', chat template' : ''}` +
      `${s.tokenizer.vocabSize > s.vocabSize ? ` (WARNING: more tokens than the model's ${s.vocabSize} embedding rows)` : ''}`;
  return [
    `model:         ${s.dir}`,
    `architecture:  ${s.modelType}${s.architectures.length > 0 ? ` (${s.architectures.join(', ')})` : ''}`,
    `layers:        ${s.layers}`,
    `hidden size:   ${s.hiddenSize}`,
    `heads:         ${s.heads} (KV heads ${s.kvHeads}, head dim ${s.headDim})`,
    `intermediate:  ${s.intermediateSize}`,
    `vocab size:    ${s.vocabSize}`,
    `positions:     ${s.maxPositions}`,
    `tied head:     ${s.tiedEmbeddings ? 'yes' : 'no'}`,
    `parameters:    ${millions(s.parameters)} (${s.parameters})`,
    `stored dtype:  ${Object.keys(s.storedDtypes).join(', ')} in ${s.checkpointFiles.join(', ')}`,
    `tokenizer:     ${tok}`,
  ];
}
