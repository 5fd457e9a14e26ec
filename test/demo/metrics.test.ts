// The demo's scoring against ground truth and its seed statistics, on hand-computed cases.
import { describe, expect, it } from 'vitest';
import { aggregate, openScores, tvFloor } from '../../src/pipeline/demo/metrics.js';
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
    // pinned from a run: 200 seeded draws (util/rng), plain JavaScript arithmetic, the same on every machine
    expect(small).toBeCloseTo(0.12475, 12);
    expect(big).toBeCloseTo(0.011765, 12);
  });
});

describe('seed statistics', () => {
  // accuracy is a share of 10 problems (logit-t interval), silhouette is not bounded to [0, 1] (Student-t)
  const run = (method: string, seed: number, acc: number, sil: number): RunResult => ({
    method, seed, dir: `${method}-${seed}`, metrics: { accuracy: acc, silhouette: sil }, per_type: { 'arith-1': { accuracy: acc } },
    samples: { metrics: { accuracy: 10 }, per_type: { 'arith-1': { accuracy: 10 } } }, loss_curve: [], train_seconds: 1,
  });
  const runs = [run('a', 1, 0.5, 0.2), run('a', 2, 0.7, 0.3), run('a', 3, 0.9, 0.4), run('b', 1, 0.4, 0.2), run('b', 2, 0.6, 0.2), run('b', 3, 0.9, 0.2)];
  const agg = aggregate(runs, ['a', 'b'], ['accuracy', 'silhouette'], [1, 2, 3], [['a', 'b']], [{ id: 'arith-1', metrics: ['accuracy'] }]);
  const row = (method: string, metric: string) => agg.summary.find((s) => s.method === method && s.metric === metric)!;

  // expected intervals: numpy/scipy as in test/util/stats.test.ts, rounded to 6 digits as results.json keeps them
  it('a share gets the logit-t interval from its sample counts, inside [0, 1] where Student-t reaches 1.197', () => {
    expect(row('a', 'accuracy')).toEqual({ method: 'a', metric: 'accuracy', mean: 0.7, lo: 0.192338, hi: 0.959826, n: 3, interval: 'logit-t', per_seed: [0.5, 0.7, 0.9] });
    expect(row('b', 'accuracy')).toMatchObject({ lo: 0.101086, hi: 0.968194, interval: 'logit-t' });
    expect(agg.per_type.find((p) => p.method === 'a')).toMatchObject({ type: 'arith-1', mean: 0.7, lo: 0.192338, hi: 0.959826, interval: 'logit-t' });
  });

  it('a metric without sample counts (silhouette) keeps the Student-t interval', () => {
    expect(row('a', 'silhouette')).toEqual({ method: 'a', metric: 'silhouette', mean: 0.3, lo: 0.051586, hi: 0.548414, n: 3, interval: 't', per_seed: [0.2, 0.3, 0.4] });
    expect(row('b', 'silhouette')).toMatchObject({ mean: 0.2, lo: 0.2, hi: 0.2, interval: 't' });
  });

  it('pairs differences by seed, with a Student-t interval', () => {
    const d = agg.differences.find((x) => x.metric === 'accuracy')!;
    expect(d).toEqual({ a: 'a', b: 'b', metric: 'accuracy', mean: 0.066667, lo: -0.076755, hi: 0.210088, n: 3, interval: 't', per_seed: [0.1, 0.1, 0] });
    // the unpaired means differ by 0.0667 with wide intervals; the paired interval is narrower than either
    expect(d.hi - d.lo).toBeLessThan(row('a', 'accuracy').hi - row('a', 'accuracy').lo);
    expect(agg.per_type).toHaveLength(2);
  });

  it('a missing run, or a sample count missing for one seed only, is an error', () => {
    expect(() => aggregate(runs.slice(1), ['a'], ['accuracy'], [1, 2, 3], [], [])).toThrow(/no run for method a, seed 1/);
    const holed = runs.map((r) => (r.method === 'a' && r.seed === 2 ? { ...r, samples: { metrics: {}, per_type: {} } } : r));
    expect(() => aggregate(holed, ['a'], ['accuracy'], [1, 2, 3], [], [])).toThrow('run a seed 2 has no sample count where the other seeds have one');
  });
});
