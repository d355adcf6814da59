// Float64 reference forward passes written from the Hugging Face modeling code's equations (modeling_gpt2.py,
// modeling_llama.py / modeling_qwen2.py, modeling_opt.py), in plain loops, as the tests' ground truth.
// Deliberately independent of src/engine/models' graph code: only the config types are shared.
import type { Gpt2Config, LlamaConfig, ModelConfig, OptConfig } from '../../../src/engine/models/config';

export type WeightGetter = (name: string) => Float64Array;
export type OptionalWeightGetter = (name: string) => Float64Array | undefined;

export interface ReferenceBatch {
  readonly ids: readonly (readonly number[])[];
  /** 1 = real token, 0 = padding; same shape as ids. */
  readonly mask: readonly (readonly number[])[];
  readonly positions: readonly (readonly number[])[];
}

/** logits[b][s] is a Float64Array of vocab size. Rows whose query has no visible key are left as zeros. */
export function referenceLogits(config: ModelConfig, get: WeightGetter, has: (name: string) => boolean, batch: ReferenceBatch): Float64Array[][] {
  return batch.ids.map((ids, b) => {
    const mask = batch.mask[b];
    const positions = batch.positions[b];
    switch (config.family) {
      case 'gpt2': return gpt2Row(config, get, has, ids, mask, positions);
      case 'llama': return llamaRow(config, get, has, ids, mask, positions);
      case 'opt': return optRow(config, get, has, ids, mask, positions);
    }
  });
}

type Vec = Float64Array;

function gpt2Row(c: Gpt2Config, get: WeightGetter, has: (n: string) => boolean, ids: readonly number[], mask: readonly number[], pos: readonly number[]): Vec[] {
  const H = c.hiddenSize;
  const wte = get('transformer.wte.weight');
  const wpe = get('transformer.wpe.weight');
  let h: Vec[] = ids.map((id, s) => {
    const v = new Float64Array(H);
    for (let i = 0; i < H; i++) v[i] = wte[id * H + i] + wpe[pos[s] * H + i];
    return v;
  });
  for (let l = 0; l < c.numLayers; l++) {
    const p = `transformer.h.${l}.`;
    const a = h.map((x) => layerNorm(x, get(`${p}ln_1.weight`), get(`${p}ln_1.bias`), c.layerNormEps));
    // Conv1D: y = x W + b with W stored [in, out].
    const qkv = a.map((x) => conv1d(x, get(`${p}attn.c_attn.weight`), get(`${p}attn.c_attn.bias`)));
    const q = qkv.map((v) => v.slice(0, H));
    const k = qkv.map((v) => v.slice(H, 2 * H));
    const vv = qkv.map((v) => v.slice(2 * H, 3 * H));
    const att = attention(q, k, vv, mask, c.numHeads, c.numHeads, c.headDim);
    const o = att.map((x) => conv1d(x, get(`${p}attn.c_proj.weight`), get(`${p}attn.c_proj.bias`)));
    h = h.map((x, s) => add(x, o[s]));
    const m = h.map((x) => layerNorm(x, get(`${p}ln_2.weight`), get(`${p}ln_2.bias`), c.layerNormEps));
    const f = m.map((x) => conv1d(gelu(conv1d(x, get(`${p}mlp.c_fc.weight`), get(`${p}mlp.c_fc.bias`))), get(`${p}mlp.c_proj.weight`), get(`${p}mlp.c_proj.bias`)));
    h = h.map((x, s) => add(x, f[s]));
  }
  h = h.map((x) => layerNorm(x, get('transformer.ln_f.weight'), get('transformer.ln_f.bias'), c.layerNormEps));
  const head = !c.tieWordEmbeddings && has('lm_head.weight') ? get('lm_head.weight') : wte;
  return h.map((x, s) => (mask[s] ? linear(x, head) : new Float64Array(c.vocabSize)));
}

function llamaRow(c: LlamaConfig, get: WeightGetter, has: (n: string) => boolean, ids: readonly number[], mask: readonly number[], pos: readonly number[]): Vec[] {
  const H = c.hiddenSize;
  const emb = get('model.embed_tokens.weight');
  const bias = (name: string, present: boolean): Vec | undefined => (present ? get(name) : undefined);
  let h: Vec[] = ids.map((id) => emb.slice(id * H, (id + 1) * H));
  const invFreq = inverseFrequencies(c);
  for (let l = 0; l < c.numLayers; l++) {
    const p = `model.layers.${l}.`;
    const a = h.map((x) => rmsNorm(x, get(`${p}input_layernorm.weight`), c.rmsNormEps));
    const proj = (name: string, b: boolean) => a.map((x) => linear(x, get(`${p}self_attn.${name}.weight`), bias(`${p}self_attn.${name}.bias`, b)));
    const q = proj('q_proj', c.qkvBias).map((x, s) => rope(x, pos[s], c.numHeads, c.headDim, invFreq));
    const k = proj('k_proj', c.qkvBias).map((x, s) => rope(x, pos[s], c.numKvHeads, c.headDim, invFreq));
    const v = proj('v_proj', c.qkvBias);
    const att = attention(q, k, v, mask, c.numHeads, c.numKvHeads, c.headDim);
    const o = att.map((x) => linear(x, get(`${p}self_attn.o_proj.weight`), bias(`${p}self_attn.o_proj.bias`, c.oBias)));
    h = h.map((x, s) => add(x, o[s]));
    const m = h.map((x) => rmsNorm(x, get(`${p}post_attention_layernorm.weight`), c.rmsNormEps));
    const f = m.map((x) => {
      const g = linear(x, get(`${p}mlp.gate_proj.weight`), bias(`${p}mlp.gate_proj.bias`, c.mlpBias));
      const u = linear(x, get(`${p}mlp.up_proj.weight`), bias(`${p}mlp.up_proj.bias`, c.mlpBias));
      const gu = g.map((gi, i) => (gi / (1 + Math.exp(-gi))) * u[i]);
      return linear(gu, get(`${p}mlp.down_proj.weight`), bias(`${p}mlp.down_proj.bias`, c.mlpBias));
    });
    h = h.map((x, s) => add(x, f[s]));
  }
  h = h.map((x) => rmsNorm(x, get('model.norm.weight'), c.rmsNormEps));
  const head = c.tieWordEmbeddings || !has('lm_head.weight') ? emb : get('lm_head.weight');
  return h.map((x, s) => (mask[s] ? linear(x, head) : new Float64Array(c.vocabSize)));
}

function optRow(c: OptConfig, get: WeightGetter, has: (n: string) => boolean, ids: readonly number[], mask: readonly number[], pos: readonly number[]): Vec[] {
  const H = c.hiddenSize;
  const emb = get('model.decoder.embed_tokens.weight');
  const pe = get('model.decoder.embed_positions.weight');
  let h: Vec[] = ids.map((id, s) => {
    const v = new Float64Array(H);
    // OPTLearnedPositionalEmbedding: row = position + 2.
    for (let i = 0; i < H; i++) v[i] = emb[id * H + i] + pe[(pos[s] + 2) * H + i];
    return v;
  });
  const ln = (x: Vec, name: string) => layerNorm(x, get(`${name}.weight`), get(`${name}.bias`), 1e-5);
  const lin = (x: Vec, name: string) => linear(x, get(`${name}.weight`), get(`${name}.bias`));
  for (let l = 0; l < c.numLayers; l++) {
    const p = `model.decoder.layers.${l}.`;
    const a = c.doLayerNormBefore ? h.map((x) => ln(x, `${p}self_attn_layer_norm`)) : h;
    const scale = c.headDim ** -0.5;
    const q = a.map((x) => lin(x, `${p}self_attn.q_proj`).map((v) => v * scale));
    const k = a.map((x) => lin(x, `${p}self_attn.k_proj`));
    const v = a.map((x) => lin(x, `${p}self_attn.v_proj`));
    // attention() divides by sqrt(headDim); OPT already scaled q, so undo that here.
    const att = attention(q.map((x) => x.map((e) => e * Math.sqrt(c.headDim))), k, v, mask, c.numHeads, c.numHeads, c.headDim);
    h = h.map((x, s) => add(x, lin(att[s], `${p}self_attn.out_proj`)));
    if (!c.doLayerNormBefore) h = h.map((x) => ln(x, `${p}self_attn_layer_norm`));
    const m = c.doLayerNormBefore ? h.map((x) => ln(x, `${p}final_layer_norm`)) : h;
    const f = m.map((x) => lin(lin(x, `${p}fc1`).map((e) => Math.max(0, e)), `${p}fc2`));
    h = h.map((x, s) => add(x, f[s]));
    if (!c.doLayerNormBefore) h = h.map((x) => ln(x, `${p}final_layer_norm`));
  }
  if (c.doLayerNormBefore) h = h.map((x) => ln(x, 'model.decoder.final_layer_norm'));
  const head = !c.tieWordEmbeddings && has('lm_head.weight') ? get('lm_head.weight') : emb;
  return h.map((x, s) => (mask[s] ? linear(x, head) : new Float64Array(c.vocabSize)));
}

/** Multi-head causal attention with key padding mask; query head h reads kv head floor(h / (nh / nkv)). */
function attention(q: Vec[], k: Vec[], v: Vec[], mask: readonly number[], nh: number, nkv: number, hd: number): Vec[] {
  const S = q.length;
  const group = nh / nkv;
  return q.map((qi, i) => {
    const out = new Float64Array(nh * hd);
    for (let head = 0; head < nh; head++) {
      const kvh = Math.floor(head / group);
      const scores: number[] = [];
      const keys: number[] = [];
      for (let j = 0; j <= i && j < S; j++) {
        if (!mask[j]) continue;
        let dot = 0;
        for (let d = 0; d < hd; d++) dot += qi[head * hd + d] * k[j][kvh * hd + d];
        scores.push(dot / Math.sqrt(hd));
        keys.push(j);
      }
      if (keys.length === 0) continue;
      const max = Math.max(...scores);
      const e = scores.map((s) => Math.exp(s - max));
      const z = e.reduce((a, b) => a + b, 0);
      keys.forEach((j, n) => {
        for (let d = 0; d < hd; d++) out[head * hd + d] += (e[n] / z) * v[j][kvh * hd + d];
      });
    }
    return out;
  });
}

/**
 * inv_freq_i = theta^(-2i/d); with Llama 3 rope_scaling (modeling_rope_utils.py): wavelength 2 pi / f below
 * original/high_freq_factor kept, above original/low_freq_factor divided by factor, else blended.
 */
function inverseFrequencies(c: LlamaConfig): number[] {
  const out: number[] = [];
  for (let i = 0; i < c.headDim / 2; i++) {
    const f = c.ropeTheta ** (-(2 * i) / c.headDim);
    const s = c.ropeScaling;
    if (s === undefined) {
      out.push(f);
      continue;
    }
    const wavelength = (2 * Math.PI) / f;
    if (wavelength < s.originalMaxPositions / s.highFreqFactor) out.push(f);
    else if (wavelength > s.originalMaxPositions / s.lowFreqFactor) out.push(f / s.factor);
    else {
      const smooth = (s.originalMaxPositions / wavelength - s.lowFreqFactor) / (s.highFreqFactor - s.lowFreqFactor);
      out.push((1 - smooth) * (f / s.factor) + smooth * f);
    }
  }
  return out;
}

/** RoPE, rotate-half convention (modeling_llama.py apply_rotary_pos_emb). */
function rope(x: Vec, position: number, heads: number, hd: number, invFreq: readonly number[]): Vec {
  const out = new Float64Array(x.length);
  const half = hd / 2;
  for (let h = 0; h < heads; h++) {
    for (let i = 0; i < half; i++) {
      const angle = position * invFreq[i];
      const cos = Math.cos(angle);
      const sin = Math.sin(angle);
      const a = x[h * hd + i];
      const b = x[h * hd + half + i];
      out[h * hd + i] = a * cos - b * sin;
      out[h * hd + half + i] = b * cos + a * sin;
    }
  }
  return out;
}

/** y = W x + b with W stored [out, in] (torch.nn.Linear). */
function linear(x: Vec, w: Vec, b?: Vec): Vec {
  const n = x.length;
  const m = w.length / n;
  const y = new Float64Array(m);
  for (let o = 0; o < m; o++) {
    let s = b ? b[o] : 0;
    for (let i = 0; i < n; i++) s += w[o * n + i] * x[i];
    y[o] = s;
  }
  return y;
}

/** y = x W + b with W stored [in, out] (GPT-2 Conv1D). */
function conv1d(x: Vec, w: Vec, b: Vec): Vec {
  const n = x.length;
  const m = w.length / n;
  const y = new Float64Array(m);
  for (let o = 0; o < m; o++) {
    let s = b[o];
    for (let i = 0; i < n; i++) s += x[i] * w[i * m + o];
    y[o] = s;
  }
  return y;
}

function layerNorm(x: Vec, w: Vec, b: Vec, eps: number): Vec {
  const mean = x.reduce((a, v) => a + v, 0) / x.length;
  const variance = x.reduce((a, v) => a + (v - mean) ** 2, 0) / x.length;
  const inv = 1 / Math.sqrt(variance + eps);
  return x.map((v, i) => (v - mean) * inv * w[i] + b[i]);
}

function rmsNorm(x: Vec, w: Vec, eps: number): Vec {
  const ms = x.reduce((a, v) => a + v * v, 0) / x.length;
  const inv = 1 / Math.sqrt(ms + eps);
  return x.map((v, i) => v * inv * w[i]);
}

/** gelu_new (tanh approximation): 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))). */
function gelu(x: Vec): Vec {
  return x.map((v) => 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v ** 3))));
}

function add(a: Vec, b: Vec): Vec {
  return a.map((v, i) => v + b[i]);
}
