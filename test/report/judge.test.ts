// The report's judge section from `ual eval judge --out DIR/judge.jsonl`: loaded alone or beside a training run,
// checked row by row, and every number in its table equal to fmt() of summarizeJudge on the same rows.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { summarizeJudge } from '../../src/eval/judge.js';
import { fmt } from '../../src/pipeline/report/format.js';
import { writeReport } from '../../src/pipeline/report/index.js';
import { loadReportInput } from '../../src/pipeline/report/load.js';
import { UalError } from '../../src/errors.js';
import { tmpDir, writeJudgeDir, writeTrainDir } from './helpers.js';

let dir: string;
beforeAll(() => { dir = tmpDir('judge'); });
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('judged pairs in the report', () => {
  it('loads judge.jsonl alone and beside a training run', () => {
    const alone = writeJudgeDir(path.join(dir, 'alone'));
    const run = writeJudgeDir(writeTrainDir(path.join(dir, 'run')));
    const [a, t, j] = loadReportInput([alone, run]);
    expect([a.kind, t.kind, j.kind]).toEqual(['judge', 'train', 'judge']);
    expect(a.kind === 'judge' && a.items).toHaveLength(48);
    expect(a.kind === 'judge' && a.results[47]).toEqual({ verdicts: [expect.any(String), null], preference: null, error: '[UAL_JUDGE_HTTP] gave up' });
  });

  it('a bad row names the file, the line and the field', () => {
    const d = writeJudgeDir(path.join(dir, 'bad'), 4);
    const file = path.join(d, 'judge.jsonl');
    const lines = fs.readFileSync(file, 'utf8').split('\n');
    fs.writeFileSync(file, [lines[0], lines[1].replace('"preference":', '"preference":7,"x":'), ...lines.slice(2)].join('\n'));
    let e: unknown;
    try { loadReportInput([d]); } catch (x) { e = x; }
    expect(e).toBeInstanceOf(UalError);
    expect((e as UalError).message).toMatch(new RegExp(`^${file}:2 field "preference": `));
    fs.writeFileSync(file, '\n');
    expect(() => loadReportInput([d])).toThrow(`${file}: has no rows`);
  });

  it('shows the raw and length-controlled win rates, SEs and average lengths as summarizeJudge computes them', async () => {
    const d = writeJudgeDir(path.join(dir, 'render'));
    const { out, sections } = await writeReport([d], path.join(dir, 'judge.html'));
    expect(sections).toEqual([{ dir: d, kind: 'judge' }]);
    const html = fs.readFileSync(out, 'utf8');
    const src = loadReportInput([d])[0];
    if (src.kind !== 'judge') throw new Error('not a judge source');
    const s = summarizeJudge(src.items, src.results);
    const cell = (key: string) => new RegExp(`<td data-key="${key}">([^<]*)</td>`).exec(html)?.[1];
    expect(cell('win_rate')).toBe(fmt(s.win_rate));
    expect(cell('win_rate_se')).toBe(fmt(s.standard_error));
    expect(cell('lc_win_rate')).toBe(fmt(s.lc_win_rate));
    expect(cell('lc_win_rate_se')).toBe(fmt(s.lc_standard_error));
    expect(cell('avg_length_model')).toBe(fmt(s.avg_length.model));
    expect(cell('avg_length_reference')).toBe(fmt(s.avg_length.reference));
    expect(cell('outcomes')).toBe(`${s.wins} / ${s.ties} / ${s.losses} (1)`);
    expect(cell('lc_length')).toBe(fmt(s.lc_fit.coef.length));
    // the judge of this set rewards length: the controlled rate is well below the raw one
    expect(s.n).toBe(47);
    expect(s.lc_fit.coef.length).toBeGreaterThan(0.5);
    expect(s.win_rate - s.lc_win_rate).toBeGreaterThan(5);
    expect(html).toContain('<a href="#s1">judge win rate: ');
    expect(cell('lc_difficulty')).toBeUndefined(); // no difficulty given, no such row
  });

  it('rows with a difficulty: the fit uses it and the table shows its coefficient', async () => {
    const d = writeJudgeDir(path.join(dir, 'difficulty'), 48, true);
    const { out } = await writeReport([d], path.join(dir, 'difficulty.html'));
    const html = fs.readFileSync(out, 'utf8');
    const src = loadReportInput([d])[0];
    if (src.kind !== 'judge') throw new Error('not a judge source');
    expect(src.items.every((it) => typeof it.difficulty === 'number')).toBe(true);
    const s = summarizeJudge(src.items, src.results);
    expect(s.lc_fit.coef.difficulty).toEqual(expect.any(Number));
    expect(new RegExp('<td data-key="lc_difficulty">([^<]*)</td>').exec(html)?.[1]).toBe(fmt(s.lc_fit.coef.difficulty!));
    expect(new RegExp('<td data-key="lc_win_rate">([^<]*)</td>').exec(html)?.[1]).toBe(fmt(s.lc_win_rate));
    expect(html).toContain('+ instruction difficulty, L2 penalty');
  });
});
