// Opens a report in headless Chromium (playwright-core, Debian's /usr/bin/chromium) and reads back what a reader
// sees: console errors, requests, chart sizes and the table cells; saves a full-page screenshot.
import fs from 'node:fs';
import { pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';
import { expect } from 'vitest';
import type { DemoResults } from '../../src/pipeline/demo/results.js';
import { fmt } from '../../src/pipeline/report/format.js';

export const CHROMIUM = '/usr/bin/chromium';
export const chromiumMissing = !fs.existsSync(CHROMIUM);

export interface Cell { method?: string; metric?: string; seed?: string; text: string | null }

export interface SeenReport {
  url: string;
  errors: string[];
  requests: string[];
  /** width, height of every <svg> */
  boxes: [number, number][];
  summary: Cell[];
  runs: Cell[];
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
      return { method: d.method, metric: d.metric, seed: d.seed, text: e.textContent };
    }));
    const summary = await cells('table[data-table="summary"] td');
    const runs = await cells('table[data-table="runs"] td[data-metric]');
    await page.screenshot({ path: screenshot, fullPage: true });
    return { url, errors, requests, boxes, summary, runs };
  } finally {
    await browser.close();
  }
}

/** What every rendered report must show: no errors, no requests but itself, sized charts, results.json's numbers. */
export function expectReportShows(seen: SeenReport, results: DemoResults): void {
  expect(seen.errors).toEqual([]);
  expect(seen.requests).toEqual([seen.url]);
  expect(seen.boxes.length).toBeGreaterThan(5);
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
