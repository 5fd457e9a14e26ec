// The numerics of the clustering analysis, in float64: symmetric eigensolvers (Jacobi for small matrices,
// Lanczos for the top few of larger ones), 2-D PCA (from the data or from a Gram matrix) and the silhouette score
// exactly as scikit-learn defines it.
import { Rng } from '../util/rng.js';

export interface Eigen {
  /** descending */
  values: Float64Array;
  /** vectors[k] belongs to values[k], unit length */
  vectors: Float64Array[];
}

/** All eigenpairs of a symmetric n x n matrix (row-major) by cyclic Jacobi rotations; A is not modified. */
export function jacobiEigen(A: ArrayLike<number>, n: number): Eigen {
  const a = Float64Array.from(A);
  const v = new Float64Array(n * n);
  for (let i = 0; i < n; i++) v[i * n + i] = 1;
  let norm = 0;
  for (let i = 0; i < n * n; i++) norm += a[i] * a[i];
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    for (let p = 0; p < n; p++) for (let q = p + 1; q < n; q++) off += a[p * n + q] ** 2;
    if (off <= 1e-30 * norm || off === 0) break;
    for (let p = 0; p < n; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = a[p * n + q];
        if (apq === 0) continue;
        const app = a[p * n + p], aqq = a[q * n + q];
        const theta = (aqq - app) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1), s = t * c;
        for (let k = 0; k < n; k++) { // A <- A J (columns p, q)
          const akp = a[k * n + p], akq = a[k * n + q];
          a[k * n + p] = c * akp - s * akq;
          a[k * n + q] = s * akp + c * akq;
        }
        for (let k = 0; k < n; k++) { // A <- J^T A (rows p, q)
          const apk = a[p * n + k], aqk = a[q * n + k];
          a[p * n + k] = c * apk - s * aqk;
          a[q * n + k] = s * apk + c * aqk;
        }
        for (let k = 0; k < n; k++) {
          const vkp = v[k * n + p], vkq = v[k * n + q];
          v[k * n + p] = c * vkp - s * vkq;
          v[k * n + q] = s * vkp + c * vkq;
        }
      }
    }
  }
  const order = Array.from({ length: n }, (_, i) => i).sort((x, y) => a[y * n + y] - a[x * n + x]);
  return {
    values: Float64Array.from(order, (i) => a[i * n + i]),
    vectors: order.map((i) => Float64Array.from({ length: n }, (_, k) => v[k * n + i])),
  };
}

function dot(x: Float64Array, y: Float64Array): number {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i] * y[i];
  return s;
}

/**
 * The k largest eigenpairs of a symmetric positive semi-definite operator by Lanczos with full
 * reorthogonalisation (numerically an exact Krylov basis); restarts with a fresh direction when the Krylov space
 * becomes invariant (low-rank matrices). Small problems go straight to Jacobi.
 */
export function topEigen(matvec: (x: Float64Array, y: Float64Array) => void, n: number, k: number, seed = 0): Eigen {
  if (n <= 48) {
    const A = new Float64Array(n * n);
    const e = new Float64Array(n), col = new Float64Array(n);
    for (let j = 0; j < n; j++) {
      e.fill(0); e[j] = 1;
      matvec(e, col);
      for (let i = 0; i < n; i++) A[i * n + j] = col[i];
    }
    for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) A[i * n + j] = A[j * n + i] = (A[i * n + j] + A[j * n + i]) / 2;
    const full = jacobiEigen(A, n);
    return { values: full.values.slice(0, k), vectors: full.vectors.slice(0, k) };
  }
  const rng = new Rng(seed);
  const Q: Float64Array[] = [];
  const alpha: number[] = [];
  const beta: number[] = []; // beta[j] couples q_j and q_{j+1}
  const fresh = (): Float64Array => {
    for (let attempt = 0; attempt < 10; attempt++) {
      const q = Float64Array.from({ length: n }, () => rng.next() - 0.5);
      for (let pass = 0; pass < 2; pass++) for (const p of Q) { const c = dot(p, q); for (let i = 0; i < n; i++) q[i] -= c * p[i]; }
      const nq = Math.sqrt(dot(q, q));
      if (nq > 1e-8) { for (let i = 0; i < n; i++) q[i] /= nq; return q; }
    }
    throw new Error('topEigen: cannot find a direction orthogonal to the Krylov basis');
  };
  let q = fresh();
  const w = new Float64Array(n);
  let scale = 0;
  let ritz: Eigen | null = null;
  for (let j = 0; j < n; j++) {
    Q.push(q);
    matvec(q, w);
    const a = dot(q, w);
    alpha.push(a);
    // full reorthogonalisation, twice ("twice is enough"), against every basis vector
    for (let pass = 0; pass < 2; pass++) for (const p of Q) { const c = dot(p, w); for (let i = 0; i < n; i++) w[i] -= c * p[i]; }
    const b = Math.sqrt(dot(w, w));
    scale = Math.max(scale, Math.abs(a), b);
    const m = j + 1;
    const last = m === n;
    const invariant = b <= 1e-12 * Math.max(scale, 1e-300);
    if (m >= k && (m % 5 === 0 || last || invariant)) {
      const T = new Float64Array(m * m);
      for (let i = 0; i < m; i++) {
        T[i * m + i] = alpha[i];
        if (i + 1 < m) T[i * m + i + 1] = T[(i + 1) * m + i] = beta[i];
      }
      const te = jacobiEigen(T, m);
      ritz = te;
      // residual of Ritz pair i is |b * y_i[last]|
      const tol = 1e-10 * Math.max(Math.abs(te.values[0]), 1e-300);
      let converged = true;
      for (let i = 0; i < k && i < m; i++) if (Math.abs(b * te.vectors[i][m - 1]) > tol) converged = false;
      if (converged || last) break;
    }
    if (invariant) {
      beta.push(0);
      q = fresh();
    } else {
      beta.push(b);
      q = Float64Array.from(w, (x) => x / b);
    }
  }
  const m = Q.length;
  const te = ritz!;
  const values = te.values.slice(0, k);
  const vectors = te.vectors.slice(0, k).map((y) => {
    const x = new Float64Array(n);
    for (let j = 0; j < m; j++) { const c = y[j]; const qj = Q[j]; for (let i = 0; i < n; i++) x[i] += c * qj[i]; }
    return x;
  });
  return { values, vectors };
}

export interface Pca2 {
  /** (n, 2) row-major projections on the first two principal components */
  scores: Float64Array;
  /** variance along each component (scikit-learn's explained_variance_, divisor n - 1) */
  variance: [number, number];
}

/** scikit-learn's svd_flip (u-based): each score column's largest |value| is made positive, so signs are stable. */
function flipColumns(scores: Float64Array, n: number): void {
  for (let c = 0; c < 2; c++) {
    let best = 0, at = 0;
    for (let i = 0; i < n; i++) if (Math.abs(scores[i * 2 + c]) > best) { best = Math.abs(scores[i * 2 + c]); at = i; }
    if (scores[at * 2 + c] < 0) for (let i = 0; i < n; i++) scores[i * 2 + c] = -scores[i * 2 + c];
  }
}

/** 2-D PCA from an uncentered Gram matrix G = X X^T (n x n): double-centre it, take its top two eigenpairs. */
export function pca2FromGram(G: ArrayLike<number>, n: number, seed = 0): Pca2 {
  const r = new Float64Array(n);
  let s = 0;
  for (let i = 0; i < n; i++) {
    let t = 0;
    for (let j = 0; j < n; j++) t += G[i * n + j];
    r[i] = t / n;
    s += r[i];
  }
  s /= n;
  const Gc = new Float64Array(n * n); // (Xc Xc^T) = G - r 1^T - 1 r^T + s
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) Gc[i * n + j] = G[i * n + j] - r[i] - r[j] + s;
  const e = topEigen((x, y) => {
    for (let i = 0; i < n; i++) {
      let t = 0;
      const row = i * n;
      for (let j = 0; j < n; j++) t += Gc[row + j] * x[j];
      y[i] = t;
    }
  }, n, Math.min(2, n), seed);
  const scores = new Float64Array(n * 2);
  const variance: [number, number] = [0, 0];
  for (let c = 0; c < e.values.length; c++) {
    const lam = Math.max(0, e.values[c]);
    variance[c] = n > 1 ? lam / (n - 1) : 0;
    const sq = Math.sqrt(lam);
    for (let i = 0; i < n; i++) scores[i * 2 + c] = e.vectors[c][i] * sq; // X V = U S
  }
  flipColumns(scores, n);
  return { scores, variance };
}

/** 2-D PCA of n points of dimension d (row-major): through the d x d covariance when d <= n, else the Gram matrix. */
export function pca2(X: ArrayLike<number>, n: number, d: number, seed = 0): Pca2 {
  const mu = new Float64Array(d);
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) mu[j] += X[i * d + j] / n;
  const Xc = new Float64Array(n * d);
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) Xc[i * d + j] = X[i * d + j] - mu[j];
  if (d > n) {
    const G = new Float64Array(n * n);
    for (let i = 0; i < n; i++) for (let k = 0; k <= i; k++) {
      let t = 0;
      for (let j = 0; j < d; j++) t += Xc[i * d + j] * Xc[k * d + j];
      G[i * n + k] = G[k * n + i] = t;
    }
    return pca2FromGram(G, n, seed);
  }
  const S = new Float64Array(d * d); // Xc^T Xc
  for (let i = 0; i < n; i++) for (let a = 0; a < d; a++) {
    const xa = Xc[i * d + a];
    if (xa === 0) continue;
    for (let b = a; b < d; b++) S[a * d + b] += xa * Xc[i * d + b];
  }
  for (let a = 0; a < d; a++) for (let b = a + 1; b < d; b++) S[b * d + a] = S[a * d + b];
  const e = topEigen((x, y) => {
    for (let a = 0; a < d; a++) { let t = 0; for (let b = 0; b < d; b++) t += S[a * d + b] * x[b]; y[a] = t; }
  }, d, Math.min(2, d), seed);
  const scores = new Float64Array(n * 2);
  const variance: [number, number] = [0, 0];
  for (let c = 0; c < e.values.length; c++) {
    variance[c] = n > 1 ? Math.max(0, e.values[c]) / (n - 1) : 0;
    const v = e.vectors[c];
    for (let i = 0; i < n; i++) { let t = 0; for (let j = 0; j < d; j++) t += Xc[i * d + j] * v[j]; scores[i * 2 + c] = t; }
  }
  flipColumns(scores, n);
  return { scores, variance };
}

/**
 * Mean silhouette coefficient, scikit-learn's silhouette_score (Euclidean): for each point a = mean distance to
 * the other members of its cluster, b = smallest mean distance to another cluster, s = (b - a) / max(a, b);
 * s = 0 for a point alone in its cluster (and when a = b = 0); the score is the mean over all points.
 */
export function silhouette(points: ArrayLike<number>, n: number, dim: number, labels: ArrayLike<number>): number {
  const ids = [...new Set(Array.from(labels))];
  if (ids.length < 2 || ids.length > n - 1) {
    throw new Error(`silhouette: needs 2 <= number of labels <= n - 1, got ${ids.length} labels for ${n} points (scikit-learn's rule)`);
  }
  const index = new Map(ids.map((l, i) => [l, i]));
  const L = ids.length;
  const size = new Float64Array(L);
  const lab = Int32Array.from(labels, (l) => index.get(l)!);
  for (let i = 0; i < n; i++) size[lab[i]]++;
  const sums = new Float64Array(L);
  let total = 0;
  for (let i = 0; i < n; i++) {
    sums.fill(0);
    for (let j = 0; j < n; j++) {
      if (j === i) continue;
      let d2 = 0;
      for (let k = 0; k < dim; k++) { const t = points[i * dim + k] - points[j * dim + k]; d2 += t * t; }
      sums[lab[j]] += Math.sqrt(d2);
    }
    const own = lab[i];
    if (size[own] <= 1) continue; // s = 0
    const a = sums[own] / (size[own] - 1);
    let b = Infinity;
    for (let c = 0; c < L; c++) if (c !== own) b = Math.min(b, sums[c] / size[c]);
    const m = Math.max(a, b);
    total += m > 0 ? (b - a) / m : 0;
  }
  return total / n;
}
