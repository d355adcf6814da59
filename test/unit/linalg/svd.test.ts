import { strict as assert } from 'node:assert';
import { EVD, Matrix, SVD } from 'ml-matrix';
import { Rng } from '../../../src/engine/util/random';
import {
  matmul,
  matmulABt,
  orthonormalizeRows,
  reconstruct,
  svdFull,
  svdRandomized,
  symmetricEigen,
  transpose,
  type Svd,
} from '../../../src/engine/linalg';
import { maxAbs, maxAbsDiff, naiveMatmul, randn } from '../offsite/helpers';

function toRows(a: Float64Array, r: number, c: number): number[][] {
  return Array.from({ length: r }, (_, i) => Array.from(a.subarray(i * c, i * c + c)));
}

/** max |Q Q^T - I| for the rows of Q [r, len]. */
function orthogonalityError(q: Float64Array, r: number, len: number): number {
  const g = matmulABt(q, r, len, q, r);
  let e = 0;
  for (let i = 0; i < r; i++) for (let j = 0; j < r; j++) e = Math.max(e, Math.abs((g[i * r + j] as number) - (i === j ? 1 : 0)));
  return e;
}

/** An exactly rank-`rank` [m, n] matrix with singular values 10, 5, 2.5, ... */
function lowRank(rng: Rng, m: number, n: number, rank: number): Float64Array {
  const u = orthonormalizeRows(randn(rng, rank, m), rank, m, rng);
  const v = orthonormalizeRows(randn(rng, rank, n), rank, n, rng);
  const s = Float64Array.from({ length: rank }, (_, k) => 10 / 2 ** k);
  return reconstruct({ rows: m, cols: n, rank, s, ut: u, vt: v });
}

function checkDecomposition(svd: Svd, w: Float64Array, tol: number): void {
  assert.ok(maxAbsDiff(reconstruct(svd), w) < tol * Math.max(1, maxAbs(w)), 'reconstruction');
  assert.ok(orthogonalityError(svd.ut, svd.rank, svd.rows) < 1e-10, 'U orthonormal');
  assert.ok(orthogonalityError(svd.vt, svd.rank, svd.cols) < 1e-10, 'V orthonormal');
  for (let k = 1; k < svd.rank; k++) assert.ok((svd.s[k - 1] as number) >= (svd.s[k] as number), 'descending');
}

describe('dense kernels', () => {
  it('matmul, matmulABt and transpose match the naive product, including ragged edges', () => {
    const rng = new Rng(20);
    for (const [m, k, n] of [[1, 1, 1], [5, 3, 7], [9, 600, 3], [4, 2, 2]] as [number, number, number][]) {
      const a = randn(rng, m, k);
      const b = randn(rng, k, n);
      const ref = naiveMatmul(a, m, k, b, n);
      assert.ok(maxAbsDiff(matmul(a, m, k, b, n), ref) < 1e-12);
      assert.ok(maxAbsDiff(matmulABt(a, m, k, transpose(b, k, n), n), ref) < 1e-12);
    }
  });
});

describe('SVD', () => {
  it('full SVD matches ml-matrix on small tall, wide and square matrices', () => {
    const rng = new Rng(21);
    for (const [m, n] of [[12, 7], [7, 12], [10, 10], [1, 5]] as [number, number][]) {
      const w = randn(rng, m, n);
      const mine = svdFull(w, m, n);
      const ref = new SVD(new Matrix(toRows(w, m, n)), { autoTranspose: true }).diagonal;
      assert.equal(mine.rank, Math.min(m, n));
      ref.forEach((s, k) => assert.ok(Math.abs(s - (mine.s[k] as number)) < 1e-11 * (ref[0] ?? 1), `[${m}x${n}] s_${k}: ${mine.s[k]} vs ${s}`));
      checkDecomposition(mine, w, 1e-11);
    }
  });

  it('full SVD of a rank-deficient matrix reports zero singular values with orthonormal completions', () => {
    const rng = new Rng(22);
    for (const [m, n] of [[9, 6], [6, 9]] as [number, number][]) {
      const w = lowRank(rng, m, n, 3);
      const svd = svdFull(w, m, n);
      checkDecomposition(svd, w, 1e-12);
      assert.ok(Math.abs((svd.s[0] as number) - 10) < 1e-12 && Math.abs((svd.s[2] as number) - 2.5) < 1e-12);
      assert.deepEqual(Array.from(svd.s.slice(3)), [0, 0, 0]);
    }
  });

  it('randomized SVD recovers a low-rank matrix to 1e-8', () => {
    const rng = new Rng(23);
    const m = 80;
    const n = 60;
    const w = lowRank(rng, m, n, 6);
    const svd = svdRandomized(w, m, n, 6, rng, { oversampling: 5, powerIterations: 1 });
    assert.equal(svd.rank, 6);
    checkDecomposition(svd, w, 1e-8);
    // Oversampling past the true rank: the extra directions are filled in and still orthonormal.
    const wide = svdRandomized(w, m, n, 10, rng, { oversampling: 8, powerIterations: 2 });
    assert.ok(maxAbsDiff(reconstruct(wide), w) < 1e-8 * maxAbs(w));
    assert.ok(orthogonalityError(wide.ut, 10, m) < 1e-10 && orthogonalityError(wide.vt, 10, n) < 1e-10);
  });

  it('randomized SVD approximates the leading singular values of a full-rank matrix with a decaying spectrum', () => {
    const rng = new Rng(24);
    const m = 120;
    const n = 90;
    const u = orthonormalizeRows(randn(rng, n, m), n, m, rng);
    const v = orthonormalizeRows(randn(rng, n, n), n, n, rng);
    const s = Float64Array.from({ length: n }, (_, k) => 0.8 ** k);
    const w = reconstruct({ rows: m, cols: n, rank: n, s, ut: u, vt: v });
    const approx = svdRandomized(w, m, n, 10, rng, { oversampling: 10, powerIterations: 2 });
    for (let k = 0; k < 10; k++) assert.ok(Math.abs((approx.s[k] as number) - (s[k] as number)) < 1e-9, `s_${k}`);
  });

  it('orthonormalizeRows completes rank-deficient input and rejects too many rows', () => {
    const rng = new Rng(25);
    const x = new Float64Array(4 * 6);
    x.set([1, 2, 3, 4, 5, 6], 0);
    x.set([2, 4, 6, 8, 10, 12], 6); // dependent on row 0; rows 2 and 3 are zero
    orthonormalizeRows(x, 4, 6, rng);
    assert.ok(orthogonalityError(x, 4, 6) < 1e-12);
    assert.throws(() => orthonormalizeRows(new Float64Array(12), 4, 3, rng), /4 rows cannot be orthonormal in dimension 3/);
  });
});

describe('symmetric eigensolver', () => {
  it('matches ml-matrix EVD and gives orthonormal eigenvectors with small residuals', () => {
    const rng = new Rng(26);
    for (const n of [1, 2, 3, 17, 40]) {
      const x = randn(rng, n, n);
      const s = matmulABt(x, n, n, x, n);
      const mine = symmetricEigen(s, n);
      const ref = [...new EVD(new Matrix(toRows(s, n, n)), { assumeSymmetric: true }).realEigenvalues].sort((a, b) => b - a);
      const scale = Math.max(1, ref[0] ?? 1);
      ref.forEach((v, i) => assert.ok(Math.abs(v - (mine.values[i] as number)) < 1e-12 * scale, `n=${n} lambda_${i}`));
      const sv = matmulABt(mine.vectors, n, n, s, n); // row j = (S e_j)^T
      for (let j = 0; j < n; j++) {
        for (let i = 0; i < n; i++) {
          const r = (sv[j * n + i] as number) - (mine.values[j] as number) * (mine.vectors[j * n + i] as number);
          assert.ok(Math.abs(r) < 1e-12 * scale, `n=${n} residual (${j}, ${i})`);
        }
      }
      assert.ok(orthogonalityError(mine.vectors, n, n) < 1e-13);
    }
  });

  it('handles repeated eigenvalues and already-diagonal input', () => {
    const rng = new Rng(27);
    const n = 12;
    // Q diag(3, 3, 3, 1, 1, ..., 0) Q^T: multiplicities 3, 8 and 1.
    const q = orthonormalizeRows(randn(rng, n, n), n, n, rng);
    const lambda = Float64Array.from({ length: n }, (_, i) => (i < 3 ? 3 : i < 11 ? 1 : 0));
    const s = reconstruct({ rows: n, cols: n, rank: n, s: lambda, ut: q, vt: q });
    const mine = symmetricEigen(s, n);
    lambda.forEach((v, i) => assert.ok(Math.abs(v - (mine.values[i] as number)) < 1e-13));
    assert.ok(orthogonalityError(mine.vectors, n, n) < 1e-13);
    const diag = new Float64Array(9);
    diag[0] = 2;
    diag[4] = -1;
    diag[8] = 5;
    assert.deepEqual(Array.from(symmetricEigen(diag, 3).values), [5, 2, -1]);
  });
});
