// The demo's scores against ground truth, as pure functions: distribution match of sampled answers to an open
// request (validity, coverage, total variation), and the seed-level aggregation into intervals and paired differences.
import { Rng } from '../../util/rng.js';
import { logitTInterval, round, tInterval } from '../../util/stats.js';
import type { Answer } from './benchmark.js';
import type { DifferenceRow, Estimate, PerTypeRow, RunResult, SummaryRow } from './results.js';

export interface OpenScores {
  /** share of samples that are one of the valid answers, exactly */
  validity: number;
  /** share of the valid answers that were produced at least once */
  coverage: number;
  /** total variation distance between the samples' empirical distribution and the true one (invalid answers have p = 0) */
  tv: number;
}

export function openScores(samples: readonly string[], answers: readonly Answer[]): OpenScores {
  const n = samples.length;
  if (n === 0) throw new Error('openScores: no samples');
  const counts = new Map<string, number>();
  for (const s of samples) counts.set(s, (counts.get(s) ?? 0) + 1);
  let valid = 0, covered = 0, tv = 0;
  const known = new Set<string>();
  for (const a of answers) {
    known.add(a.text);
    const c = counts.get(a.text) ?? 0;
    valid += c;
    if (c > 0) covered++;
    tv += Math.abs(c / n - a.p);
  }
  for (const [s, c] of counts) if (!known.has(s)) tv += c / n;
  return { validity: valid / n, coverage: covered / answers.length, tv: tv / 2 };
}

/**
 * The total variation a perfect model would still show with n samples (sampling noise alone), averaged over
 * `reps` seeded draws: the floor under the tv column, reported beside it so no one reads 0 as the target.
 */
export function tvFloor(answers: readonly Answer[], n: number, reps = 200, seed = 0): number {
  const rng = new Rng(seed);
  const cdf: number[] = [];
  let acc = 0;
  for (const a of answers) cdf.push((acc += a.p));
  let sum = 0;
  for (let r = 0; r < reps; r++) {
    const samples: string[] = [];
    for (let i = 0; i < n; i++) {
      const u = rng.next() * acc;
      let k = 0;
      while (k < cdf.length - 1 && u >= cdf[k]) k++;
      samples.push(answers[k].text);
    }
    sum += openScores(samples, answers).tv;
  }
  return sum / reps;
}

/** A value bounded to [0, 1] (given with its per-seed sample counts) gets the logit-t interval, others Student-t. */
function estimate(values: number[], samples: number[] | null): Estimate {
  const t = samples ? logitTInterval(values, samples) : tInterval(values);
  return { mean: round(t.mean), lo: round(t.lo), hi: round(t.hi), n: t.n, interval: samples ? 'logit-t' : 't', per_seed: values.map((v) => round(v)) };
}

/** One method's runs in seed order (a run missing for a seed is an error: pairs must line up). */
function runsOf(runs: readonly RunResult[], method: string, seeds: readonly number[]): RunResult[] {
  return seeds.map((seed) => {
    const r = runs.find((x) => x.method === method && x.seed === seed);
    if (!r) throw new Error(`demo results: no run for method ${method}, seed ${seed}`);
    return r;
  });
}

function values(rs: readonly RunResult[], value: (r: RunResult) => number | undefined): number[] {
  return rs.map((r) => {
    const v = value(r);
    if (v === undefined) throw new Error(`demo results: run ${r.method} seed ${r.seed} has no value`);
    return v;
  });
}

/** The sample counts behind one metric in seed order, or null when it has none (it is not bounded to [0, 1]). */
function samples(rs: readonly RunResult[], count: (r: RunResult) => number | undefined): number[] | null {
  const n = rs.map(count);
  if (n.every((x) => x === undefined)) return null;
  const i = n.indexOf(undefined);
  if (i >= 0) throw new Error(`demo results: run ${rs[i].method} seed ${rs[i].seed} has no sample count where the other seeds have one`);
  return n as number[];
}

export interface Aggregate {
  summary: SummaryRow[];
  differences: DifferenceRow[];
  per_type: PerTypeRow[];
}

/**
 * Seeds -> intervals. Differences are paired by seed (the same seed gives every method the same training rows,
 * order and evaluation samples), which removes the seed-to-seed variance the methods share.
 */
export function aggregate(runs: readonly RunResult[], methods: readonly string[], metrics: readonly string[],
  seeds: readonly number[], pairs: readonly [string, string][], types: readonly { id: string; metrics: readonly string[] }[]): Aggregate {
  const summary: SummaryRow[] = [];
  for (const method of methods) {
    const rs = runsOf(runs, method, seeds);
    for (const metric of metrics) summary.push({ method, metric, ...estimate(values(rs, (r) => r.metrics[metric]), samples(rs, (r) => r.samples.metrics[metric])) });
  }
  const differences: DifferenceRow[] = [];
  for (const [a, b] of pairs) {
    for (const metric of metrics) {
      const va = values(runsOf(runs, a, seeds), (r) => r.metrics[metric]);
      const vb = values(runsOf(runs, b, seeds), (r) => r.metrics[metric]);
      differences.push({ a, b, metric, ...estimate(va.map((v, i) => v - vb[i]), null) });
    }
  }
  const per_type: PerTypeRow[] = [];
  for (const method of methods) {
    const rs = runsOf(runs, method, seeds);
    for (const t of types) {
      for (const metric of t.metrics) {
        per_type.push({ method, type: t.id, metric, ...estimate(values(rs, (r) => r.per_type[t.id]?.[metric]), samples(rs, (r) => r.samples.per_type[t.id]?.[metric])) });
      }
    }
  }
  return { summary, differences, per_type };
}
