// AlpacaEval 2.0's length-controlled (LC) win rate (Dubois et al. 2024, arXiv 2404.04475): a logistic model of the
// judge's preference for the model over the reference, with the length difference as a covariate; the LC win rate is
// the model's fitted preference at zero length difference. Fit by Newton's method in float64; SE by the delta method.
import { UsageError } from '../errors.js';
import { sd } from '../util/stats.js';

/** One judged instruction: the model's preference in [0, 1] (ties count half) and both outputs' lengths. */
export interface LcPair {
  preference: number;
  modelLength: number;
  referenceLength: number;
  /** the instruction's difficulty (AlpacaEval's instruction_difficulty); give it for every pair or for none */
  difficulty?: number;
}

/**
 * Inverse L2 strength, sklearn's C: the fit minimises sum_i CE(y_i, p_i) + |beta|^2 / (2C). 100 is AlpacaEval's C
 * (its fit_LogisticRegressionCV default); it only keeps the fit finite when the model wins or loses everything.
 */
export const LC_C = 100;

export interface LcFit {
  /** percent: mean over the instructions of the fitted preference with the length term at 0 */
  win_rate: number;
  /** percent: delta method on a sandwich (HC1) covariance of the coefficients; one row per instruction */
  standard_error: number;
  /** model: the model term (intercept); length: per unit of tanh(length difference / length_scale); difficulty when given */
  coef: { model: number; length: number; difficulty?: number };
  /** characters: the sample sd of (model length - reference length) that standardises the length difference */
  length_scale: number;
  n: number;
  iterations: number;
}

const sigmoid = (z: number) => (z >= 0 ? 1 / (1 + Math.exp(-z)) : Math.exp(z) / (1 + Math.exp(z)));
/** log(1 + e^z) without overflow */
const softplus = (z: number) => (z > 0 ? z + Math.log1p(Math.exp(-z)) : Math.log1p(Math.exp(z)));

/** Solve A x = b for a small symmetric positive definite A (k x k, row-major) by Cholesky. */
function solveSpd(A: Float64Array, b: Float64Array, k: number): Float64Array {
  const L = new Float64Array(k * k);
  for (let i = 0; i < k; i++) {
    for (let j = 0; j <= i; j++) {
      let s = A[i * k + j];
      for (let m = 0; m < j; m++) s -= L[i * k + m] * L[j * k + m];
      L[i * k + j] = i === j ? Math.sqrt(s) : s / L[j * k + j];
    }
  }
  const y = new Float64Array(k);
  for (let i = 0; i < k; i++) {
    let s = b[i];
    for (let m = 0; m < i; m++) s -= L[i * k + m] * y[m];
    y[i] = s / L[i * k + i];
  }
  const x = new Float64Array(k);
  for (let i = k - 1; i >= 0; i--) {
    let s = y[i];
    for (let m = i + 1; m < k; m++) s -= L[m * k + i] * x[m];
    x[i] = s / L[i * k + i];
  }
  return x;
}

/**
 * Fit the LC model on the judged pairs. Columns (AlpacaEval's formula `np.tanh(std_delta_len) + instruction_difficulty
 * + not_gamed_baseline - 1`, no separate intercept): the model term 1, tanh((len_model - len_ref) / sd), and the
 * difficulty when the pairs carry one. When every length difference is the same (sd 0) the length column is dropped.
 * `C` = Infinity fits without penalty (the maximum-likelihood fit; finite only when the model neither always wins nor
 * always loses).
 */
export function lengthControlledWinRate(pairs: readonly LcPair[], C = LC_C): LcFit {
  const n = pairs.length;
  if (n === 0) return { win_rate: NaN, standard_error: NaN, coef: { model: NaN, length: NaN }, length_scale: NaN, n: 0, iterations: 0 };
  const withDifficulty = pairs[0].difficulty !== undefined;
  if (pairs.some((p) => (p.difficulty !== undefined) !== withDifficulty)) {
    throw new UsageError('the length-controlled fit needs an instruction difficulty for every judged pair or for none');
  }
  const delta = pairs.map((p) => p.modelLength - p.referenceLength);
  const scale = sd(delta); // pandas' .std(), as AlpacaEval standardises; 0 for one pair
  const useLength = scale > 0;

  // design matrix X (n, k): [model, length?, difficulty?]; X0 is X with the length column at 0
  const k = 1 + (useLength ? 1 : 0) + (withDifficulty ? 1 : 0);
  const X = new Float64Array(n * k);
  const X0 = new Float64Array(n * k);
  const y = Float64Array.from(pairs, (p) => p.preference);
  pairs.forEach((p, i) => {
    let c = 0;
    X[i * k] = X0[i * k] = 1; c++;
    if (useLength) X[i * k + c++] = Math.tanh(delta[i] / scale);
    if (withDifficulty) { X[i * k + c] = X0[i * k + c] = p.difficulty!; c++; }
  });
  const ridge = Number.isFinite(C) ? 1 / C : 0;
  const eta = (M: Float64Array, i: number, beta: Float64Array) => {
    let z = 0;
    for (let c = 0; c < k; c++) z += M[i * k + c] * beta[c];
    return z;
  };
  // soft-label cross-entropy: y log(1+e^-z) + (1-y) log(1+e^z)
  const objective = (beta: Float64Array) => {
    let f = 0;
    for (let i = 0; i < n; i++) { const z = eta(X, i, beta); f += y[i] * softplus(-z) + (1 - y[i]) * softplus(z); }
    for (let c = 0; c < k; c++) f += 0.5 * ridge * beta[c] * beta[c];
    return f;
  };
  /** gradient and Hessian of the objective at beta */
  const derivatives = (beta: Float64Array) => {
    const g = new Float64Array(k), H = new Float64Array(k * k);
    for (let i = 0; i < n; i++) {
      const p = sigmoid(eta(X, i, beta)), w = p * (1 - p);
      for (let a = 0; a < k; a++) {
        g[a] += (p - y[i]) * X[i * k + a];
        for (let b = 0; b < k; b++) H[a * k + b] += w * X[i * k + a] * X[i * k + b];
      }
    }
    for (let a = 0; a < k; a++) { g[a] += ridge * beta[a]; H[a * k + a] += ridge; }
    return { g, H };
  };

  // Newton with step halving: the objective is convex, so each accepted step decreases it; Newton converges
  // quadratically, so it stops once a full step no longer moves a coefficient beyond rounding
  let beta = new Float64Array(k);
  let f = objective(beta);
  let iterations = 0;
  while (iterations < 100) {
    const { g, H } = derivatives(beta);
    const step = solveSpd(H, g, k);
    let t = 1, next = beta, fNext = f;
    for (let half = 0; half < 50; half++, t /= 2) {
      next = beta.map((b, c) => b - t * step[c]);
      fNext = objective(next);
      if (fNext <= f) break;
    }
    if (!(fNext <= f)) break; // no decrease along the Newton direction: at the optimum to rounding
    iterations++;
    beta = next;
    f = fNext;
    if (t === 1 && step.every((d, c) => Math.abs(d) <= 1e-14 * Math.max(1, Math.abs(beta[c])))) break;
  }

  // LC = mean_i sigma(x0_i . beta); its gradient in beta, and the sandwich H^-1 (n/(n-k) sum_i s_i s_i^T) H^-1 with
  // s_i = (p_i - y_i) x_i the instruction's score: robust to the soft (0, 0.25, ..., 1) preferences not being Bernoulli
  let lc = 0;
  const grad = new Float64Array(k);
  const meat = new Float64Array(k * k);
  for (let i = 0; i < n; i++) {
    const p0 = sigmoid(eta(X0, i, beta));
    lc += p0 / n;
    for (let c = 0; c < k; c++) grad[c] += (p0 * (1 - p0) * X0[i * k + c]) / n;
    const r = sigmoid(eta(X, i, beta)) - y[i];
    for (let a = 0; a < k; a++) for (let b = 0; b < k; b++) meat[a * k + b] += r * r * X[i * k + a] * X[i * k + b];
  }
  const { H } = derivatives(beta);
  const u = solveSpd(H, grad, k); // H^-1 grad (H symmetric)
  let variance = 0;
  for (let a = 0; a < k; a++) for (let b = 0; b < k; b++) variance += u[a] * meat[a * k + b] * u[b];
  variance *= n > k ? n / (n - k) : NaN;

  let c = 1;
  const coef: LcFit['coef'] = { model: beta[0], length: useLength ? beta[c++] : 0 };
  if (withDifficulty) coef.difficulty = beta[c];
  return { win_rate: 100 * lc, standard_error: 100 * Math.sqrt(variance), coef, length_scale: scale, n, iterations };
}
