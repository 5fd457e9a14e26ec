// Opens a report in headless Chromium (playwright-core, Debian's /usr/bin/chromium) and reads back what a reader
// sees: console errors, requests, chart sizes and the table cells; saves a full-page screenshot.
import { pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';
import { expect } from 'vitest';
import type { DemoResults } from '../../src/pipeline/demo/results.js';
import { fmt } from '../../src/pipeline/report/format.js';
import { needFile } from './needs.js';

export const CHROMIUM = '/usr/bin/chromium';
/** Tests that open a report in the browser: skipped without Chromium, except in CI, where they fail. */
export const NEEDS_CHROMIUM = needFile(CHROMIUM, 'apt-get install chromium');

export interface Cell { method?: string; metric?: string; seed?: string; key?: string; mean?: string; text: string | null }

export interface SeenReport {
  url: string;
  errors: string[];
  requests: string[];
  /** width, height of every <svg> */
  boxes: [number, number][];
  /** the whole page's scroll width and height: the size of the full-page screenshot */
  page: [number, number];
  summary: Cell[];
  runs: Cell[];
  /** the judge section's cells (data-key: win_rate, win_rate_se, lc_win_rate, ...) */
  judge: Cell[];
  /** the sweep section's cells (data-method, data-mean, data-metric) */
  sweep: Cell[];
}

export async function inspectReport(file: string, screenshot: string): Promise<SeenReport> {
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const errors: string[] = [];
    const requests: string[] = [];
    page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('request', (r) => requests.push(r.url()));
    const url = pathToFileURL(file).href;
    await page.goto(url, { waitUntil: 'load' });
    const boxes = await page.$$eval('svg', (els) => els.map((e) => { const b = e.getBoundingClientRect(); return [b.width, b.height] as [number, number]; }));
    const cells = (sel: string) => page.$$eval(sel, (els) => els.map((e) => {
      const d = (e as HTMLElement).dataset;
      return { method: d.method, metric: d.metric, seed: d.seed, key: d.key, mean: d.mean, text: e.textContent };
    }));
    const summary = await cells('table[data-table="summary"] td');
    const runs = await cells('table[data-table="runs"] td[data-metric]');
    const judge = await cells('table[data-table="judge"] td[data-key]');
    const sweep = await cells('table[data-table="sweep"] td[data-metric]');
    const size = await page.evaluate(() => [document.documentElement.scrollWidth, document.documentElement.scrollHeight] as [number, number]);
    await page.screenshot({ path: screenshot, fullPage: true });
    return { url, errors, requests, boxes, page: size, summary, runs, judge, sweep };
  } finally {
    await browser.close();
  }
}

/** The charts a demo section draws: loss curves, epsilon histogram, a per-type bar chart per metric, a scatter per cluster panel. */
export function demoChartCount(r: DemoResults): number {
  return (r.runs.some((x) => x.loss_curve.length) ? 1 : 0) + (r.epsilon.length ? 1 : 0) + new Set(r.per_type.map((p) => p.metric)).size + r.clusters.length;
}

/**
 * What every rendered report must show: no errors, no requests but itself, every chart drawn with a size, results.json's
 * numbers; `otherCharts` are those of the report's other sections (2 per training run).
 */
export function expectReportShows(seen: SeenReport, results: DemoResults, otherCharts = 0): void {
  expect(seen.errors).toEqual([]);
  expect(seen.requests).toEqual([seen.url]);
  expect(seen.boxes).toHaveLength(demoChartCount(results) + otherCharts);
  for (const [w, h] of seen.boxes) expect(w > 0 && h > 0, `svg ${w}x${h}`).toBe(true);
  expect(seen.summary).toHaveLength(results.summary.length);
  for (const s of results.summary) {
    expect(seen.summary.find((c) => c.method === s.method && c.metric === s.metric)?.text).toBe(`${fmt(s.mean)} [${fmt(s.lo)}, ${fmt(s.hi)}]`);
  }
  for (const r of results.runs) {
    for (const [metric, v] of Object.entries(r.metrics)) {
      expect(seen.runs.find((c) => c.method === r.method && c.seed === String(r.seed) && c.metric === metric)?.text).toBe(fmt(v));
    }
  }
}
