// The blocked tridiagonalisation of the fast eigensolver (panels, trailing updates in JavaScript and on ORT)
// against the unblocked reference of linalg/eigen.ts: the same T (d, e) and reflectors with Q T Q^T = S.
import { strict as assert } from 'node:assert';
import { matmulABt } from '../../../src/engine/linalg/dense';
import { tridiagonalise } from '../../../src/engine/linalg/eigen';
import { tridiagonaliseBlocked, type Tridiagonal } from '../../../src/engine/linalg/blockedTridiagonal';
import { OrtProducts } from '../../../src/engine/linalg/ortProducts';
import { Rng } from '../../../src/engine/util/random';
import { maxAbs } from '../offsite/emulator/support';

/** Q = H_0 H_1 ... H_{n-3} from the stored reflectors, [n, n]. */
function formQ(t: Tridiagonal, n: number): Float64Array {
  const q = new Float64Array(n * n);
  for (let i = 0; i < n; i++) q[i * n + i] = 1;
  for (let k = 0; k < n - 2; k++) {
    const tau = t.taus[k] as number;
    if (tau === 0) continue;
    const v = t.reflectors.subarray(k * n, (k + 1) * n);
    for (let i = 0; i < n; i++) {
      let qv = 0;
      for (let j = k + 1; j < n; j++) qv += (q[i * n + j] as number) * (v[j] as number);
      for (let j = k + 1; j < n; j++) q[i * n + j] = (q[i * n + j] as number) - tau * qv * (v[j] as number);
    }
  }
  return q;
}

/** Q T Q^T with T tridiagonal (d, e). */
function reassemble(t: Tridiagonal, q: Float64Array, n: number): Float64Array {
  const qt = new Float64Array(n * n); // Q T, T symmetric tridiagonal
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      let acc = (q[i * n + j] as number) * (t.d[j] as number);
      if (j > 0) acc += (q[i * n + j - 1] as number) * (t.e[j - 1] as number);
      if (j < n - 1) acc += (q[i * n + j + 1] as number) * (t.e[j] as number);
      qt[i * n + j] = acc;
    }
  }
  return matmulABt(qt, n, n, q, n);
}

describe('offsite emulator: blocked tridiagonalisation', () => {
  const ort = new OrtProducts({ intraOpNumThreads: 1 });
  after(() => ort.dispose());

  it('gives the reference T and reflectors with Q T Q^T = S (one panel, many panels, JS and ORT updates, zero columns)', async () => {
    const rng = new Rng(11);
    const cases: [string, number, Float64Array, number][] = [];
    for (const [n, nb] of [[1, 4], [2, 4], [3, 4], [5, 2], [33, 4], [70, 8], [160, 16], [130, 32]] as const) {
      const w = rng.normalArray(n * n);
      cases.push([`Gram ${n}, panel ${nb}`, n, matmulABt(w, n, n, w, n), nb]);
    }
    // Block diagonal (zero sub-columns: reflectors with tau = 0) and an asymmetric input (its symmetric part).
    const n = 40;
    const blocks = new Float64Array(n * n);
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) if (Math.floor(i / 10) === Math.floor(j / 10)) blocks[i * n + j] = 1 + ((i + j) % 3);
    cases.push(['block diagonal', n, blocks, 8]);
    const asym = rng.normalArray(n * n);
    cases.push(['asymmetric', n, asym, 8]);
    for (const [name, size, s, nb] of cases) {
      const fast = await tridiagonaliseBlocked(s, size, ort, nb);
      const sym = s.map((v, i) => 0.5 * (v + (s[(i % size) * size + Math.floor(i / size)] as number)));
      const ref = tridiagonalise(sym, size);
      const scale = Math.max(1e-300, maxAbs(sym));
      assert.ok(maxAbs(fast.d.map((v, i) => v - (ref.d[i] as number))) <= 1e-12 * scale * size, `${name}: d`);
      assert.ok(maxAbs(fast.e.map((v, i) => v - (ref.e[i] as number))) <= 1e-12 * scale * size, `${name}: e`);
      const q = formQ(fast, size);
      assert.ok(maxAbs(matmulABt(q, size, size, q, size).map((v, i) => v - (i % (size + 1) === 0 ? 1 : 0))) < 1e-12, `${name}: Q orthogonal`);
      assert.ok(maxAbs(reassemble(fast, q, size).map((v, i) => v - (sym[i] as number))) < 1e-12 * scale * size, `${name}: Q T Q^T = S`);
    }
  });
});
