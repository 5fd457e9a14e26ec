// The report in a real browser (Chromium through playwright-core): no console errors, no requests beyond the file
// itself, every chart drawn with a size, the tables' numbers as in results.json; a full-page screenshot is kept.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeReport } from '../../src/pipeline/report/index.js';
import { CHROMIUM, chromiumMissing as missing, expectReportShows, inspectReport } from '../helpers/report-browser.js';
import { makeResults, tmpDir, writeDemoDir, writeTrainDir } from './helpers.js';

if (missing) console.warn(`report browser test skipped: ${CHROMIUM} not found (apt-get install chromium)`);

let dir: string;
beforeAll(() => { dir = tmpDir('chromium'); });
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('report in Chromium', () => {
  it.skipIf(missing)(`renders without errors, charts sized, numbers as in results.json (needs ${CHROMIUM})`, async () => {
    const results = makeResults();
    const { out } = await writeReport([writeDemoDir(path.join(dir, 'demo')), writeTrainDir(path.join(dir, 'run'))], path.join(dir, 'report.html'));
    const shot = process.env.UAL_REPORT_SCREENSHOT ?? path.join(dir, 'report.png');
    const seen = await inspectReport(out, shot);
    expectReportShows(seen, results);
    expect(fs.statSync(shot).size).toBeGreaterThan(10_000);
  });
});
