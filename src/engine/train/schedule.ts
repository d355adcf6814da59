// Learning-rate schedules, steps counted from 0. Linear warm-up as transformers' get_*_schedule_with_warmup:
// lr(s) = peak * s / warmup for s < warmup (so with warmup 0, step 0 already uses the full rate); afterwards
// progress q = (s - warmup) / max(1, total - warmup) and
//   cosine: peak * 0.5 * (1 + cos(pi q))   (Loshchilov & Hutter, SGDR, ICLR 2017; one half-cycle, to 0)
//   linear: peak * max(0, 1 - q)
//   constant: peak

export type DecayKind = 'cosine' | 'linear' | 'constant';

export interface Schedule {
  readonly peak: number;
  readonly warmupSteps: number;
  readonly totalSteps: number;
  readonly decay: DecayKind;
}

export function learningRateAt(step: number, s: Schedule): number {
  if (step < s.warmupSteps) return s.peak * (step / s.warmupSteps);
  const q = Math.min(1, (step - s.warmupSteps) / Math.max(1, s.totalSteps - s.warmupSteps));
  switch (s.decay) {
    case 'cosine': return s.peak * 0.5 * (1 + Math.cos(Math.PI * q));
    case 'linear': return s.peak * Math.max(0, 1 - q);
    case 'constant': return s.peak;
  }
}
