// A model's tokenizer: `tokenizer.json` + `tokenizer_config.json` through @huggingface/tokenizers, with the
// special tokens and chat template from the config, and a check that encoded ids fit the model's embedding.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';
import { isRecord } from './safetensors';

export class TokenizerError extends Error {
  override name = 'TokenizerError';
}

export interface TokenizerSummary {
  readonly vocabSize: number;
  readonly tokenizerClass?: string;
  readonly bosToken?: string;
  readonly eosToken?: string;
  readonly padToken?: string;
  readonly hasChatTemplate: boolean;
}

export class ModelTokenizer {
  private constructor(
    private readonly tokenizer: Tokenizer,
    readonly dir: string,
    /** The model's embedding rows; ids at or above it cannot be embedded. Undefined: not checked. */
    readonly modelVocabSize: number | undefined,
    readonly vocabSize: number,
    readonly tokenizerClass: string | undefined,
    readonly bosToken: string | undefined,
    readonly eosToken: string | undefined,
    readonly padToken: string | undefined,
    /** Jinja chat template string from tokenizer_config.json, where present (rendering is left to the caller). */
    readonly chatTemplate: string | undefined,
  ) {}

  /** Loads `dir/tokenizer.json` and `dir/tokenizer_config.json` (the latter optional). */
  static load(dir: string, modelVocabSize?: number): ModelTokenizer {
    const tokenizerFile = path.join(dir, 'tokenizer.json');
    const configFile = path.join(dir, 'tokenizer_config.json');
    if (!fs.existsSync(tokenizerFile)) {
      const legacy = ['vocab.json', 'tokenizer.model'].filter((f) => fs.existsSync(path.join(dir, f)));
      throw new TokenizerError(`${tokenizerFile}: missing${legacy.length > 0
        ? ` (found ${legacy.join(', ')}: only the fast-tokenizer format tokenizer.json is supported; save it with ` +
          '`AutoTokenizer.from_pretrained(dir).save_pretrained(dir)` in Python)' : ''}`);
    }
    const tokenizerJson = readJson(tokenizerFile);
    const config = fs.existsSync(configFile) ? readJson(configFile) : {};
    if (!isRecord(tokenizerJson)) throw new TokenizerError(`${tokenizerFile}: not a JSON object`);
    if (!isRecord(config)) throw new TokenizerError(`${configFile}: not a JSON object`);
    let tokenizer: Tokenizer;
    try {
      tokenizer = new Tokenizer(tokenizerJson, config);
    } catch (e) {
      throw new TokenizerError(`${tokenizerFile}: cannot build the tokenizer: ${e instanceof Error ? e.message : String(e)}`);
    }
    const template = config.chat_template;
    return new ModelTokenizer(
      tokenizer, dir, modelVocabSize, tokenizer.get_vocab(true).size,
      typeof config.tokenizer_class === 'string' ? config.tokenizer_class : undefined,
      tokenString(config.bos_token), tokenString(config.eos_token), tokenString(config.pad_token),
      typeof template === 'string' ? template : undefined,
    );
  }

  /** Token ids of `text`; with addSpecialTokens (default true) the post-processor adds e.g. LLaMA's `<s>`. */
  encode(text: string, options: { addSpecialTokens?: boolean } = {}): number[] {
    const ids = this.tokenizer.encode(text, { add_special_tokens: options.addSpecialTokens ?? true }).ids;
    this.checkIds(ids, text);
    return ids;
  }

  decode(ids: readonly number[], options: { skipSpecialTokens?: boolean } = {}): string {
    return this.tokenizer.decode([...ids], { skip_special_tokens: options.skipSpecialTokens ?? false });
  }

  tokenToId(token: string): number | undefined {
    return this.tokenizer.token_to_id(token);
  }

  get bosTokenId(): number | undefined { return this.idOf(this.bosToken); }
  get eosTokenId(): number | undefined { return this.idOf(this.eosToken); }
  get padTokenId(): number | undefined { return this.idOf(this.padToken); }

  summary(): TokenizerSummary {
    return {
      vocabSize: this.vocabSize, tokenizerClass: this.tokenizerClass, bosToken: this.bosToken,
      eosToken: this.eosToken, padToken: this.padToken, hasChatTemplate: this.chatTemplate !== undefined,
    };
  }

  /** Throws if an id cannot be embedded by the model (a tokenizer bigger than the model's vocabulary). */
  checkIds(ids: readonly number[], text?: string): void {
    if (this.modelVocabSize === undefined) return;
    const limit = this.modelVocabSize;
    const bad = ids.findIndex((id) => id >= limit);
    if (bad >= 0) {
      throw new TokenizerError(
        `${path.join(this.dir, 'tokenizer.json')}: token id ${ids[bad]} (position ${bad}, token ` +
        `${JSON.stringify(this.tokenizer.id_to_token(ids[bad]))}${text === undefined ? '' : ` in ${JSON.stringify(text.slice(0, 80))}`}) ` +
        `is >= the model's vocab_size ${limit}: the tokenizer (${this.vocabSize} tokens) does not match the model's ` +
        'embedding; use a matching tokenizer or pre-tokenized ids below vocab_size');
    }
  }

  private idOf(token: string | undefined): number | undefined {
    return token === undefined ? undefined : this.tokenizer.token_to_id(token);
  }
}

/** tokenizer_config.json gives special tokens as strings or as AddedToken objects {content, ...}. */
function tokenString(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (isRecord(v) && typeof v.content === 'string') return v.content;
  return undefined;
}

function readJson(file: string): unknown {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new TokenizerError(`${file}: cannot read JSON: ${e instanceof Error ? e.message : String(e)}`);
  }
}
