// The weights each architecture needs, under their Hugging Face names with the shapes config.json implies, and
// the mapping to the names a checkpoint actually uses (some omit the base-model prefix, e.g. the original
// `gpt2` repo stores `h.0.attn...` rather than `transformer.h.0.attn...`).
import { Checkpoint } from './checkpoint';
import { CheckpointError } from './checkpointError';
import type { Gpt2Config, LlamaConfig, ModelConfig, OptConfig } from './config';
import { GPT2_QKV_PARTS, type EmulatorLayerLayout } from './emulatorLayout';

export interface WeightSpec {
  /** Hugging Face name with the base-model prefix (transformer., model., model.decoder.). */
  readonly name: string;
  readonly shape: readonly number[];
}

export function expectedWeights(config: ModelConfig): WeightSpec[] {
  switch (config.family) {
    case 'gpt2': return gpt2Weights(config);
    case 'llama': return llamaWeights(config);
    case 'opt': return optWeights(config);
  }
}

function gpt2Weights(c: Gpt2Config): WeightSpec[] {
  const H = c.hiddenSize;
  const out: WeightSpec[] = [
    { name: 'transformer.wte.weight', shape: [c.vocabSize, H] },
    { name: 'transformer.wpe.weight', shape: [c.maxPositions, H] },
  ];
  for (let l = 0; l < c.numLayers; l++) {
    const p = `transformer.h.${l}.`;
    const em = c.emulator?.layers[l];
    const inner = em?.intermediateSize ?? c.innerSize;
    // Conv1D weights are stored [in, out]; factorized (emulator) maps as first [rank, in], second [out, rank].
    const conv = (name: string, i: number, o: number) => {
      const rank = em?.factorized[name];
      out.push(...(rank === undefined ? [{ name: `${p}${name}.weight`, shape: [i, o] }] : factorWeights(`${p}${name}`, o, i, rank)));
    };
    out.push({ name: `${p}ln_1.weight`, shape: [H] }, { name: `${p}ln_1.bias`, shape: [H] });
    if (em?.factorized[GPT2_QKV_PARTS[0]] !== undefined) for (const part of GPT2_QKV_PARTS) conv(part, H, H);
    else conv('attn.c_attn', H, 3 * H);
    out.push({ name: `${p}attn.c_attn.bias`, shape: [3 * H] });
    conv('attn.c_proj', H, H);
    out.push(
      { name: `${p}attn.c_proj.bias`, shape: [H] },
      { name: `${p}ln_2.weight`, shape: [H] }, { name: `${p}ln_2.bias`, shape: [H] },
    );
    conv('mlp.c_fc', H, inner);
    out.push({ name: `${p}mlp.c_fc.bias`, shape: [inner] });
    conv('mlp.c_proj', inner, H);
    out.push({ name: `${p}mlp.c_proj.bias`, shape: [H] });
  }
  out.push({ name: 'transformer.ln_f.weight', shape: [H] }, { name: 'transformer.ln_f.bias', shape: [H] });
  if (!c.tieWordEmbeddings) out.push({ name: 'lm_head.weight', shape: [c.vocabSize, H] });
  return out;
}

function llamaWeights(c: LlamaConfig): WeightSpec[] {
  const H = c.hiddenSize;
  const q = c.numHeads * c.headDim;
  const kv = c.numKvHeads * c.headDim;
  const out: WeightSpec[] = [{ name: 'model.embed_tokens.weight', shape: [c.vocabSize, H] }];
  for (let l = 0; l < c.numLayers; l++) {
    const p = `model.layers.${l}.`;
    const em = c.emulator?.layers[l];
    const I = em?.intermediateSize ?? c.intermediateSize;
    const linear = (name: string, o: number, i: number, bias: boolean) => {
      out.push(...linearWeights(`${p}${name}`, o, i, em?.factorized[name]));
      if (bias) out.push({ name: `${p}${name}.bias`, shape: [o] });
    };
    out.push({ name: `${p}input_layernorm.weight`, shape: [H] });
    linear('self_attn.q_proj', q, H, c.qkvBias);
    linear('self_attn.k_proj', kv, H, c.qkvBias);
    linear('self_attn.v_proj', kv, H, c.qkvBias);
    linear('self_attn.o_proj', H, q, c.oBias);
    out.push({ name: `${p}post_attention_layernorm.weight`, shape: [H] });
    linear('mlp.gate_proj', I, H, c.mlpBias);
    linear('mlp.up_proj', I, H, c.mlpBias);
    linear('mlp.down_proj', H, I, c.mlpBias);
  }
  out.push({ name: 'model.norm.weight', shape: [H] });
  if (!c.tieWordEmbeddings) out.push({ name: 'lm_head.weight', shape: [c.vocabSize, H] });
  return out;
}

function optWeights(c: OptConfig): WeightSpec[] {
  const H = c.hiddenSize;
  const out: WeightSpec[] = [
    { name: 'model.decoder.embed_tokens.weight', shape: [c.vocabSize, H] },
    { name: 'model.decoder.embed_positions.weight', shape: [c.maxPositions + c.positionOffset, H] },
  ];
  const norm = (name: string) => {
    if (c.layerNormAffine) out.push({ name: `${name}.weight`, shape: [H] }, { name: `${name}.bias`, shape: [H] });
  };
  for (let l = 0; l < c.numLayers; l++) {
    const p = `model.decoder.layers.${l}.`;
    const em = c.emulator?.layers[l];
    const ffn = em?.intermediateSize ?? c.ffnDim;
    const linear = (name: string, o: number, i: number) => {
      out.push(...linearWeights(`${p}${name}`, o, i, em?.factorized[name]));
      if (c.enableBias) out.push({ name: `${p}${name}.bias`, shape: [o] });
    };
    for (const m of ['q_proj', 'k_proj', 'v_proj', 'out_proj']) linear(`self_attn.${m}`, H, H);
    norm(`${p}self_attn_layer_norm`);
    linear('fc1', ffn, H);
    linear('fc2', H, ffn);
    norm(`${p}final_layer_norm`);
  }
  if (c.doLayerNormBefore) norm('model.decoder.final_layer_norm');
  if (!c.tieWordEmbeddings) out.push({ name: 'lm_head.weight', shape: [c.vocabSize, H] });
  return out;
}

/** Names of a factorized map (emulatorLayout.ts): `<path>.first.weight` [rank, in], `<path>.second.weight` [out, rank]. */
export function factorWeights(path: string, outFeatures: number, inFeatures: number, rank: number): WeightSpec[] {
  return [{ name: `${path}.first.weight`, shape: [rank, inFeatures] }, { name: `${path}.second.weight`, shape: [outFeatures, rank] }];
}

/** A torch Linear weight [out, in], or its two factors when the emulator layout factorizes it. */
function linearWeights(path: string, o: number, i: number, rank: EmulatorLayerLayout['factorized'][string] | undefined): WeightSpec[] {
  return rank === undefined ? [{ name: `${path}.weight`, shape: [o, i] }] : factorWeights(path, o, i, rank);
}

/** Base-model prefixes a checkpoint may leave out (saved from the bare model instead of the LM head model). */
const OPTIONAL_PREFIXES = ['transformer.', 'model.'];

/** Looks up expected weights in a checkpoint, accepting names stored without the base-model prefix. */
export class WeightResolver {
  private readonly specs: Map<string, WeightSpec>;

  constructor(readonly checkpoint: Checkpoint, config: ModelConfig) {
    this.specs = new Map(expectedWeights(config).map((s) => [s.name, s]));
  }

  /** The name the checkpoint stores `name` under; throws naming the file and the tensor when absent. */
  storedName(name: string): string {
    if (this.checkpoint.has(name)) return name;
    for (const prefix of OPTIONAL_PREFIXES) {
      if (name.startsWith(prefix) && this.checkpoint.has(name.slice(prefix.length))) return name.slice(prefix.length);
    }
    throw new CheckpointError(this.checkpoint.describedBy, name, 'tensor is missing from the checkpoint (required by config.json)');
  }

  spec(name: string): WeightSpec {
    const s = this.specs.get(name);
    if (s === undefined) throw new Error(`internal: no weight spec for '${name}'`);
    return s;
  }

  /** Checks that every expected weight is present with its expected shape (errors name file and tensor). */
  validateAll(): void {
    for (const s of this.specs.values()) this.checkpoint.info(this.storedName(s.name));
    for (const s of this.specs.values()) this.checkShape(s);
  }

  readFloat64(name: string): Float64Array {
    return this.checkpoint.readFloat64(this.storedName(name), this.spec(name).shape);
  }

  readFloat32(name: string): Float32Array {
    return this.checkpoint.readFloat32(this.storedName(name), this.spec(name).shape);
  }

  lazy(name: string, target: 'float32' | 'float64'): ReturnType<Checkpoint['lazy']> {
    return this.checkpoint.lazy(this.storedName(name), target, this.spec(name).shape);
  }

  parameterCount(): number {
    let n = 0;
    for (const s of this.specs.values()) n += s.shape.reduce((a, d) => a * d, 1);
    return n;
  }

  private checkShape(s: WeightSpec): void {
    const stored = this.storedName(s.name);
    const info = this.checkpoint.info(stored);
    if (info.shape.length !== s.shape.length || info.shape.some((d, i) => d !== s.shape[i])) {
      throw new CheckpointError(info.file, stored, `stored shape [${info.shape.join(', ')}] but config.json implies [${s.shape.join(', ')}]`);
    }
  }
}
