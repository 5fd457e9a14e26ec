// Summary statistics shared by every layer: mean, sd, standard error, quantile and median (the definitions numpy,
// pandas and AlpacaEval use), Spearman's rank correlation, and 95% intervals: Wilson for one pooled count,
// Student-t over seeds, and a logit-t interval over seeds for quantities bounded to [0, 1].

/** z for a two-sided 95% interval (scipy.stats.norm.ppf(0.975)) */
export const Z95 = 1.959963984540054;

export function mean(xs: ArrayLike<number>): number {
  if (xs.length === 0) return NaN;
  let s = 0;
  for (let i = 0; i < xs.length; i++) s += xs[i];
  return s / xs.length;
}

/**
 * Standard deviation with `ddof` degrees of freedom removed: 1 (default) is the sample sd of pandas' .std() and
 * .sem(), 0 the population sd of numpy's .std(); 0 for a single value, NaN for none.
 */
export function sd(xs: ArrayLike<number>, ddof = 1): number {
  const n = xs.length;
  if (n === 0) return NaN;
  if (n <= ddof) return 0;
  const m = mean(xs);
  let s = 0;
  for (let i = 0; i < n; i++) s += (xs[i] - m) ** 2;
  return Math.sqrt(s / (n - ddof));
}

/** Standard error of the mean (pandas .sem(), which AlpacaEval reports beside its win rate). */
export function sem(xs: ArrayLike<number>): number {
  return xs.length < 2 ? 0 : sd(xs) / Math.sqrt(xs.length);
}

/** The q-quantile of ascending values, interpolating linearly between order statistics (numpy's default). */
export function quantile(sorted: ArrayLike<number>, q: number): number {
  if (sorted.length === 0) return NaN;
  const x = q * (sorted.length - 1);
  const i = Math.floor(x);
  return i + 1 < sorted.length ? sorted[i] + (x - i) * (sorted[i + 1] - sorted[i]) : sorted[i];
}

/** The median (numpy's: the mean of the two middle values for an even count), of values in any order. */
export function median(xs: ArrayLike<number>): number {
  return quantile(Float64Array.from(xs).sort(), 0.5);
}

/** Round for printing and JSON: results carry more digits than anyone can read, not fewer. */
export function round(x: number, digits = 6): number {
  if (!Number.isFinite(x)) return x;
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

/** Spearman rank correlation (average ranks for ties). */
export function spearman(a: readonly number[], b: readonly number[]): number {
  const rank = (xs: readonly number[]) => {
    const idx = xs.map((_, i) => i).sort((i, j) => xs[i] - xs[j]);
    const r = new Array<number>(xs.length);
    for (let i = 0; i < idx.length;) {
      let j = i;
      while (j + 1 < idx.length && xs[idx[j + 1]] === xs[idx[i]]) j++;
      for (let k = i; k <= j; k++) r[idx[k]] = (i + j) / 2;
      i = j + 1;
    }
    return r;
  };
  const ra = rank(a), rb = rank(b);
  const n = a.length, ma = mean(ra), mb = mean(rb);
  let num = 0, da = 0, db = 0;
  for (let i = 0; i < n; i++) { num += (ra[i] - ma) * (rb[i] - mb); da += (ra[i] - ma) ** 2; db += (rb[i] - mb) ** 2; }
  return da > 0 && db > 0 ? num / Math.sqrt(da * db) : 0;
}

/**
 * Wilson score interval for k successes in n trials: unlike the normal approximation it stays inside [0, 1] and
 * is honest at 0% and 100%, which small evaluation sets hit.
 */
export function wilson(k: number, n: number, z = Z95): [number, number] {
  if (n === 0) return [0, 1];
  const p = k / n;
  const z2 = z * z;
  const denom = 1 + z2 / n;
  const center = (p + z2 / (2 * n)) / denom;
  const half = (z / denom) * Math.sqrt((p * (1 - p)) / n + z2 / (4 * n * n));
  // k = 0 and k = n give exactly 0 and 1 in exact arithmetic; floating point lands a hair off
  return [k === 0 ? 0 : Math.max(0, center - half), k === n ? 1 : Math.min(1, center + half)];
}

/** scipy.stats.t.ppf(0.975, df) for df = 1..30 */
const T975 = [12.706204736, 4.30265273, 3.182446305, 2.776445105, 2.570581836, 2.446911851, 2.364624252, 2.306004135,
  2.262157163, 2.228138852, 2.20098516, 2.17881283, 2.160368656, 2.144786688, 2.131449546, 2.119905299, 2.109815578,
  2.10092204, 2.093024054, 2.085963447, 2.079613845, 2.073873068, 2.06865761, 2.063898562, 2.059538553, 2.055529439,
  2.051830516, 2.048407142, 2.045229642, 2.042272456];

/** The 97.5% quantile of Student's t: exact table to 30 degrees of freedom, a Cornish-Fisher expansion beyond (< 1e-5). */
export function t975(df: number): number {
  if (!(df >= 1)) return NaN;
  if (df <= 30) return T975[Math.floor(df) - 1];
  const z = Z95, z3 = z ** 3, z5 = z ** 5, z7 = z ** 7;
  return z + (z3 + z) / (4 * df) + (5 * z5 + 16 * z3 + 3 * z) / (96 * df ** 2) + (3 * z7 + 19 * z5 + 17 * z3 - 15 * z) / (384 * df ** 3);
}

export interface Interval { mean: number; lo: number; hi: number; n: number }

/**
 * Mean and two-sided 95% Student-t interval over a few values (seeds): mean ± t(n-1) · sd/√n. With one value the
 * interval is that value (nothing to say about spread), with none NaN.
 */
export function tInterval(xs: ArrayLike<number>): Interval {
  const n = xs.length;
  const m = mean(xs);
  if (n < 2) return { mean: m, lo: m, hi: m, n };
  const half = t975(n - 1) * sem(xs);
  return { mean: m, lo: m - half, hi: m + half, n };
}

const logit = (p: number) => Math.log(p / (1 - p));
const logistic = (y: number) => 1 / (1 + Math.exp(-y));

/**
 * Mean and 95% logit-t interval over seeds of a value in [0, 1] that each seed computed over `samples[i]` samples
 * (a share k/n, or a mean or distance over n): the Student-t interval of the seeds' logits, mapped back, so it
 * stays inside [0, 1] and still measures the spread between seeds. Each value p is first taken as
 * (p·n + 0.5)/(n + 1) — for a share, (k + 0.5)/(n + 1) — which keeps 0 and 1 finite. The logistic of the mean
 * logit is not the mean, and the correction pulls 0 and 1 inwards, so the interval is widened to reach the plain
 * mean where it would miss it (all seeds at 1 give [(n + 0.5)/(n + 1), 1]).
 */
export function logitTInterval(xs: ArrayLike<number>, samples: ArrayLike<number>): Interval {
  const n = xs.length;
  if (samples.length !== n) throw new Error(`logitTInterval: ${n} values but ${samples.length} sample counts`);
  const m = mean(xs);
  if (n < 2) return { mean: m, lo: m, hi: m, n };
  const y = Array.from(xs, (p, i) => logit((p * samples[i] + 0.5) / (samples[i] + 1)));
  const t = tInterval(y);
  return { mean: m, lo: Math.min(m, logistic(t.lo)), hi: Math.max(m, logistic(t.hi)), n };
}
