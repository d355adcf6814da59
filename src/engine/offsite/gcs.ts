/**
 * Gradient-preserving Compression Score (GradOT, Yao et al., ACL 2025; DESIGN.md "Offsite-tuning and GradOT"):
 *
 *   GCS(delta) = || H delta ||_1  -  lambda * sum( g (.) delta ),   H delta ~ G delta A  (KFAC)
 *
 * for a perturbation delta = compressed - original of a linear weight W [out, in] (y = W x, row-major as a
 * Linear weight), g = dLoss/dW [out, in], A = E[x x^T] [in, in], G = E[dy dy^T] [out, out] (kfac.ts).
 * The first term is the gradient shift the compression causes (keep small), the second the first-order loss
 * increase (keep large), so *low* GCS = a good perturbation for an emulator.
 *
 * Kronecker form: with vec() stacking columns, vec(G delta A^T) = (A (x) G) vec(delta); A is symmetric, so
 * H = A (x) G gives H vec(delta) = vec(G delta A) (checked numerically in the tests).
 */
import { checkShape, l1, matmul, matmulABt, rowDot } from '../linalg/dense';
import type { Svd } from '../linalg/svd';

/** The statistics of one linear map that the GCS needs. A and G must be symmetric, as KFAC factors are. */
export interface LinearStats {
  /** out: rows of W. */
  outFeatures: number;
  /** in: columns of W. */
  inFeatures: number;
  /** The weight W [out, in] (needed for removal perturbations). */
  weight: Float64Array;
  /** Loss gradient g = dL/dW [out, in]. */
  grad: Float64Array;
  /** Input factor A = E[x x^T] [in, in]. */
  inputFactor: Float64Array;
  /** Output-gradient factor G = E[dy dy^T] [out, out]. */
  outputFactor: Float64Array;
}

export function checkLinearStats(name: string, st: LinearStats): void {
  const { outFeatures: o, inFeatures: i } = st;
  checkShape(`${name}.weight`, st.weight, o, i);
  checkShape(`${name}.grad`, st.grad, o, i);
  checkShape(`${name}.inputFactor (A)`, st.inputFactor, i, i);
  checkShape(`${name}.outputFactor (G)`, st.outputFactor, o, o);
}

/**
 * General form: ||G delta A||_1 - lambda * sum(g (.) delta) for a dense delta [out, in]. Costs
 * O(out^2 in + out in^2); use the rank-1 forms below for scoring many candidates.
 */
export function gcs(
  delta: Float64Array,
  grad: Float64Array,
  inputFactor: Float64Array,
  outputFactor: Float64Array,
  outFeatures: number,
  inFeatures: number,
  lambda: number,
): number {
  checkShape('gcs: delta', delta, outFeatures, inFeatures);
  checkShape('gcs: grad', grad, outFeatures, inFeatures);
  checkShape('gcs: A', inputFactor, inFeatures, inFeatures);
  checkShape('gcs: G', outputFactor, outFeatures, outFeatures);
  const gd = matmul(outputFactor, outFeatures, outFeatures, delta, inFeatures); // G delta [out, in]
  const gda = matmulABt(gd, outFeatures, inFeatures, inputFactor, inFeatures); // (G delta) A^T = G delta A
  let inner = 0;
  for (let t = 0; t < delta.length; t++) inner += (grad[t] as number) * (delta[t] as number);
  return l1(gda) - lambda * inner;
}

/**
 * GCS of removing each singular component of W (DRD): delta_k = -s_k u_k v_k^T. Then
 *   G delta_k A = -s_k (G u_k)(A v_k)^T, and the entry-wise L1 norm of an outer product factorises,
 *   ||a b^T||_1 = sum_ij |a_i||b_j| = ||a||_1 ||b||_1, so ||G delta_k A||_1 = s_k ||G u_k||_1 ||A v_k||_1;
 *   sum(g (.) delta_k) = -s_k u_k^T g v_k.
 * Hence GCS_k = s_k * ( ||G u_k||_1 ||A v_k||_1 + lambda * u_k^T g v_k ).
 * @returns GCS per component [svd.rank], in the svd's component order
 */
export function svdComponentRemovalGcs(svd: Svd, stats: LinearStats, lambda: number, name = 'svdComponentRemovalGcs'): Float64Array {
  checkLinearStats(name, stats);
  const { outFeatures: m, inFeatures: n } = stats;
  if (svd.rows !== m || svd.cols !== n) {
    throw new Error(`${name}: SVD of [${svd.rows}, ${svd.cols}] does not match the weight [${m}, ${n}]`);
  }
  const r = svd.rank;
  const gu = matmulABt(svd.ut, r, m, stats.outputFactor, m); // rows (G u_k)^T, G symmetric [r, m]
  const av = matmulABt(svd.vt, r, n, stats.inputFactor, n); // rows (A v_k)^T [r, n]
  const ug = matmul(svd.ut, r, m, stats.grad, n); // rows u_k^T g [r, n]
  const out = new Float64Array(r);
  for (let k = 0; k < r; k++) {
    const uGv = rowDot(ug, k, svd.vt, k, n);
    out[k] = (svd.s[k] as number) * (l1(gu, k, m) * l1(av, k, n) + lambda * uGv);
  }
  return out;
}

/**
 * GCS of removing each output row j of W (zeroing row j: delta = -e_j w_j^T, w_j = row j of W), as for the
 * up/gate projections [inter, d] in SCP:
 *   G delta A = -(G e_j)(A w_j)^T  ->  ||.||_1 = ||G[:, j]||_1 ||A w_j||_1;  sum(g (.) delta) = -g_j . w_j.
 * GCS_j = ||G[:, j]||_1 ||A w_j||_1 + lambda * g_j . w_j.  Returns [out].
 */
export function rowRemovalGcs(stats: LinearStats, lambda: number, name = 'rowRemovalGcs'): Float64Array {
  checkLinearStats(name, stats);
  const { outFeatures: o, inFeatures: n } = stats;
  const aw = matmulABt(stats.weight, o, n, stats.inputFactor, n); // rows (A w_j)^T [o, n]
  const out = new Float64Array(o);
  for (let j = 0; j < o; j++) {
    // G is symmetric, so column j has the L1 norm of row j.
    out[j] = l1(stats.outputFactor, j, o) * l1(aw, j, n) + lambda * rowDot(stats.grad, j, stats.weight, j, n);
  }
  return out;
}

/**
 * GCS of removing each input column j of W (zeroing column j: delta = -w_{:,j} e_j^T), as for the down
 * projection [d, inter] in SCP:
 *   G delta A = -(G w_{:,j})(A e_j)^T  ->  ||.||_1 = ||G w_{:,j}||_1 ||A[j, :]||_1;  sum(g (.) delta) = -g_{:,j} . w_{:,j}.
 * GCS_j = ||G w_{:,j}||_1 ||A[j, :]||_1 + lambda * g_{:,j} . w_{:,j}.  Returns [in].
 */
export function columnRemovalGcs(stats: LinearStats, lambda: number, name = 'columnRemovalGcs'): Float64Array {
  checkLinearStats(name, stats);
  const { outFeatures: o, inFeatures: n } = stats;
  const gw = matmul(stats.outputFactor, o, o, stats.weight, n); // G W [o, n]: column j = G w_{:,j}
  const colL1 = new Float64Array(n);
  const inner = new Float64Array(n);
  for (let i = 0; i < o; i++) {
    const r = i * n;
    for (let j = 0; j < n; j++) {
      colL1[j] = (colL1[j] as number) + Math.abs(gw[r + j] as number);
      inner[j] = (inner[j] as number) + (stats.grad[r + j] as number) * (stats.weight[r + j] as number);
    }
  }
  const out = new Float64Array(n);
  for (let j = 0; j < n; j++) out[j] = (colL1[j] as number) * l1(stats.inputFactor, j, n) + lambda * (inner[j] as number);
  return out;
}

/** An MLP block for SCP: up (and gate, for SwiGLU) [inter, d], down [d, inter]. */
export interface MlpStats {
  up: LinearStats;
  gate?: LinearStats;
  down: LinearStats;
}

/** Intermediate size of an MLP, checking that up/gate/down agree on it. */
export function mlpIntermediateSize(mlp: MlpStats): number {
  const inter = mlp.up.outFeatures;
  if (mlp.gate !== undefined && mlp.gate.outFeatures !== inter) {
    throw new Error(`MLP: gate has ${mlp.gate.outFeatures} output features, up has ${inter}`);
  }
  if (mlp.down.inFeatures !== inter) throw new Error(`MLP: down has ${mlp.down.inFeatures} input features, up has ${inter} outputs`);
  return inter;
}

/**
 * GCS of removing each intermediate channel j (SCP): the paired perturbation zeroes row j of up (and gate) and
 * column j of down; each projection is its own weight with its own g, A, G, so the score is the sum of the
 * per-projection GCS: GCS_j = GCS_up,j + GCS_gate,j + GCS_down,j. Returns [inter].
 */
export function channelRemovalGcs(mlp: MlpStats, lambda: number): Float64Array {
  const inter = mlpIntermediateSize(mlp);
  const out = rowRemovalGcs(mlp.up, lambda, 'mlp.up');
  if (mlp.gate !== undefined) {
    const gate = rowRemovalGcs(mlp.gate, lambda, 'mlp.gate');
    for (let j = 0; j < inter; j++) out[j] = (out[j] as number) + (gate[j] as number);
  }
  const down = columnRemovalGcs(mlp.down, lambda, 'mlp.down');
  for (let j = 0; j < inter; j++) out[j] = (out[j] as number) + (down[j] as number);
  return out;
}
