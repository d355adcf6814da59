// RoPE inverse frequencies (Su et al. 2021, RoFormer): inv_freq_i = theta^(-2i/d), i < d/2, optionally
// rescaled as Llama 3.1 does (transformers modeling_rope_utils.py `_compute_llama3_parameters`).

export interface Llama3RopeScaling {
  readonly type: 'llama3';
  readonly factor: number;
  readonly lowFreqFactor: number;
  readonly highFreqFactor: number;
  readonly originalMaxPositions: number;
}

export function ropeInverseFrequencies(headDim: number, theta: number, scaling?: Llama3RopeScaling): number[] {
  const base = Array.from({ length: headDim / 2 }, (_, i) => 1 / theta ** ((2 * i) / headDim));
  return scaling === undefined ? base : base.map((f) => llama3ScaledFrequency(f, scaling));
}

/**
 * Llama 3 scaling: wavelengths shorter than original/high_freq_factor are kept, longer than
 * original/low_freq_factor are divided by `factor`, and in between interpolated with
 * smooth = (original / wavelength - low) / (high - low): (1 - smooth) f / factor + smooth f.
 */
export function llama3ScaledFrequency(f: number, s: Llama3RopeScaling): number {
  const wavelength = (2 * Math.PI) / f;
  const highFreqWavelength = s.originalMaxPositions / s.highFreqFactor;
  const lowFreqWavelength = s.originalMaxPositions / s.lowFreqFactor;
  if (wavelength < highFreqWavelength) return f;
  if (wavelength > lowFreqWavelength) return f / s.factor;
  const smooth = (s.originalMaxPositions / wavelength - s.lowFreqFactor) / (s.highFreqFactor - s.lowFreqFactor);
  return (1 - smooth) * (f / s.factor) + smooth * f;
}
