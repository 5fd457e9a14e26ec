// The smooth pipeline in-process: every row back in order with every field (byte for byte) plus epsilon; bad or
// missing uncertainty named by file:line; --skip-bad-rows; nothing written on error; JSON-array output; the summary.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { histogram, smooth } from '../../src/pipeline/smooth.js';
import { paperMapping } from '../../src/uncertainty/mapping.js';
import { DataError } from '../../src/errors.js';

/** The DataError a promise rejects with (fails the test if it resolves or rejects with anything else). */
async function rejection(p: Promise<unknown>): Promise<DataError> {
  const e = await p.then(() => null, (x: unknown) => x);
  expect(e).toBeInstanceOf(DataError);
  return e as DataError;
}

let dir: string;
beforeAll(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ual-smooth-')); });
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function write(name: string, text: string): string {
  const f = path.join(dir, name);
  fs.writeFileSync(f, text);
  return f;
}

const lines = (f: string) => fs.readFileSync(f, 'utf8').trim().split('\n');

describe('smooth', () => {
  it('paper: keeps every row, in order, byte for byte, and appends epsilon', async () => {
    const src = [
      '{"id": 12345678901234567890, "instruction": "a", "output": "b", "uncertainty": 10}',
      '{"id":2,"question":"q","answer":"x","uncertainty":90,"uncertainty_method":"verbalized"}',
      '',
      '{"conversations":[{"from":"human","value":"h"}],"uncertainty":0}',
      '{"id":4,"uncertainty":20,"nested":{"k":[1,2.50]}}',
    ];
    const data = write('scored.jsonl', src.join('\n') + '\n');
    const out = path.join(dir, 'out', 'smoothed.jsonl');
    const s = await smooth({ data, out, mapping: 'paper', targetMean: 0.5 });
    const got = lines(out);
    const want = paperMapping([10, 90, 0, 20], 0.5).epsilon;
    expect(got).toEqual([
      `{"id": 12345678901234567890, "instruction": "a", "output": "b", "uncertainty": 10,"epsilon":${want[0]}}`,
      `{"id":2,"question":"q","answer":"x","uncertainty":90,"uncertainty_method":"verbalized","epsilon":${want[1]}}`,
      `{"conversations":[{"from":"human","value":"h"}],"uncertainty":0,"epsilon":${want[2]}}`,
      `{"id":4,"uncertainty":20,"nested":{"k":[1,2.50]},"epsilon":${want[3]}}`,
    ]);
    expect(want[1]).toBe(0.99);
    expect(s).toMatchObject({ rows: 4, skipped: 0, overwritten: 0, mapping: 'paper', target_mean: 0.5, min: 0, max: 0.99, clipped_high: 1 });
    expect(Math.abs(s.mean - 0.5)).toBeLessThan(1e-3);
    expect(s.quantiles.max).toBe(0.99);
    expect(s.quantiles.min).toBe(0);
    expect(s.score_mean).toBe(30);
    expect(s.histogram.counts.reduce((a, b) => a + b, 0)).toBe(4);
  });

  it('an existing epsilon is replaced, not duplicated; the output may be the input file', async () => {
    const data = write('again.jsonl', '{"a":1,"uncertainty":50,"epsilon":0.7}\n{"a":2,"uncertainty":50}\n');
    const s = await smooth({ data, out: data, mapping: 'constant', targetMean: 0.1 });
    expect(lines(data)).toEqual(['{"a":1,"uncertainty":50,"epsilon":0.1}', '{"a":2,"uncertainty":50,"epsilon":0.1}']);
    expect(s.overwritten).toBe(1);
  });

  it('a missing or invalid uncertainty names file:line and field; nothing is written', async () => {
    const data = write('bad.jsonl', '{"uncertainty":3}\n{"x":1}\n{"uncertainty":"high"}\n{"uncertainty":120}\n');
    const out = path.join(dir, 'never.jsonl');
    const e = await rejection(smooth({ data, out, mapping: 'paper', targetMean: 0.1 }));
    expect(e).toBeInstanceOf(DataError);
    expect(e.message).toBe(`${data}:2 field "uncertainty": is missing`);
    expect(e.hint).toMatch(/ual elicit/);
    expect(fs.existsSync(out)).toBe(false);
    expect(fs.readdirSync(dir).filter((f) => f.includes('never'))).toEqual([]);
    // a failed elicitation says why
    const failed = write('failed.jsonl', '{"x":1,"uncertainty_error":"line 1: judge gave no score"}\n');
    await expect(smooth({ data: failed, out, mapping: 'linear' })).rejects.toThrow(/failed\.jsonl:1 field "uncertainty": is missing \(elicit failed: line 1: judge gave no score\)/);
  });

  it('--skip-bad-rows leaves those rows out and counts them', async () => {
    const data = write('bad2.jsonl', '{"uncertainty":3}\n{"x":1}\n{"uncertainty":"high"}\n{"uncertainty":120}\n{"uncertainty":99}\n');
    const out = path.join(dir, 'skipped.jsonl');
    const s = await smooth({ data, out, mapping: 'linear', skipBadRows: true });
    expect(lines(out)).toEqual(['{"uncertainty":3,"epsilon":0.03}', '{"uncertainty":99,"epsilon":0.99}']);
    expect(s).toMatchObject({ rows: 2, skipped: 3 });
    expect(s.skipped_reasons).toEqual([
      `${data}:2 field "uncertainty": is missing`,
      `${data}:3 field "uncertainty": must be a number in [0, 99], got "high"`,
      `${data}:4 field "uncertainty": must be a number in [0, 99], got 120`,
    ]);
  });

  it('constant and none need no scores; an empty file is an error; a .json output is a JSON array', async () => {
    const data = write('plain.json', JSON.stringify([{ q: 1 }, { q: 2 }]));
    const out = path.join(dir, 'plain-out.json');
    await smooth({ data, out, mapping: 'none' });
    expect(JSON.parse(fs.readFileSync(out, 'utf8'))).toEqual([{ q: 1, epsilon: 0 }, { q: 2, epsilon: 0 }]);
    const empty = write('empty.jsonl', '');
    await expect(smooth({ data: empty, out, mapping: 'none' })).rejects.toThrow(`${empty}: has no rows`);
  });

  it('histogram: equal-width bins over the value range', () => {
    expect(histogram([0, 0.25, 0.5, 0.75, 1], 4)).toEqual({ edges: [0, 0.25, 0.5, 0.75, 1], counts: [1, 1, 1, 2] });
    expect(histogram([0.1, 0.1])).toEqual({ edges: [0.1, 0.1], counts: [2] });
  });
});
