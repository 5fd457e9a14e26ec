// The demo's scores against ground truth, as pure functions: distribution match of sampled answers to an open
// request (validity, coverage, total variation), and the seed-level aggregation into intervals and paired differences.
import { Rng } from '../../util/rng.js';
import { round, tInterval } from '../../eval/stats.js';
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

function estimate(values: number[]): Estimate {
  const t = tInterval(values);
  return { mean: round(t.mean), lo: round(t.lo), hi: round(t.hi), n: t.n, per_seed: values.map((v) => round(v)) };
}

/** Values of one method's metric in seed order (a run missing for a seed is an error: pairs must line up). */
function perSeed(runs: readonly RunResult[], method: string, seeds: readonly number[], value: (r: RunResult) => number | undefined): number[] {
  return seeds.map((seed) => {
    const r = runs.find((x) => x.method === method && x.seed === seed);
    if (!r) throw new Error(`demo results: no run for method ${method}, seed ${seed}`);
    const v = value(r);
    if (v === undefined) throw new Error(`demo results: run ${method} seed ${seed} has no value`);
    return v;
  });
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
    for (const metric of metrics) summary.push({ method, metric, ...estimate(perSeed(runs, method, seeds, (r) => r.metrics[metric])) });
  }
  const differences: DifferenceRow[] = [];
  for (const [a, b] of pairs) {
    for (const metric of metrics) {
      const va = perSeed(runs, a, seeds, (r) => r.metrics[metric]);
      const vb = perSeed(runs, b, seeds, (r) => r.metrics[metric]);
      differences.push({ a, b, metric, ...estimate(va.map((v, i) => v - vb[i])) });
    }
  }
  const per_type: PerTypeRow[] = [];
  for (const method of methods) {
    for (const t of types) {
      for (const metric of t.metrics) {
        per_type.push({ method, type: t.id, metric, ...estimate(perSeed(runs, method, seeds, (r) => r.per_type[t.id]?.[metric])) });
      }
    }
  }
  return { summary, differences, per_type };
}
