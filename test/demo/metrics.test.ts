// The demo's scoring against ground truth and its seed statistics, on hand-computed cases.
import { describe, expect, it } from 'vitest';
import { aggregate, openScores, tvFloor } from '../../src/pipeline/demo/metrics.js';
import { spearman, t975, tInterval } from '../../src/eval/stats.js';
import type { RunResult } from '../../src/pipeline/demo/results.js';

describe('openScores', () => {
  const answers = [{ text: 'a.', p: 0.5 }, { text: 'b.', p: 0.3 }, { text: 'c.', p: 0.2 }];

  it('hand case: validity, coverage and total variation with an invalid answer', () => {
    const s = openScores(['a.', 'a.', 'b.', 'zzz'], answers);
    expect(s.validity).toBe(0.75);
    expect(s.coverage).toBeCloseTo(2 / 3, 15);
    // 0.5 * (|0.5-0.5| + |0.25-0.3| + |0-0.2| + 0.25)
    expect(s.tv).toBeCloseTo(0.25, 15);
  });

  it('is 0 for samples in exactly the true proportions and 1 for all-invalid samples', () => {
    expect(openScores(['a.', 'a.', 'a.', 'a.', 'a.', 'b.', 'b.', 'b.', 'c.', 'c.'], answers)).toEqual({ validity: 1, coverage: 1, tv: 0 });
    expect(openScores(['x', 'y'], answers)).toEqual({ validity: 0, coverage: 0, tv: 1 });
  });

  it('tv floor: zero for a one-answer distribution, shrinking with more samples', () => {
    expect(tvFloor([{ text: 'a', p: 1 }], 10)).toBe(0);
    const small = tvFloor(answers, 20), big = tvFloor(answers, 2000);
    expect(small).toBeGreaterThan(big);
    expect(big).toBeLessThan(0.03);
    expect(small).toBeLessThan(0.3);
  });
});

describe('seed statistics', () => {
  it('t quantiles match scipy.stats.t.ppf(0.975, df)', () => {
    expect(t975(1)).toBeCloseTo(12.706205, 5);
    expect(t975(2)).toBeCloseTo(4.302653, 5);
    expect(t975(4)).toBeCloseTo(2.776445, 5);
    expect(t975(40)).toBeCloseTo(2.021075, 4);
    expect(t975(60)).toBeCloseTo(2.000298, 4);
    expect(t975(120)).toBeCloseTo(1.979930, 4);
    expect(t975(0)).toBeNaN();
  });

  it('interval over three seeds: mean ± t(2)·sd/√3', () => {
    const r = tInterval([1, 2, 6]); // mean 3, sd sqrt(7)
    const half = 4.30265273 * Math.sqrt(7) / Math.sqrt(3);
    expect(r.mean).toBe(3);
    expect(r.lo).toBeCloseTo(3 - half, 10);
    expect(r.hi).toBeCloseTo(3 + half, 10);
    expect(tInterval([5])).toEqual({ mean: 5, lo: 5, hi: 5, n: 1 });
  });

  it('aggregate pairs differences by seed', () => {
    const run = (method: string, seed: number, acc: number): RunResult => ({
      method, seed, dir: `${method}-${seed}`, metrics: { accuracy: acc }, per_type: { 'arith-1': { accuracy: acc } }, loss_curve: [], train_seconds: 1,
    });
    const runs = [run('a', 1, 0.5), run('a', 2, 0.7), run('a', 3, 0.9), run('b', 1, 0.4), run('b', 2, 0.6), run('b', 3, 0.9)];
    const agg = aggregate(runs, ['a', 'b'], ['accuracy'], [1, 2, 3], [['a', 'b']], [{ id: 'arith-1', metrics: ['accuracy'] }]);
    const a = agg.summary.find((s) => s.method === 'a')!;
    expect(a.per_seed).toEqual([0.5, 0.7, 0.9]);
    expect(a.mean).toBeCloseTo(0.7, 12);
    const d = agg.differences[0];
    expect(d.per_seed.map((x) => Number(x.toFixed(6)))).toEqual([0.1, 0.1, 0]);
    // the unpaired means differ by 0.0667 with wide intervals; the paired interval is narrower than either
    expect(d.mean).toBeCloseTo(0.2 / 3, 6);
    expect(d.hi - d.lo).toBeLessThan(a.hi - a.lo);
    expect(agg.per_type).toHaveLength(2);
    expect(() => aggregate(runs.slice(1), ['a'], ['accuracy'], [1, 2, 3], [], [])).toThrow(/no run for method a, seed 1/);
  });

  it('spearman: monotone = 1, reversed = -1, ties averaged', () => {
    expect(spearman([1, 2, 3, 4], [10, 20, 30, 40])).toBeCloseTo(1, 12);
    expect(spearman([1, 2, 3, 4], [4, 3, 2, 1])).toBeCloseTo(-1, 12);
    // ranks [1.5,1.5,3] vs [1,2,3]: pearson of ranks = 0.866...
    expect(spearman([0, 0, 5], [1, 2, 3])).toBeCloseTo(Math.sqrt(3) / 2, 12);
  });
});
