// The report in a real browser (Chromium through playwright-core): no console errors, no requests beyond the file
// itself, every chart drawn with a size, the tables' numbers as in results.json and, for judged pairs, the raw and
// length-controlled win rates as summarizeJudge computes them; a full-page screenshot is kept.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { summarizeJudge } from '../../src/eval/judge.js';
import { fmt } from '../../src/pipeline/report/format.js';
import { writeReport } from '../../src/pipeline/report/index.js';
import { loadReportInput } from '../../src/pipeline/report/load.js';
import { expectReportShows, inspectReport, NEEDS_CHROMIUM } from '../helpers/report-browser.js';
import { itWith } from '../helpers/needs.js';
import { makeResults, tmpDir, writeDemoDir, writeJudgeDir, writeTrainDir } from './helpers.js';

let dir: string;
beforeAll(() => { dir = tmpDir('chromium'); });
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('report in Chromium', () => {
  itWith(NEEDS_CHROMIUM, 'renders without errors, charts sized, numbers as in results.json', async () => {
    const results = makeResults();
    const run = writeJudgeDir(writeTrainDir(path.join(dir, 'run'))); // a run with its judged pairs
    const { out } = await writeReport([writeDemoDir(path.join(dir, 'demo')), run], path.join(dir, 'report.html'));
    const shot = process.env.UAL_REPORT_SCREENSHOT ?? path.join(dir, 'report.png');
    const seen = await inspectReport(out, shot);
    expectReportShows(seen, results, 2); // + the training run's loss and learning rate
    const judged = loadReportInput([run])[1];
    if (judged.kind !== 'judge') throw new Error('expected the judged pairs second');
    const j = summarizeJudge(judged.items, judged.results);
    const text = (key: string) => seen.judge.find((c) => c.key === key)?.text;
    expect([text('win_rate'), text('win_rate_se'), text('lc_win_rate'), text('lc_win_rate_se'), text('avg_length_model'), text('avg_length_reference')])
      .toEqual([fmt(j.win_rate), fmt(j.standard_error), fmt(j.lc_win_rate), fmt(j.lc_standard_error), fmt(j.avg_length.model), fmt(j.avg_length.reference)]);
    expect(j.win_rate - j.lc_win_rate).toBeGreaterThan(5); // the numbers differ, so the check tells them apart
    // the screenshot is a PNG of the whole page (width and height from its IHDR header)
    const png = fs.readFileSync(shot);
    expect(png.subarray(1, 4).toString()).toBe('PNG');
    expect([png.readUInt32BE(16), png.readUInt32BE(20)]).toEqual(seen.page);
  });
});
