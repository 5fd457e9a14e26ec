// Uncertainty score (0–99) -> label-smoothing epsilon: `paper` (the UAL recipe: proportional to the score, rescaled
// to a target mean, clipped, repeated), `linear`, `constant` (plain label smoothing) and `none` (plain SFT).
import { UsageError } from '../errors.js';
import { mean } from '../util/stats.js';

export const MAPPINGS = ['paper', 'linear', 'constant', 'none'] as const;
export type MappingName = (typeof MAPPINGS)[number];

export function isMappingName(s: string): s is MappingName {
  return (MAPPINGS as readonly string[]).includes(s);
}

/** Scores are ratings in [0, SCORE_MAX] (what `ual elicit` writes). */
export const SCORE_MAX = 99;
/** Largest epsilon the reference allows: at 1.0 the target would carry no information about the gold token. */
export const EPS_CAP = 0.99;
/** `paper` stops once the mean is this close to the target. */
export const PAPER_TOLERANCE = 1e-3;
const PAPER_MAX_ITER = 10_000;

export interface MappingOptions {
  /** `paper` and `constant`: the mean epsilon wanted */
  targetMean?: number;
  /** lower clip (`paper`) / value at score 0 (`linear`); default 0 */
  min?: number;
  /** upper clip (`paper`) / value at score 99 (`linear`); default 0.99 */
  max?: number;
}

export interface MappingResult {
  epsilon: Float64Array;
  /** `paper`: rescale-and-clip rounds until the mean was within tolerance */
  iterations: number;
  /** rows at the lower / upper clip */
  clippedLow: number;
  clippedHigh: number;
}

function clipCounts(eps: Float64Array, lo: number, hi: number): { clippedLow: number; clippedHigh: number } {
  let clippedLow = 0, clippedHigh = 0;
  for (const e of eps) {
    if (e <= lo) clippedLow++;
    else if (e >= hi) clippedHigh++;
  }
  return { clippedLow, clippedHigh };
}

/**
 * The reference mapping (UAL4Alignment's make_score_dist in finetune/utils.py: rescale to the target mean, clip at
 * [min, 0.99], repeat while the mean is off by 1e-3 or more — the same sequence of steps as here):
 *   eps_i = u_i · M / mean(u)                      proportional to the score, mean M
 *   repeat: eps = clip(eps, lo, hi); if |mean(eps) − M| < 1e-3 stop; eps = eps · M / mean(eps)
 * Clipping at hi pulls the mean below M, so the unclipped rows are scaled up again until the mean settles.
 * All-zero scores carry no ranking: every row gets M. An unreachable M (rows stuck at lo or hi) is an error.
 */
export function paperMapping(scores: ArrayLike<number>, targetMean: number, lo = 0, hi = EPS_CAP): MappingResult {
  const n = scores.length;
  const eps = new Float64Array(n);
  const m0 = mean(scores);
  if (n === 0 || m0 === 0) {
    eps.fill(Math.min(hi, Math.max(lo, targetMean)));
    return { epsilon: eps, iterations: 0, ...clipCounts(eps, lo, hi) };
  }
  // Scaling never lifts a zero score off lo: with z zero rows the largest mean reachable is (z·lo + (n−z)·hi)/n.
  let zeros = 0;
  for (let i = 0; i < n; i++) if (scores[i] === 0) zeros++;
  const reachable = (zeros * lo + (n - zeros) * hi) / n;
  if (targetMean > reachable + PAPER_TOLERANCE / 2) {
    throw new UsageError(`--target-mean ${targetMean} cannot be reached: with ${zeros} of ${n} rows scored 0 and epsilon capped at ${hi}, the largest mean is ${reachable.toFixed(4)}`,
      'lower --target-mean (the paper uses small values such as 0.1)');
  }
  for (let i = 0; i < n; i++) eps[i] = (scores[i] * targetMean) / m0;
  for (let it = 1; it <= PAPER_MAX_ITER; it++) {
    for (let i = 0; i < n; i++) eps[i] = Math.min(hi, Math.max(lo, eps[i]));
    const m = mean(eps);
    if (Math.abs(m - targetMean) < PAPER_TOLERANCE) return { epsilon: eps, iterations: it, ...clipCounts(eps, lo, hi) };
    for (let i = 0; i < n; i++) eps[i] *= targetMean / m;
  }
  throw new UsageError(`--mapping paper did not reach mean ${targetMean} within ${PAPER_MAX_ITER} rounds`,
    'choose a --target-mean further from --min and --max');
}

/** Score 0 -> lo, 99 -> hi, linearly; row by row, so adding rows never changes another row's epsilon. */
export function linearMapping(scores: ArrayLike<number>, lo = 0, hi = EPS_CAP): MappingResult {
  const eps = new Float64Array(scores.length);
  // score / 99 first so 99 lands exactly on hi; the clamp keeps rounding from stepping past the bounds
  for (let i = 0; i < scores.length; i++) eps[i] = Math.min(hi, Math.max(lo, lo + (hi - lo) * (scores[i] / SCORE_MAX)));
  return { epsilon: eps, iterations: 0, ...clipCounts(eps, lo, hi) };
}

/** Check the options for a mapping (bounds, order, target inside them); messages name the flags. */
export function checkMappingOptions(name: MappingName, o: MappingOptions): Required<Pick<MappingOptions, 'min' | 'max'>> & { targetMean: number | null } {
  const lo = o.min ?? 0;
  const hi = o.max ?? EPS_CAP;
  for (const [flag, v] of [['min', lo], ['max', hi]] as const) {
    if (!(v >= 0 && v <= EPS_CAP)) throw new UsageError(`--${flag} must be in [0, ${EPS_CAP}], got ${v}`);
  }
  if (lo > hi) throw new UsageError(`--min (${lo}) is above --max (${hi})`);
  const needsMean = name === 'paper' || name === 'constant';
  if (needsMean && o.targetMean === undefined) throw new UsageError(`--mapping ${name} needs --target-mean`, 'e.g. --target-mean 0.1');
  if (o.targetMean !== undefined && needsMean) {
    const [a, b] = name === 'paper' ? [lo, hi] : [0, EPS_CAP];
    if (!(o.targetMean >= a && o.targetMean <= b)) {
      throw new UsageError(`--target-mean must be in [${a}, ${b}] for --mapping ${name}, got ${o.targetMean}`);
    }
  }
  return { min: lo, max: hi, targetMean: needsMean ? o.targetMean! : null };
}

/** Map scores to epsilons with the named mapping (scores must already be validated as numbers in [0, 99]). */
export function mapScores(name: MappingName, scores: ArrayLike<number>, o: MappingOptions): MappingResult {
  const { min, max, targetMean } = checkMappingOptions(name, o);
  const n = scores.length;
  switch (name) {
    case 'paper': return paperMapping(scores, targetMean!, min, max);
    case 'linear': return linearMapping(scores, min, max);
    case 'constant': return { epsilon: new Float64Array(n).fill(targetMean!), iterations: 0, clippedLow: 0, clippedHigh: 0 };
    case 'none': return { epsilon: new Float64Array(n), iterations: 0, clippedLow: 0, clippedHigh: 0 };
  }
}
