// Summary statistics the evaluations report: Wilson intervals for accuracies, mean / sample sd / standard error
// for win rates and silhouette scores (the definitions scipy, pandas and AlpacaEval use).

/** z for a two-sided 95% interval (scipy.stats.norm.ppf(0.975)) */
export const Z95 = 1.959963984540054;

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

export function mean(xs: ArrayLike<number>): number {
  if (xs.length === 0) return NaN;
  let s = 0;
  for (let i = 0; i < xs.length; i++) s += xs[i];
  return s / xs.length;
}

/** Sample standard deviation (ddof = 1, as pandas' .std() and .sem()); 0 for a single value. */
export function sd(xs: ArrayLike<number>): number {
  const n = xs.length;
  if (n < 2) return n === 1 ? 0 : NaN;
  const m = mean(xs);
  let s = 0;
  for (let i = 0; i < n; i++) s += (xs[i] - m) ** 2;
  return Math.sqrt(s / (n - 1));
}

/** Standard error of the mean (pandas .sem(), which AlpacaEval reports beside its win rate). */
export function sem(xs: ArrayLike<number>): number {
  return xs.length < 2 ? 0 : sd(xs) / Math.sqrt(xs.length);
}

/** Round for printing and JSON: results carry more digits than anyone can read, not fewer. */
export function round(x: number, digits = 6): number {
  if (!Number.isFinite(x)) return x;
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}
