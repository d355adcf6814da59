/**
 * GradOT's DRD and SCP scores with the O(n^3) products on ONNX Runtime (ortProducts.ts) and the eigensolver of
 * fastEigen.ts: the same quantities as gcs.ts svdComponentRemovalGcs / channelRemovalGcs and linalg/svd.ts svdFull
 * (checked against them in the tests), at a cost that lets a GPT-2-small-sized model compress in seconds.
 *   SVD: W^T W = V diag(s^2) V^T (Gram of the smaller side), u_k = W v_k / s_k; s_k <= 1e-7 s_1 is reported 0
 *        (as svdFull; its u_k is left zero, which the GCS and the factorization multiply by s_k = 0 anyway).
 *   GCS_k = s_k (||G u_k||_1 ||A v_k||_1 + lambda u_k^T g v_k)                                  (gcs.ts)
 *   channel j: ||G_up[:, j]||_1 ||A_up w_j||_1 + lambda g_j . w_j (+ gate) + ||G_down w_{:,j}||_1 ||A_down[j, :]||_1
 *              + lambda g_{:,j} . w_{:,j}                                                       (gcs.ts)
 */
import { selectDrdComponents, factorize } from '../drd';
import type { LinearStats, MlpStats } from '../gcs';
import { l1, rowDot, transpose } from '../../linalg/dense';
import { ZERO_SINGULAR_VALUE_RATIO, type Svd } from '../../linalg/svd';
import { selectScpChannels } from '../scp';
import type { AttentionMap, CompressedAttention, CompressedMlp, Timer } from './compress';
import { symmetricEigenFast, type SpectrumSolver } from '../../linalg/fastEigen';
import type { OrtProducts } from '../../linalg/ortProducts';

/** Thin SVD of W [m, n] (all min(m, n) components, s descending), products on ORT. */
export async function svdFast(w: Float64Array, m: number, n: number, ort: OrtProducts, spectrum?: SpectrumSolver): Promise<Svd> {
  if (m < n) {
    const t = await svdFast(transpose(w, m, n), n, m, ort, spectrum);
    return { rows: m, cols: n, rank: t.rank, s: t.s, ut: t.vt, vt: t.ut };
  }
  const gram = await ort.product(w, [m, n], w, [m, n], true, false); // W^T W [n, n]
  const { values, vectors } = await symmetricEigenFast(gram, n, ort, spectrum);
  const ut = await ort.product(vectors, [n, n], w, [m, n], false, true); // rows (W v_k)^T [n, m]
  const tol = Math.sqrt(Math.max(values[0] ?? 0, 0)) * ZERO_SINGULAR_VALUE_RATIO;
  const s = new Float64Array(n);
  for (let k = 0; k < n; k++) {
    let sq = 0;
    for (let i = 0; i < m; i++) sq += (ut[k * m + i] as number) ** 2;
    const norm = Math.sqrt(sq);
    if (norm <= tol) {
      ut.fill(0, k * m, k * m + m);
      continue;
    }
    s[k] = norm;
    for (let i = 0; i < m; i++) ut[k * m + i] = (ut[k * m + i] as number) / norm;
  }
  // ||W v_k|| can reorder nearly equal values slightly: sort descending.
  const order = Array.from({ length: n }, (_, k) => k).sort((a, b) => (s[b] as number) - (s[a] as number));
  if (order.every((v, i) => v === i)) return { rows: m, cols: n, rank: n, s, ut, vt: vectors };
  const s2 = new Float64Array(n);
  const ut2 = new Float64Array(n * m);
  const vt2 = new Float64Array(n * n);
  order.forEach((src, dst) => {
    s2[dst] = s[src] as number;
    ut2.set(ut.subarray(src * m, src * m + m), dst * m);
    vt2.set(vectors.subarray(src * n, src * n + n), dst * n);
  });
  return { rows: m, cols: n, rank: n, s: s2, ut: ut2, vt: vt2 };
}

/**
 * svdFast of each [out, in] weight, two at a time: while one awaits its tridiagonal spectrum (from `spectrum`, a
 * worker: spectrumWorker.ts), the main thread tridiagonalises the next. Results in input order.
 */
export async function svdFastAll(maps: readonly LinearStats[], ort: OrtProducts, spectrum?: SpectrumSolver, lanes = 2): Promise<Svd[]> {
  const out: Svd[] = new Array<Svd>(maps.length);
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < maps.length) {
      const i = next++;
      const st = maps[i] as LinearStats;
      out[i] = await svdFast(st.weight, st.outFeatures, st.inFeatures, ort, spectrum);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(lanes, maps.length)) }, lane));
  return out;
}

/** GCS of removing each singular component (gcs.ts svdComponentRemovalGcs), products on ORT. */
export async function svdComponentRemovalGcsFast(svd: Svd, st: LinearStats, lambda: number, ort: OrtProducts): Promise<Float64Array> {
  const { rows: m, cols: n, rank: r } = svd;
  const gu = await ort.product(svd.ut, [r, m], st.outputFactor, [m, m]); // rows u_k^T G = (G u_k)^T
  const av = await ort.product(svd.vt, [r, n], st.inputFactor, [n, n]); // rows (A v_k)^T
  const ug = await ort.product(svd.ut, [r, m], st.grad, [m, n]); // rows u_k^T g
  const out = new Float64Array(r);
  for (let k = 0; k < r; k++) out[k] = (svd.s[k] as number) * (l1(gu, k, m) * l1(av, k, n) + lambda * rowDot(ug, k, svd.vt, k, n));
  return out;
}

/** DRD of one attention map (GradOT) on the fast path; `svd` when its SVD was computed already (svdFastAll). */
export async function drdAttentionFast(map: AttentionMap, o: { attentionRankRatio: number; keepTopRankRatio: number; lambda: number },
  ort: OrtProducts, timer: Timer & { timeAsync<T>(phase: 'svd' | 'selection', f: () => Promise<T>): Promise<T> }, known?: Svd): Promise<CompressedAttention> {
  const { stats } = map;
  const svd = known ?? await timer.timeAsync('svd', () => svdFast(stats.weight, stats.outFeatures, stats.inFeatures, ort));
  return timer.timeAsync('selection', async () => {
    const gcs = await svdComponentRemovalGcsFast(svd, stats, o.lambda, ort);
    const kept = selectDrdComponents(svd.s, gcs, o.attentionRankRatio, o.keepTopRankRatio);
    return { path: map.path, factorized: factorize(svd, kept), fullRank: svd.rank, kept, singularValues: svd.s, gcs };
  });
}

/** Per-channel removal GCS of an MLP (gcs.ts channelRemovalGcs), products on ORT. */
export async function channelRemovalGcsFast(mlp: MlpStats, lambda: number, ort: OrtProducts): Promise<Float64Array> {
  const inter = mlp.up.outFeatures;
  const out = new Float64Array(inter);
  for (const st of [mlp.up, ...(mlp.gate !== undefined ? [mlp.gate] : [])]) {
    const n = st.inFeatures;
    const aw = await ort.product(st.weight, [inter, n], st.inputFactor, [n, n]); // rows (A w_j)^T (A symmetric)
    for (let j = 0; j < inter; j++) {
      out[j] = (out[j] as number) + l1(st.outputFactor, j, inter) * l1(aw, j, n) + lambda * rowDot(st.grad, j, st.weight, j, n);
    }
  }
  const dn = mlp.down;
  const d = dn.outFeatures;
  if (dn.inFeatures !== inter) throw new Error(`MLP: down has ${dn.inFeatures} input features, up has ${inter} outputs`);
  const gw = await ort.product(dn.outputFactor, [d, d], dn.weight, [d, inter]); // G W: column j = G w_{:,j}
  const colL1 = new Float64Array(inter);
  const inner = new Float64Array(inter);
  for (let i = 0; i < d; i++) {
    const r = i * inter;
    for (let j = 0; j < inter; j++) {
      colL1[j] = (colL1[j] as number) + Math.abs(gw[r + j] as number);
      inner[j] = (inner[j] as number) + (dn.grad[r + j] as number) * (dn.weight[r + j] as number);
    }
  }
  for (let j = 0; j < inter; j++) out[j] = (out[j] as number) + (colL1[j] as number) * l1(dn.inputFactor, j, inter) + lambda * (inner[j] as number);
  return out;
}

/** SCP channel selection (GradOT) on the fast path. */
export async function scpMlpFast(mlp: MlpStats, ratio: number, lambda: number, ort: OrtProducts,
  timer: { timeAsync<T>(phase: 'selection', f: () => Promise<T>): Promise<T> }): Promise<CompressedMlp> {
  return timer.timeAsync('selection', async () => {
    const gcs = await channelRemovalGcsFast(mlp, lambda, ort);
    return { kept: selectScpChannels(gcs, ratio), fullChannels: gcs.length, gcs };
  });
}
