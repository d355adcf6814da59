// Gradient bookkeeping: accumulation over micro-batches and global-norm clipping.

/** Adds `g * weight` into `acc`, element by element. */
export function accumulate(acc: readonly Float32Array[], grads: readonly Float32Array[], weight: number): void {
  acc.forEach((a, k) => {
    const g = grads[k];
    if (g === undefined || g.length !== a.length) throw new Error(`accumulate: gradient ${k} has ${g?.length ?? 0} values, expected ${a.length}`);
    for (let i = 0; i < a.length; i++) a[i] = (a[i] ?? 0) + (g[i] ?? 0) * weight;
  });
}

/** sqrt(sum over all tensors of sum g^2), in float64. */
export function globalNorm(grads: readonly Float32Array[]): number {
  let sum = 0;
  for (const g of grads) for (let i = 0; i < g.length; i++) sum += (g[i] ?? 0) ** 2;
  return Math.sqrt(sum);
}

/**
 * Global-norm clipping as torch.nn.utils.clip_grad_norm_: when the norm exceeds maxNorm, every gradient is
 * scaled by maxNorm / (norm + 1e-6). Returns the norm before clipping. maxNorm <= 0 disables clipping.
 */
export function clipGlobalNorm(grads: readonly Float32Array[], maxNorm: number): number {
  const norm = globalNorm(grads);
  if (maxNorm > 0 && norm > maxNorm) {
    const scale = maxNorm / (norm + 1e-6);
    for (const g of grads) for (let i = 0; i < g.length; i++) g[i] = (g[i] ?? 0) * scale;
  }
  return norm;
}
