// Score -> epsilon mappings: `paper` against a hand-worked fixed point and a numpy implementation of the reference
// recipe (clipping active at target mean 0.5), `linear`, `constant`, `none`, and the option errors.
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { EPS_CAP, mapScores, paperMapping } from '../../src/uncertainty/mapping.js';
import { UsageError } from '../../src/errors.js';
import { itWith, type Need } from '../helpers/needs.js';

const mean = (a: ArrayLike<number>) => Array.from(a).reduce((s, x) => s + x, 0) / a.length;

/** Deterministic pseudo-random scores 0..99 (a fixed LCG, so the numpy run sees the same numbers). */
function scores(n: number, seed = 7): number[] {
  let s = seed;
  return Array.from({ length: n }, () => {
    s = (1103515245 * s + 12345) % 2 ** 31;
    return Math.floor((s / 2 ** 31) ** 2 * 100) % 100; // skewed low, like real ratings of mixed data
  });
}

// The reference recipe (issue 4: proportional, rescaled to mean M, clipped to [lo, 0.99], repeated until the
// mean is within 1e-3) written in numpy, independently of the TypeScript.
const NUMPY_REFERENCE = `
import json, sys
import numpy as np
d = json.load(sys.stdin)
u = np.asarray(d["scores"], dtype=np.float64)
M, lo, hi = d["mean"], d["lo"], d["hi"]
eps = u / u.mean() * M
rounds = 0
while True:
    rounds += 1
    eps = np.clip(eps, lo, hi)
    if abs(eps.mean() - M) < 1e-3:
        break
    eps = eps * (M / eps.mean())
print(json.dumps({"eps": eps.tolist(), "rounds": rounds}))
`;

function numpyReference(s: number[], M: number, lo = 0, hi = EPS_CAP): { eps: number[]; rounds: number } | null {
  const r = spawnSync('python3', ['-c', NUMPY_REFERENCE], { input: JSON.stringify({ scores: s, mean: M, lo, hi }), encoding: 'utf8' });
  if (r.status !== 0) return null;
  return JSON.parse(r.stdout) as { eps: number[]; rounds: number };
}
const HAVE_NUMPY = spawnSync('python3', ['-c', 'import numpy'], { encoding: 'utf8' }).status === 0;
// numpy comes with python3-torch, which .ci/run installs: missing in CI is a failure, elsewhere a skip
const NUMPY: Need = { what: 'python3 with numpy', present: HAVE_NUMPY, fix: 'apt-get install -y python3-numpy' };

describe('paper mapping', () => {
  it('without clipping it is just proportional, mean exactly M', () => {
    const r = paperMapping([10, 20, 30, 40], 0.1);
    expect(Array.from(r.epsilon)).toEqual([0.04, 0.08, 0.12, 0.16].map((x) => expect.closeTo(x, 15)));
    expect(r).toMatchObject({ iterations: 1, clippedHigh: 0, clippedLow: 0 });
  });

  it('clipping active (mean 0.5): the clipped row stays at 0.99, the others are scaled up until the mean is M', () => {
    // By hand: proportional start [0, 1/6, 1/3, 1.5]; 1.5 clips to 0.99, so the rest must carry 2 − 0.99 = 1.01 in
    // the ratio 10:20 -> fixed point [0, 1.01/3, 2.02/3, 0.99], approached from below until within 1e-3.
    const r = paperMapping([0, 10, 20, 90], 0.5);
    const e = Array.from(r.epsilon);
    expect(Math.abs(mean(e) - 0.5)).toBeLessThan(1e-3);
    expect(e[0]).toBe(0);
    expect(e[3]).toBe(0.99);
    expect(e[2] / e[1]).toBeCloseTo(2, 12);
    expect(e[1]).toBeCloseTo(1.01 / 3, 2);
    expect(e[1]).toBeLessThanOrEqual(1.01 / 3);
    expect(r.iterations).toBeGreaterThan(1);
    expect(r.clippedHigh).toBe(1);
  });

  itWith(NUMPY, 'matches the numpy reference on 1000 scores, clipping active (mean 0.5) and inactive (mean 0.1)', () => {
    for (const [M, lo] of [[0.5, 0], [0.1, 0], [0.3, 0.05]] as const) {
      const s = scores(1000, 11);
      const ref = numpyReference(s, M, lo)!;
      const got = paperMapping(s, M, lo);
      let worst = 0;
      ref.eps.forEach((x, i) => { worst = Math.max(worst, Math.abs(x - got.epsilon[i])); });
      console.log(`paper mapping vs numpy, mean ${M}, min ${lo}: ${got.iterations} rounds (numpy ${ref.rounds}), ` +
        `${got.clippedHigh} rows at 0.99, largest |difference| ${worst.toExponential(2)}`);
      expect(got.iterations).toBe(ref.rounds);
      expect(worst).toBeLessThan(1e-12);
      if (M === 0.5) expect(got.clippedHigh).toBeGreaterThan(50);
    }
  });

  it('all-zero scores carry no ranking: every row gets M; an unreachable mean is an error naming the cause', () => {
    expect(Array.from(paperMapping([0, 0, 0], 0.1).epsilon)).toEqual([0.1, 0.1, 0.1]);
    expect(() => paperMapping([0, 0, 0, 50], 0.5)).toThrow(/cannot be reached: with 3 of 4 rows scored 0 .* largest mean is 0\.2475/);
  });

  it('--min lifts zero scores to the floor and the mean still lands on M', () => {
    const r = mapScores('paper', [0, 0, 10, 50, 99], { targetMean: 0.2, min: 0.05 });
    const e = Array.from(r.epsilon);
    expect(Math.abs(mean(e) - 0.2)).toBeLessThan(1e-3);
    expect(Math.min(...e)).toBe(0.05);
    expect(r.clippedLow).toBe(2);
  });
});

describe('the other mappings', () => {
  it('linear: 0 -> min, 99 -> max, row by row (defaults give score / 100)', () => {
    expect(Array.from(mapScores('linear', [0, 50, 99], {}).epsilon)).toEqual([0, 0.5, 0.99].map((x) => expect.closeTo(x, 12)));
    expect(Array.from(mapScores('linear', [0, 49.5, 99], { min: 0.1, max: 0.3 }).epsilon)).toEqual([0.1, 0.2, 0.3].map((x) => expect.closeTo(x, 12)));
  });

  it('constant gives M to every row, none gives 0', () => {
    expect(Array.from(mapScores('constant', [1, 2, 3], { targetMean: 0.1 }).epsilon)).toEqual([0.1, 0.1, 0.1]);
    expect(Array.from(mapScores('none', [1, 2], {}).epsilon)).toEqual([0, 0]);
  });

  it('option errors name the flag', () => {
    const err = (f: () => unknown) => { try { f(); } catch (e) { expect(e).toBeInstanceOf(UsageError); return (e as Error).message; } throw new Error('no error'); };
    expect(err(() => mapScores('paper', [1], {}))).toMatch(/--mapping paper needs --target-mean/);
    expect(err(() => mapScores('constant', [1], {}))).toMatch(/--mapping constant needs --target-mean/);
    expect(err(() => mapScores('paper', [1], { targetMean: 1 }))).toMatch(/--target-mean must be in \[0, 0\.99\]/);
    expect(err(() => mapScores('paper', [1], { targetMean: 0.01, min: 0.05 }))).toMatch(/--target-mean must be in \[0\.05, 0\.99\]/);
    expect(err(() => mapScores('linear', [1], { min: 0.5, max: 0.2 }))).toMatch(/--min \(0\.5\) is above --max \(0\.2\)/);
    expect(err(() => mapScores('linear', [1], { max: 1.2 }))).toMatch(/--max must be in \[0, 0\.99\]/);
  });
});
