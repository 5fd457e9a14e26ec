// The report in a real browser (Chromium through playwright-core): no console errors, no requests beyond the file
// itself, every chart drawn with a size, the tables' numbers as in results.json; a full-page screenshot is kept.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeReport } from '../../src/pipeline/report/index.js';
import { expectReportShows, inspectReport, NEEDS_CHROMIUM } from '../helpers/report-browser.js';
import { itWith } from '../helpers/needs.js';
import { makeResults, tmpDir, writeDemoDir, writeTrainDir } from './helpers.js';

let dir: string;
beforeAll(() => { dir = tmpDir('chromium'); });
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('report in Chromium', () => {
  itWith(NEEDS_CHROMIUM, 'renders without errors, charts sized, numbers as in results.json', async () => {
    const results = makeResults();
    const { out } = await writeReport([writeDemoDir(path.join(dir, 'demo')), writeTrainDir(path.join(dir, 'run'))], path.join(dir, 'report.html'));
    const shot = process.env.UAL_REPORT_SCREENSHOT ?? path.join(dir, 'report.png');
    const seen = await inspectReport(out, shot);
    expectReportShows(seen, results, 2); // + the training run's loss and learning rate
    // the screenshot is a PNG of the whole page (width and height from its IHDR header)
    const png = fs.readFileSync(shot);
    expect(png.subarray(1, 4).toString()).toBe('PNG');
    expect([png.readUInt32BE(16), png.readUInt32BE(20)]).toEqual(seen.page);
  });
});
