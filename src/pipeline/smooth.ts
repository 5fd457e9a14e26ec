// `ual smooth` as a library function: read rows with "uncertainty", map the scores to "epsilon" (src/uncertainty/
// mapping.ts), write every row back in order with every field kept, atomically; return summary statistics.
import { DataError } from '../errors.js';
import { AtomicRowWriter, readJsonRows } from '../data/jsonl.js';
import { emptyDataset, newReadStats, skipOrThrow } from '../data/readers.js';
import { setFields } from '../data/rowfields.js';
import { checkMappingOptions, MAPPINGS, mapScores, SCORE_MAX, type MappingName } from '../uncertainty/mapping.js';
import { mean, quantile, sd } from '../util/stats.js';
import { flags, type TableFor } from '../util/options.js';

export interface SmoothOptions {
  data: string;
  out: string;
  mapping: MappingName;
  targetMean?: number;
  min?: number;
  max?: number;
  /** leave out rows without a valid "uncertainty" (counted) instead of stopping */
  skipBadRows?: boolean;
}

export const SMOOTH_FLAGS = flags({
  data: { flag: 'data', kind: 'string', arg: 'FILE', required: true, help: 'JSONL or JSON array of rows with "uncertainty"' },
  out: { flag: 'out', kind: 'string', arg: 'FILE', required: true, help: 'written atomically (nothing is written on error); may equal --data' },
  mapping: {
    flag: 'mapping', kind: MAPPINGS, arg: 'M', required: true,
    help: 'paper     epsilon proportional to the score, rescaled to mean --target-mean, clipped to\n' +
      '          [--min, --max], repeated until the mean is within 1e-3 (the UAL recipe)\n' +
      'linear    score 0 -> --min, 99 -> --max, row by row (defaults: epsilon = score / 100)\n' +
      'constant  every row --target-mean (plain label smoothing; needs no scores)\n' +
      'none      every row 0 (plain SFT; needs no scores)',
  },
  targetMean: { flag: 'target-mean', kind: 'number', arg: 'M', help: 'the mean epsilon (paper, constant)' },
  min: { flag: 'min', kind: 'number', arg: 'E', help: 'clip bound (paper) or the end point for score 0 (linear); default 0' },
  max: { flag: 'max', kind: 'number', arg: 'E', help: 'clip bound (paper) or the end point for score 99 (linear); default 0.99' },
  skipBadRows: { flag: 'skip-bad-rows', kind: 'bool', help: 'leave out rows without a valid "uncertainty" (counted) instead of stopping' },
}) satisfies TableFor<SmoothOptions>;

export interface SmoothSummary {
  data: string;
  out: string;
  mapping: MappingName;
  target_mean: number | null;
  min: number;
  max: number;
  /** rows written */
  rows: number;
  skipped: number;
  skipped_reasons: string[];
  /** rows that already had an epsilon, now replaced */
  overwritten: number;
  /** of the epsilons written */
  mean: number;
  std: number;
  quantiles: { min: number; p10: number; p25: number; p50: number; p75: number; p90: number; max: number };
  clipped_low: number;
  clipped_high: number;
  /** `paper`: rescale-and-clip rounds */
  iterations: number;
  /** mean uncertainty of the rows written (null when the mapping reads none) */
  score_mean: number | null;
  histogram: { edges: number[]; counts: number[] };
  elapsed_s: number;
}

const HINT = 'every row needs "uncertainty": a number in [0, 99] (run "ual elicit" to rate the rows), or pass --skip-bad-rows';

/** The row's score; a missing or invalid one is a DataError naming file, line and field. */
function score(row: Record<string, unknown>, file: string, line: number): number {
  const u = row.uncertainty;
  if (u === undefined || u === null) {
    const failed = typeof row.uncertainty_error === 'string' ? ` (elicit failed: ${row.uncertainty_error})` : '';
    throw new DataError(file, line, 'uncertainty', `is missing${failed}`, HINT);
  }
  if (typeof u !== 'number' || !Number.isFinite(u) || u < 0 || u > SCORE_MAX) {
    throw new DataError(file, line, 'uncertainty', `must be a number in [0, ${SCORE_MAX}], got ${JSON.stringify(u)}`, HINT);
  }
  return u;
}

/** Equal-width bins over [min, max] of the values (one bin when they are all equal). */
export function histogram(values: ArrayLike<number>, bins = 10): { edges: number[]; counts: number[] } {
  let lo = Infinity, hi = -Infinity;
  for (let i = 0; i < values.length; i++) { lo = Math.min(lo, values[i]); hi = Math.max(hi, values[i]); }
  if (!(hi > lo)) return { edges: [lo, hi], counts: [values.length] };
  const w = (hi - lo) / bins;
  const counts = new Array<number>(bins).fill(0);
  for (let i = 0; i < values.length; i++) counts[Math.min(bins - 1, Math.floor((values[i] - lo) / w))]++;
  return { edges: Array.from({ length: bins + 1 }, (_, k) => (k === bins ? hi : lo + k * w)), counts };
}

/** Map every row's uncertainty to epsilon and write the rows to `out`. Nothing is written on error. */
export async function smooth(o: SmoothOptions): Promise<SmoothSummary> {
  const t0 = Date.now();
  const opts = checkMappingOptions(o.mapping, o);
  const needsScore = o.mapping === 'paper' || o.mapping === 'linear';
  // Pass 1: every score (paper needs the mean of all of them before any row can be written).
  const stats = newReadStats();
  const scores: number[] = [];
  const skippedLines = new Set<number>();
  for await (const r of readJsonRows(o.data)) {
    stats.read++;
    if (!needsScore) continue;
    try {
      scores.push(score(r.row, r.file, r.line));
    } catch (e) {
      skipOrThrow(e, stats, o.skipBadRows);
      skippedLines.add(r.line);
    }
  }
  const n = stats.read - stats.skipped;
  if (n === 0) throw emptyDataset(o.data, stats);
  const mapped = mapScores(o.mapping, needsScore ? scores : new Float64Array(n), o);
  const eps = mapped.epsilon;

  // Pass 2: the same rows in the same order, each with its epsilon.
  const writer = new AtomicRowWriter(o.out);
  let k = 0;
  let overwritten = 0;
  try {
    for await (const r of readJsonRows(o.data)) {
      if (skippedLines.has(r.line)) continue;
      if (k >= n) throw new DataError(o.data, r.line, null, 'the file changed while it was being read', 'run ual smooth again');
      if (Object.prototype.hasOwnProperty.call(r.row, 'epsilon')) overwritten++;
      await writer.write(setFields(r, { epsilon: eps[k++] }));
    }
    if (k !== n) throw new DataError(o.data, null, null, 'the file changed while it was being read', 'run ual smooth again');
    await writer.commit();
  } catch (e) {
    await writer.abort();
    throw e;
  }

  const sorted = Float64Array.from(eps).sort();
  return {
    data: o.data, out: o.out, mapping: o.mapping, target_mean: opts.targetMean, min: opts.min, max: opts.max,
    rows: n, skipped: stats.skipped, skipped_reasons: stats.skippedReasons, overwritten,
    mean: mean(eps), std: sd(eps, 0),
    quantiles: {
      min: sorted[0], p10: quantile(sorted, 0.1), p25: quantile(sorted, 0.25), p50: quantile(sorted, 0.5),
      p75: quantile(sorted, 0.75), p90: quantile(sorted, 0.9), max: sorted[n - 1],
    },
    clipped_low: mapped.clippedLow, clipped_high: mapped.clippedHigh, iterations: mapped.iterations,
    score_mean: needsScore ? mean(scores) : null,
    histogram: histogram(eps),
    elapsed_s: (Date.now() - t0) / 1000,
  };
}
