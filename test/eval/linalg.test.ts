// PCA and silhouette: hand-computed small cases, and scikit-learn 1.2's own numbers (PCA(svd_solver='full'),
// silhouette_score) on data both sides generate from one formula, through every solver path we have.
import { describe, expect, test } from 'vitest';
import { jacobiEigen, pca2, pca2FromGram, silhouette, topEigen } from '../../src/eval/linalg.js';

describe('PCA, hand-computed', () => {
  test('four points on two axes: PC1 is the long axis, variances use n - 1', () => {
    const X = [1, 0, 0, -1, 0, 0, 0, 2, 0, 0, -2, 0];
    const p = pca2(X, 4, 3);
    // covariance diag(2/3, 8/3, 0): PC1 = y (scores 0, 0, 2, -2), PC2 = x (1, -1, 0, 0); signs: largest |score| > 0
    expect(p.variance[0]).toBeCloseTo(8 / 3, 12);
    expect(p.variance[1]).toBeCloseTo(2 / 3, 12);
    const want = [0, 1, 0, -1, 2, 0, -2, 0];
    want.forEach((v, i) => expect(p.scores[i]).toBeCloseTo(v, 12));
  });

  test('the Gram route (more dimensions than points) gives the same projection', () => {
    const X = [1, 0, 0, -1, 0, 0, 0, 2, 0, 0, -2, 0];
    const G = new Float64Array(16);
    for (let i = 0; i < 4; i++) for (let j = 0; j < 4; j++) for (let k = 0; k < 3; k++) G[i * 4 + j] += X[i * 3 + k] * X[j * 3 + k];
    const p = pca2FromGram(G, 4);
    const want = [0, 1, 0, -1, 2, 0, -2, 0];
    want.forEach((v, i) => expect(p.scores[i]).toBeCloseTo(v, 12));
  });
});

describe('silhouette, hand-computed', () => {
  test('two clusters of two points: s = (b - a) / max(a, b) for every point', () => {
    const b = (3 + Math.sqrt(10)) / 2; // mean distance from (0,0) to (3,0) and (3,1); a = 1
    expect(silhouette([0, 0, 0, 1, 3, 0, 3, 1], 4, 2, [0, 0, 1, 1])).toBeCloseTo((b - 1) / b, 14);
  });

  test('a point alone in its cluster scores 0 and still counts in the mean (scikit-learn)', () => {
    const s1 = (Math.sqrt(50) - 1) / Math.sqrt(50);
    const s2 = (Math.sqrt(41) - 1) / Math.sqrt(41);
    expect(silhouette([0, 0, 0, 1, 5, 5], 3, 2, [7, 7, 9])).toBeCloseTo((s1 + s2 + 0) / 3, 14);
  });

  test('identical points (a = b = 0) score 0, not NaN', () => {
    expect(silhouette([1, 1, 1, 1, 1, 1, 1, 1], 4, 2, [0, 0, 1, 1])).toBe(0);
  });

  test('one label is an error, as in scikit-learn', () => {
    expect(() => silhouette([0, 0, 1, 1, 2, 2], 3, 2, [0, 0, 0])).toThrow(/2 <= number of labels/);
  });
});

/** The same formula as the Python side that produced the reference numbers. */
function data(n: number, d: number): { X: Float64Array; lab: Int32Array } {
  const X = new Float64Array(n * d);
  const lab = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    lab[i] = i % 3 === 0 ? 1 : 0;
    for (let j = 0; j < d; j++) X[i * d + j] = Math.sin(0.37 * i * (j + 1) + 0.11 * j) + (lab[i] ? 0.8 * Math.cos(0.5 * j) : 0);
  }
  return { X, lab };
}

// scikit-learn 1.2.1: p = PCA(n_components=2, svd_solver='full'); S = p.fit_transform(X);
// silhouette_score(S, lab) and silhouette_score(X, arange(n) % 3)
const SKLEARN = [
  { n: 30, d: 5, path: 'covariance, Jacobi', variance: [0.7402677592946287, 0.5854670799650425],
    scores: [[-0.6422382208574483, 0.012387204934014179], [-0.17622231779976655, -0.02337396456148244], [-0.9194059775670163, -0.051811857455031175]],
    sil2d: 0.188308341760402, silraw3: -0.05147620279141298 },
  { n: 60, d: 100, path: 'Gram, Lanczos', variance: [7.541846680009224, 2.9113383897192726],
    scores: [[-4.2007131889677, -2.0130724933833037], [5.575418700597784, -1.4917065480236609], [1.6225297154433904, -0.726212778647478]],
    sil2d: 0.7247142959794299, silraw3: 0.012629357741725326 },
  { n: 200, d: 64, path: 'covariance, Lanczos', variance: [5.4950146180290895, 1.339646999548737],
    scores: [[3.0088253899232065, 0.014744820748095766], [-2.756250444662036, 0.011426735708943902], [-1.373423670513327, -0.0019864754462734025]],
    sil2d: 0.6880052179665094, silraw3: 0.031238580406310522 },
];

describe('against scikit-learn', () => {
  test.each(SKLEARN)('n=$n d=$d ($path): PCA scores and variances, silhouette_score', (ref) => {
    const { X, lab } = data(ref.n, ref.d);
    const p = pca2(X, ref.n, ref.d);
    expect(p.variance[0]).toBeCloseTo(ref.variance[0], 9);
    expect(p.variance[1]).toBeCloseTo(ref.variance[1], 9);
    ref.scores.forEach((row, i) => row.forEach((v, c) => expect(p.scores[i * 2 + c]).toBeCloseTo(v, 8)));
    expect(silhouette(p.scores, ref.n, 2, lab)).toBeCloseTo(ref.sil2d, 9);
    expect(silhouette(X, ref.n, ref.d, Int32Array.from({ length: ref.n }, (_, i) => i % 3))).toBeCloseTo(ref.silraw3, 12);
  });
});

describe('eigensolvers', () => {
  test('Jacobi and Lanczos agree on a 120 x 120 PSD matrix; eigenvectors satisfy A v = lambda v', () => {
    const n = 120, d = 30;
    const { X } = data(n, d);
    const A = new Float64Array(n * n);
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) { let t = 0; for (let k = 0; k < d; k++) t += X[i * d + k] * X[j * d + k]; A[i * n + j] = t; }
    const mv = (x: Float64Array, y: Float64Array) => { for (let i = 0; i < n; i++) { let t = 0; for (let j = 0; j < n; j++) t += A[i * n + j] * x[j]; y[i] = t; } };
    const full = jacobiEigen(A, n);
    const top = topEigen(mv, n, 3); // rank 30 < n: the Krylov space closes early and restarts
    for (let k = 0; k < 3; k++) {
      expect(top.values[k]).toBeCloseTo(full.values[k], 8);
      const y = new Float64Array(n);
      mv(top.vectors[k], y);
      let r = 0;
      for (let i = 0; i < n; i++) r = Math.max(r, Math.abs(y[i] - top.values[k] * top.vectors[k][i]));
      expect(r).toBeLessThan(1e-7 * top.values[0]);
    }
  });
});
