// Optimizers over flat float32 parameter arrays, updated in place (math in float64, stored as float32 as
// torch's float32 parameters and states are).
//
// AdamW: Loshchilov & Hutter, "Decoupled Weight Decay Regularization" (ICLR 2019), as torch.optim.AdamW
// implements it (amsgrad off): with t = step + 1,
//   p <- p - lr * wd * p                      (decoupled decay, before the moment update)
//   m <- b1 m + (1 - b1) g;   v <- b2 v + (1 - b2) g^2
//   p <- p - lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)
// SGD: p <- p - lr * (g + wd * p) (torch.optim.SGD without momentum).
// Sparse updates (IST and its baselines): a step may name the parameters it updates; the others, and their
// state, are not touched. As torch does for parameters whose .grad is None, AdamW state is created on a
// parameter's first update and t counts that parameter's own updates (torch keeps state['step'] per parameter).

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
  /**
   * Updates the parameters in place with their gradients at learning rate `lr`: all of them, or only those at
   * `indices` (the other gradients may then be empty and are not read).
   */
  step(params: readonly Float32Array[], grads: readonly Float32Array[], lr: number, indices?: readonly number[]): void;
  /** Completed steps. */
  readonly steps: number;
  /** Bytes of optimizer state held now. */
  stateBytes(): number;
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

/** AdamW moments of one parameter tensor and the number of updates it has had. */
interface AdamSlot extends AdamMoments {
  t: number;
}

export class AdamW implements Optimizer {
  readonly kind = 'adamw';
  /** Sparse: a slot exists once its parameter has been updated. */
  private slots: (AdamSlot | undefined)[] = [];
  private t = 0;
  private readonly o: Required<AdamWOptions>;

  constructor(options: AdamWOptions = {}) {
    this.o = { beta1: options.beta1 ?? 0.9, beta2: options.beta2 ?? 0.999, eps: options.eps ?? 1e-8, weightDecay: options.weightDecay ?? 0 };
  }

  get steps(): number {
    return this.t;
  }

  step(params: readonly Float32Array[], grads: readonly Float32Array[], lr: number, indices?: readonly number[]): void {
    const which = indices ?? params.map((_, i) => i);
    checkPairs(params, grads, which);
    this.t += 1;
    for (const i of which) {
      const p = params[i] ?? new Float32Array(0);
      let slot = this.slots[i];
      if (slot === undefined) {
        slot = { m: new Float32Array(p.length), v: new Float32Array(p.length), t: 0 };
        this.slots[i] = slot;
      }
      slot.t += 1;
      adamwUpdate(p, grads[i] ?? new Float32Array(0), slot, lr, slot.t, this.o);
    }
  }

  /** The moments of parameter i, or undefined when it has never been updated. */
  moments(i: number): AdamMoments | undefined {
    return this.slots[i];
  }

  stateBytes(): number {
    let bytes = 0;
    for (const s of this.slots) if (s !== undefined) bytes += s.m.byteLength + s.v.byteLength;
    return bytes;
  }

  stateTensors(): { name: string; data: Float32Array }[] {
    return this.slots.flatMap((s, i) => (s === undefined ? [] : [
      { name: `adamw.${i}.m`, data: s.m }, { name: `adamw.${i}.v`, data: s.v }, { name: `adamw.${i}.t`, data: Float32Array.of(s.t) },
    ]));
  }

  /** Restores state written by stateTensors (a slot without `.t`, from older checkpoints, had every step). */
  restore(steps: number, tensors: ReadonlyMap<string, Float32Array>): void {
    this.t = steps;
    this.slots = [];
    for (const name of tensors.keys()) {
      const match = /^adamw\.(\d+)\.m$/.exec(name);
      if (match === null) continue;
      const i = Number(match[1]);
      const m = tensors.get(name);
      const v = tensors.get(`adamw.${i}.v`);
      if (m === undefined || v === undefined) throw new Error(`optimizer state: adamw.${i}.m without adamw.${i}.v`);
      const t = tensors.get(`adamw.${i}.t`)?.[0] ?? steps;
      this.slots[i] = { m: Float32Array.from(m), v: Float32Array.from(v), t };
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

  step(params: readonly Float32Array[], grads: readonly Float32Array[], lr: number, indices?: readonly number[]): void {
    const which = indices ?? params.map((_, i) => i);
    checkPairs(params, grads, which);
    this.t += 1;
    for (const k of which) {
      const p = params[k] ?? new Float32Array(0);
      const g = grads[k] ?? new Float32Array(0);
      for (let i = 0; i < p.length; i++) p[i] = (p[i] ?? 0) - lr * ((g[i] ?? 0) + this.weightDecay * (p[i] ?? 0));
    }
  }

  stateBytes(): number {
    return 0;
  }

  stateTensors(): { name: string; data: Float32Array }[] {
    return [];
  }

  restore(steps: number): void {
    this.t = steps;
  }
}

function checkPairs(params: readonly Float32Array[], grads: readonly Float32Array[], indices: readonly number[]): void {
  if (params.length !== grads.length) throw new Error(`optimizer: ${params.length} parameters, ${grads.length} gradients`);
  for (const i of indices) {
    if (!Number.isInteger(i) || i < 0 || i >= params.length) throw new Error(`optimizer: parameter index ${i} outside [0, ${params.length})`);
    const p = params[i];
    if (grads[i]?.length !== p?.length) throw new Error(`optimizer: parameter ${i} has ${p?.length ?? 0} values, its gradient ${grads[i]?.length ?? 0}`);
  }
}

export function createOptimizer(kind: 'adamw' | 'sgd', weightDecay: number): Optimizer {
  return kind === 'adamw' ? new AdamW({ weightDecay }) : new Sgd(weightDecay);
}
