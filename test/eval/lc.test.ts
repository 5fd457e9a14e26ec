// The length-controlled win rate (src/eval/lc.ts): preference sets whose answer is known by construction (no length
// effect -> LC = raw; a judge that only rewards length -> LC = 50%), the edge cases, the PyTorch fixture
// (scripts/lc_ref.py: L-BFGS + autograd, an independent fit of the same model on fixtures/lc/pairs.jsonl), and the
// instruction difficulty files `ual eval judge --difficulty` reads.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { lengthControlledWinRate, LC_C, type LcPair } from '../../src/eval/lc.js';
import { readDifficulty } from '../../src/eval/rows.js';
import { Rng } from '../../src/util/rng.js';
import { mean, sd, sem } from '../../src/util/stats.js';

const pair = (preference: number, modelLength: number, referenceLength: number, difficulty?: number): LcPair =>
  ({ preference, modelLength, referenceLength, ...(difficulty === undefined ? {} : { difficulty }) });

describe('known answers', () => {
  // every preference value occurs once with the model longer by d and once shorter by d: the length column is
  // orthogonal to the outcome, so the length coefficient is exactly 0 and the model term carries the raw rate
  const prefs = [1, 1, 1, 0.75, 0.5, 0.5, 0.25, 0, 1, 0.75, 1, 0];
  const noLength = Array.from({ length: 10 }, (_, r) => prefs.flatMap((y, i) => [pair(y, 500 + 40 * i + r, 500), pair(y, 500, 500 + 40 * i + r)])).flat();
  const raw = 100 * mean(noLength.map((p) => p.preference));

  test('no length effect, no penalty: LC = raw, SE = raw SE x sqrt((n-1)/(n-2))', () => {
    const f = lengthControlledWinRate(noLength, Infinity);
    expect(Math.abs(f.coef.length)).toBeLessThan(1e-12);
    expect(Math.abs(f.win_rate - raw)).toBeLessThan(1e-9);
    const n = noLength.length;
    expect(f.standard_error).toBeCloseTo(100 * sem(noLength.map((p) => p.preference)) * Math.sqrt((n - 1) / (n - 2)), 9);
  });

  test('no length effect, the published penalty (C = 100): LC = raw within 0.01 points on 240 instructions', () => {
    const f = lengthControlledWinRate(noLength);
    expect(Math.abs(f.coef.length)).toBeLessThan(1e-12);
    expect(Math.abs(f.win_rate - raw)).toBeLessThan(0.01);
    expect(f.win_rate).toBeLessThan(raw); // the penalty pulls the model term toward 0, i.e. toward 50%
  });

  test('a judge that rewards only length: LC = 50% exactly while the raw rate is far above', () => {
    // the model is longer on 3 of 4 instructions; the preference is a function of the length difference alone
    const rng = new Rng(7);
    const diffs = Array.from({ length: 400 }, (_, i) => (i % 4 === 0 ? -1 : 1) * Math.round(50 + 900 * rng.next()));
    const s = sd(diffs);
    const pairs = diffs.map((d) => pair(1 / (1 + Math.exp(-2 * Math.tanh(d / s))), 600 + d, 600));
    const f = lengthControlledWinRate(pairs, Infinity);
    expect(100 * mean(pairs.map((p) => p.preference))).toBeGreaterThan(63);
    expect(f.coef.length).toBeCloseTo(2, 8);
    expect(f.coef.model).toBeCloseTo(0, 8);
    expect(f.win_rate).toBeCloseTo(50, 6);
  });

  test('a judge that rewards only length, judged both ways round with ties: LC within 2 SE of 50%', () => {
    // each order: the longer output wins with probability sigmoid(2 tanh(|d| / 500)), or a tie one time in ten
    const rng = new Rng(11);
    const pairs = Array.from({ length: 600 }, (_, i) => {
      const d = (i % 4 === 0 ? -1 : 1) * Math.round(20 + 1200 * rng.next());
      const pLonger = 1 / (1 + Math.exp(-2 * Math.tanh(Math.abs(d) / 500)));
      let score = 0;
      for (let order = 0; order < 2; order++) {
        const longerWins = rng.next() < pLonger;
        score += rng.next() < 0.1 ? 0.5 : (longerWins === d > 0 ? 1 : 0);
      }
      return pair(score / 2, 700 + d, 700);
    });
    const raw = 100 * mean(pairs.map((p) => p.preference));
    const f = lengthControlledWinRate(pairs);
    expect(raw).toBeGreaterThan(62);
    expect(f.standard_error).toBeGreaterThan(1);
    expect(f.standard_error).toBeLessThan(4);
    expect(Math.abs(f.win_rate - 50)).toBeLessThan(2 * f.standard_error);
    expect(f.coef.length).toBeGreaterThan(1);
  });
});

describe('edge cases', () => {
  test('the model wins everything: the penalty keeps the fit finite, LC near 100%', () => {
    const f = lengthControlledWinRate([pair(1, 10, 20), pair(1, 30, 20), pair(1, 25, 20), pair(1, 5, 20)]);
    expect(Number.isFinite(f.coef.model)).toBe(true);
    expect(f.win_rate).toBeGreaterThan(95);
    expect(f.win_rate).toBeLessThan(100);
  });

  test('equal lengths everywhere: no length column, LC = raw', () => {
    const f = lengthControlledWinRate([pair(1, 10, 10), pair(0, 10, 10), pair(0.5, 10, 10), pair(1, 10, 10)], Infinity);
    expect(f.length_scale).toBe(0);
    expect(f.coef.length).toBe(0);
    expect(f.win_rate).toBeCloseTo(62.5, 9);
  });

  test('no pairs: NaN; difficulty on some pairs only: an error that says so', () => {
    expect(lengthControlledWinRate([]).win_rate).toBeNaN();
    expect(() => lengthControlledWinRate([pair(1, 1, 2, 0.3), pair(0, 2, 1)])).toThrow(/difficulty for every judged pair or for none/);
  });
});

interface Case {
  C: number | null; difficulty: boolean; coef: { model: number; length: number; difficulty?: number };
  length_scale: number; win_rate: number; standard_error: number;
}

describe('PyTorch fixture (fixtures/lc, scripts/lc_ref.py)', () => {
  const dir = new URL('../../fixtures/lc/', import.meta.url);
  const expected = JSON.parse(fs.readFileSync(new URL('expected.json', dir), 'utf8')) as { raw_win_rate: number; cases: Case[] };
  const rows = fs.readFileSync(new URL('pairs.jsonl', dir), 'utf8').trim().split('\n')
    .map((l) => JSON.parse(l) as { preference: number; model_length: number; reference_length: number; difficulty: number });
  const HINT = 'stale fixture? regenerate with: bash scripts/make-lc-fixtures.sh';

  test('the fixture covers the published penalty, a strong one and none, with and without difficulty', () => {
    expect(expected.cases.map((c) => [c.C, c.difficulty])).toEqual([[LC_C, false], [0.5, false], [null, false], [LC_C, true], [0.5, true], [null, true]]);
    expect(100 * mean(rows.map((r) => r.preference))).toBeCloseTo(expected.raw_win_rate, 10);
  });

  test.each(expected.cases.map((c) => [`C ${c.C ?? 'none'}${c.difficulty ? ', difficulty' : ''}`, c] as const))('%s', (_name, c) => {
    const pairs = rows.map((r) => pair(r.preference, r.model_length, r.reference_length, c.difficulty ? r.difficulty : undefined));
    const f = lengthControlledWinRate(pairs, c.C ?? Infinity);
    const got = { ...f.coef, length_scale: f.length_scale, win_rate: f.win_rate, standard_error: f.standard_error };
    const want = { ...c.coef, length_scale: c.length_scale, win_rate: c.win_rate, standard_error: c.standard_error };
    const diffs = Object.entries(want).map(([k, v]) => [k, Math.abs(got[k as keyof typeof got]! - v) / Math.max(1, Math.abs(v))] as const);
    const worst = diffs.reduce((a, b) => (b[1] > a[1] ? b : a));
    console.log(`LC fixture ${_name}: largest relative difference ${worst[1].toExponential(2)} (${worst[0]})`);
    // L-BFGS stops at a gradient of ~1e-7 without a penalty (relative differences ~4e-9 there), Newton at rounding
    expect(worst[1], `${worst[0]}: ${HINT}`).toBeLessThan(1e-7);
    expect(Object.keys(got).sort()).toEqual(Object.keys(want).sort());
  });
});

describe('instruction difficulty files (--difficulty)', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ual-lc-'));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
  const write = (name: string, text: string) => { const f = path.join(dir, name); fs.writeFileSync(f, text); return f; };

  test("AlpacaEval's instruction_difficulty.csv (index,value; any order) and a JSON array", () => {
    const csv = write('d.csv', 'index,instruction_difficulty\n1,-0.25\n0,1.5\n2,0.125\n');
    expect(readDifficulty(csv, 3, false)).toEqual([1.5, -0.25, 0.125]);
    expect(readDifficulty(csv, 2, true)).toEqual([1.5, -0.25]); // --limit 2: the first two
    expect(readDifficulty(write('d.json', '[0.5, -1, 2]'), 3, false)).toEqual([0.5, -1, 2]);
  });

  test('a missing, unreadable or extra difficulty names the file and line', () => {
    const csv = write('gap.csv', 'index,instruction_difficulty\n0,1\n2,3\n');
    expect(() => readDifficulty(csv, 3, false)).toThrow(`${csv}: has no difficulty for reference 1 (of 3)`);
    expect(() => readDifficulty(write('bad.csv', 'index,d\n0,1\n1,high\n'), 2, false)).toThrow(/bad\.csv:3: is not a finite number \("high"\)/);
    expect(() => readDifficulty(write('cols.csv', 'index,d\n0;1\n'), 1, false)).toThrow(/cols\.csv:2: is not "index,difficulty"/);
    expect(() => readDifficulty(write('s.json', '[1, "x"]'), 2, false)).toThrow(/s\.json field "\[1\]": is not a finite number \("x"\)/);
    expect(() => readDifficulty(write('more.json', '[1, 2, 3]'), 2, false)).toThrow(/more\.json: has 3 difficulties for 2 references/);
  });
});
