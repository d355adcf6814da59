// Optimizers over flat float32 parameter arrays, updated in place (math in float64, stored as float32 as
// torch's float32 parameters and states are).
//
// AdamW: Loshchilov & Hutter, "Decoupled Weight Decay Regularization" (ICLR 2019), as torch.optim.AdamW
// implements it (amsgrad off): with t = step + 1,
//   p <- p - lr * wd * p                      (decoupled decay, before the moment update)
//   m <- b1 m + (1 - b1) g;   v <- b2 v + (1 - b2) g^2
//   p <- p - lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)
// SGD: p <- p - lr * (g + wd * p) (torch.optim.SGD without momentum).

export interface AdamWOptions {
  readonly beta1?: number;
  readonly beta2?: number;
  readonly eps?: number;
  readonly weightDecay?: number;
}

/** State of one parameter tensor. */
export interface AdamMoments {
  readonly m: Float32Array;
  readonly v: Float32Array;
}

export interface Optimizer {
  readonly kind: 'adamw' | 'sgd';
  /** Updates every parameter in place with its gradient at learning rate `lr`; `step` counts from 0. */
  step(params: readonly Float32Array[], grads: readonly Float32Array[], lr: number): void;
  /** Completed steps. */
  readonly steps: number;
  /** State to checkpoint (named float32 arrays) and restore. */
  stateTensors(): { name: string; data: Float32Array }[];
  restore(steps: number, tensors: ReadonlyMap<string, Float32Array>): void;
}

/** One AdamW update of p (in place) given g and the moments; t is the 1-based step. */
export function adamwUpdate(p: Float32Array, g: Float32Array, s: AdamMoments, lr: number, t: number, o: Required<AdamWOptions>): void {
  const bc1 = 1 - o.beta1 ** t;
  const bc2 = 1 - o.beta2 ** t;
  const decay = 1 - lr * o.weightDecay;
  for (let i = 0; i < p.length; i++) {
    const gi = g[i] ?? 0;
    const m = o.beta1 * (s.m[i] ?? 0) + (1 - o.beta1) * gi;
    const v = o.beta2 * (s.v[i] ?? 0) + (1 - o.beta2) * gi * gi;
    s.m[i] = m;
    s.v[i] = v;
    const mHat = (s.m[i] ?? 0) / bc1;
    const vHat = (s.v[i] ?? 0) / bc2;
    p[i] = (p[i] ?? 0) * decay - lr * mHat / (Math.sqrt(vHat) + o.eps);
  }
}

export class AdamW implements Optimizer {
  readonly kind = 'adamw';
  private moments: AdamMoments[] = [];
  private t = 0;
  private readonly o: Required<AdamWOptions>;

  constructor(options: AdamWOptions = {}) {
    this.o = { beta1: options.beta1 ?? 0.9, beta2: options.beta2 ?? 0.999, eps: options.eps ?? 1e-8, weightDecay: options.weightDecay ?? 0 };
  }

  get steps(): number {
    return this.t;
  }

  step(params: readonly Float32Array[], grads: readonly Float32Array[], lr: number): void {
    if (this.moments.length === 0) this.moments = params.map((p) => ({ m: new Float32Array(p.length), v: new Float32Array(p.length) }));
    checkPairs(params, grads, this.moments.length);
    this.t += 1;
    params.forEach((p, i) => adamwUpdate(p, grads[i] ?? new Float32Array(0), this.moments[i] ?? { m: new Float32Array(0), v: new Float32Array(0) }, lr, this.t, this.o));
  }

  stateTensors(): { name: string; data: Float32Array }[] {
    return this.moments.flatMap((s, i) => [{ name: `adamw.${i}.m`, data: s.m }, { name: `adamw.${i}.v`, data: s.v }]);
  }

  restore(steps: number, tensors: ReadonlyMap<string, Float32Array>): void {
    this.t = steps;
    this.moments = [];
    for (let i = 0; ; i++) {
      const m = tensors.get(`adamw.${i}.m`);
      const v = tensors.get(`adamw.${i}.v`);
      if (m === undefined || v === undefined) break;
      this.moments.push({ m: Float32Array.from(m), v: Float32Array.from(v) });
    }
  }
}

export class Sgd implements Optimizer {
  readonly kind = 'sgd';
  private t = 0;

  constructor(private readonly weightDecay = 0) {}

  get steps(): number {
    return this.t;
  }

  step(params: readonly Float32Array[], grads: readonly Float32Array[], lr: number): void {
    checkPairs(params, grads, params.length);
    this.t += 1;
    params.forEach((p, k) => {
      const g = grads[k] ?? new Float32Array(0);
      for (let i = 0; i < p.length; i++) p[i] = (p[i] ?? 0) - lr * ((g[i] ?? 0) + this.weightDecay * (p[i] ?? 0));
    });
  }

  stateTensors(): { name: string; data: Float32Array }[] {
    return [];
  }

  restore(steps: number): void {
    this.t = steps;
  }
}

function checkPairs(params: readonly Float32Array[], grads: readonly Float32Array[], stateCount: number): void {
  if (params.length !== grads.length || params.length !== stateCount) {
    throw new Error(`optimizer: ${params.length} parameters, ${grads.length} gradients, state for ${stateCount}`);
  }
  params.forEach((p, i) => {
    if (grads[i]?.length !== p.length) throw new Error(`optimizer: parameter ${i} has ${p.length} values, its gradient ${grads[i]?.length ?? 0}`);
  });
}

export function createOptimizer(kind: 'adamw' | 'sgd', weightDecay: number): Optimizer {
  return kind === 'adamw' ? new AdamW({ weightDecay }) : new Sgd(weightDecay);
}
