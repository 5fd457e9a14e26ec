// The shared statistics against numpy/scipy values computed once by hand: mean, sd, quantile, median, Spearman, Wilson,
// the t quantile table, and the two intervals over seeds (Student-t, and logit-t for values bounded to [0, 1]).
import { describe, expect, it } from 'vitest';
import { logitTInterval, mean, median, quantile, round, sd, sem, spearman, t975, tInterval, wilson } from '../../src/util/stats.js';

describe('mean, sd, quantile', () => {
  const xs = [3, 1, 4, 1, 5, 9, 2, 6];

  it('match numpy: mean, std(ddof=1), std(ddof=0), sem, quantile (linear)', () => {
    expect(mean(xs)).toBe(3.875);
    expect(sd(xs)).toBeCloseTo(2.748376143938713, 14);
    expect(sd(xs, 0)).toBeCloseTo(2.5708704751503917, 14);
    expect(sem(xs)).toBeCloseTo(0.9716977043151993, 14);
    const sorted = [...xs].sort((a, b) => a - b);
    // np.quantile(sorted, [0, .1, .25, .5, .9, 1])
    expect([0, 0.1, 0.25, 0.5, 0.9, 1].map((q) => quantile(sorted, q))).toEqual([1, 1, 1.75, 3.5, expect.closeTo(6.9, 14), 9]);
    // np.median: the middle value, or the mean of the two middle ones; the input's order does not matter
    expect([median(xs), median([5, 1, 3]), median([2])]).toEqual([3.5, 3, 2]);
  });

  it('edge cases: nothing is NaN, one value has sd 0 and sem 0', () => {
    expect(mean([])).toBeNaN();
    expect(sd([])).toBeNaN();
    expect(quantile([], 0.5)).toBeNaN();
    expect(median([])).toBeNaN();
    expect([sd([7]), sd([7], 0), sem([7])]).toEqual([0, 0, 0]);
  });

  it('round keeps 6 digits by default and leaves non-finite values alone', () => {
    expect([round(0.12345678), round(2.5e-7), round(1 / 3, 2), round(Infinity)]).toEqual([0.123457, 0, 0.33, Infinity]);
  });
});

describe('spearman', () => {
  it('monotone = 1, reversed = -1, ties averaged', () => {
    expect(spearman([1, 2, 3, 4], [10, 20, 30, 40])).toBeCloseTo(1, 12);
    expect(spearman([1, 2, 3, 4], [4, 3, 2, 1])).toBeCloseTo(-1, 12);
    // ranks [1.5,1.5,3] vs [1,2,3]: pearson of ranks = 0.866...
    expect(spearman([0, 0, 5], [1, 2, 3])).toBeCloseTo(Math.sqrt(3) / 2, 12);
  });
});

describe('wilson', () => {
  it('matches scipy binomtest(k, n).proportion_ci(method="wilson")', () => {
    // scipy 1.10: binomtest(81, 100).proportion_ci(method='wilson') = (0.7222115462, 0.8748524849)
    const [lo, hi] = wilson(81, 100);
    expect(lo).toBeCloseTo(0.7222115462, 9);
    expect(hi).toBeCloseTo(0.8748524849, 9);
    expect(wilson(10, 10)[1]).toBe(1);
    expect(wilson(0, 10)[0]).toBe(0);
    expect(wilson(0, 10)[1]).toBeCloseTo(0.2775327999, 9);
    expect(wilson(10, 10)[0]).toBeCloseTo(0.7224672001, 9);
  });
});

describe('intervals over seeds', () => {
  it('t quantiles match scipy.stats.t.ppf(0.975, df)', () => {
    expect(t975(1)).toBeCloseTo(12.706205, 5);
    expect(t975(2)).toBeCloseTo(4.302653, 5);
    expect(t975(4)).toBeCloseTo(2.776445, 5);
    expect(t975(40)).toBeCloseTo(2.021075, 4);
    expect(t975(60)).toBeCloseTo(2.000298, 4);
    expect(t975(120)).toBeCloseTo(1.979930, 4);
    expect(t975(0)).toBeNaN();
  });

  it('Student-t over three seeds: mean ± t(2)·sd/√3', () => {
    const r = tInterval([1, 2, 6]); // mean 3, sd sqrt(7)
    const half = 4.30265273 * Math.sqrt(7) / Math.sqrt(3);
    expect(r.mean).toBe(3);
    expect(r.lo).toBeCloseTo(3 - half, 10);
    expect(r.hi).toBeCloseTo(3 + half, 10);
    expect(tInterval([5])).toEqual({ mean: 5, lo: 5, hi: 5, n: 1 });
  });

  // Reference values from numpy/scipy: p' = (p·n + 0.5)/(n + 1), y = logit(p'), ȳ ± t.ppf(0.975, k-1)·std(y, ddof=1)/√k,
  // mapped back with the logistic function; equal to 9 digits (the t table carries 10 significant digits)
  it('logit-t by hand: 2/4, 3/4, 4/4 correct -> 0.75 [0.14957, 0.97742], where Student-t gives [0.129, 1.371]', () => {
    const r = logitTInterval([0.5, 0.75, 1], [4, 4, 4]);
    expect(r).toEqual({ mean: 0.75, lo: expect.closeTo(0.1495719098576422, 9), hi: expect.closeTo(0.9774154159160633, 9), n: 3 });
    expect(tInterval([0.5, 0.75, 1]).hi).toBeCloseTo(1.3710344279375826, 9);
  });

  it('logit-t of a share near 1 stays below 1: 0.9, 0.98, 0.98 of 680 -> [0.71344, 0.99663] (Student-t: 1.068)', () => {
    const r = logitTInterval([0.9, 0.98, 0.98], [680, 680, 680]);
    expect(r.lo).toBeCloseTo(0.7134434301472685, 9);
    expect(r.hi).toBeCloseTo(0.9966326741811273, 9);
    expect(tInterval([0.9, 0.98, 0.98]).hi).toBeCloseTo(1.0680707394599855, 9);
  });

  it('logit-t at shares of 0 and 1: inside [0, 1], holding the mean, (n + 0.5)/(n + 1) on the open side', () => {
    expect(logitTInterval([1, 1, 1], [40, 40, 40])).toEqual({ mean: 1, lo: expect.closeTo(40.5 / 41, 14), hi: 1, n: 3 });
    expect(logitTInterval([0, 0, 0], [40, 40, 40])).toEqual({ mean: 0, lo: 0, hi: expect.closeTo(0.5 / 41, 14), n: 3 });
    // 0/10, 10/10, 10/10: wide (t(2) with logits ±3.04) but strictly inside (0, 1); Student-t would give [-0.768, 2.101]
    const mixed = logitTInterval([0, 1, 1], [10, 10, 10]);
    expect(mixed).toEqual({ mean: 2 / 3, lo: expect.closeTo(0.0004444740231941944, 9), hi: expect.closeTo(0.9999415836309598, 9), n: 3 });
    expect(mixed.lo > 0 && mixed.hi < 1).toBe(true);
  });

  it('logit-t reaches the mean where the back-transformed interval misses it (two clusters of seeds)', () => {
    // 15 seeds at 0.007 and 15 at 0.731 (n = 1000): the logistic of the mean logit is far below the mean 0.369;
    // numpy gives [0.04472761500167568, 0.3044074890471702] before widening
    const r = logitTInterval([...Array(15).fill(0.007), ...Array(15).fill(0.731)], Array(30).fill(1000));
    expect(r.mean).toBeCloseTo(0.369, 14);
    expect(r.lo).toBeCloseTo(0.04472761500167568, 9);
    expect(r.hi).toBe(r.mean);
  });

  it('logit-t with one seed is that value; mismatched counts are an error', () => {
    expect(logitTInterval([0.4], [10])).toEqual({ mean: 0.4, lo: 0.4, hi: 0.4, n: 1 });
    expect(() => logitTInterval([0.4, 0.5], [10])).toThrow('2 values but 1 sample counts');
  });
});
