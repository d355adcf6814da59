/**
 * SVD timings for GradOT (issue 7): full SVD of attention-sized matrices (DRD scores every component) and
 * randomized SVD of a 4096 x 4096 matrix, then the full SVD that compression uses (svdFast: ORT products,
 * blocked tridiagonalisation) at 768 and 2048. Run: node --import tsx bench/svd.ts [--large]
 * (--large adds the 4096 x 4096 rank-2048 randomized case and the full 4096 x 4096 svdFast, each minutes on a
 * 2-core machine: svdFast 4096 measured 126 s on 2026-12-02).
 */
import { svdFast } from '../src/engine/offsite/emulator/fastDrd';
import { OrtProducts } from '../src/engine/linalg/ortProducts';
import { Rng } from '../src/engine/util/random';
import { svdFull, svdRandomized, reconstruct } from '../src/engine/linalg/svd';
import { symmetricEigen } from '../src/engine/linalg/eigen';
import { matmulABt } from '../src/engine/linalg/dense';

/** Prints wall time and this process's CPU time (user + system): on a shared machine the CPU time is the fair number. */
function time<T>(label: string, f: () => T): T {
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  const out = f();
  const c = process.cpuUsage(c0);
  console.log(`${label}: wall ${((performance.now() - t0) / 1000).toFixed(2)} s, cpu ${((c.user + c.system) / 1e6).toFixed(2)} s`);
  return out;
}

/** Relative Frobenius error of the rank-k reconstruction. */
function relError(w: Float64Array, approx: Float64Array): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < w.length; i++) {
    num += ((w[i] as number) - (approx[i] as number)) ** 2;
    den += (w[i] as number) ** 2;
  }
  return Math.sqrt(num / den);
}

const rng = new Rng(2026);
const large = process.argv.includes('--large');

{
  const n = 768;
  const w = rng.normalArray(n * n);
  const gram = time(`matmul ${n}x${n}x${n}`, () => matmulABt(w, n, n, w, n));
  time(`symmetric eigen ${n}x${n}`, () => symmetricEigen(gram, n));
  const svd = time(`full SVD ${n}x${n}`, () => svdFull(w, n, n));
  console.log(`  reconstruction rel. error ${relError(w, reconstruct(svd)).toExponential(2)}`);
}
{
  const n = 4096;
  // A matrix with a decaying spectrum, built as (Gaussian [n, r]) (diag) (Gaussian [r, n]) plus noise, r = 512.
  const r = 512;
  const left = rng.normalArray(n * r);
  const right = rng.normalArray(r * n);
  for (let k = 0; k < r; k++) for (let i = 0; i < n; i++) left[i * r + k] = (left[i * r + k] as number) * 0.99 ** k;
  const rightT = new Float64Array(n * r);
  for (let k = 0; k < r; k++) for (let j = 0; j < n; j++) rightT[j * r + k] = right[k * n + j] as number;
  const w = time(`build ${n}x${n}`, () => matmulABt(left, n, r, rightT, n));
  for (const k of large ? [2048] : [256]) {
    const svd = time(`randomized SVD ${n}x${n} rank ${k} (p = 10, q = 2)`, () => svdRandomized(w, n, n, k, rng));
    console.log(`  s_1 = ${svd.s[0]?.toFixed(3)}, s_k = ${svd.s[k - 1]?.toFixed(3)}`);
  }
}

async function fastFullSvds(): Promise<void> {
  const ort = new OrtProducts();
  for (const n of large ? [768, 2048, 4096] : [768, 2048]) {
    const w = rng.normalArray(n * n);
    const t0 = performance.now();
    const svd = await svdFast(w, n, n, ort);
    console.log(`svdFast (compression's full SVD) ${n}x${n}: wall ${((performance.now() - t0) / 1000).toFixed(2)} s, s_1 = ${svd.s[0]?.toFixed(3)}`);
  }
}
void fastFullSvds();
