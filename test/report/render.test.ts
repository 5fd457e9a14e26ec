// The HTML report as a file: nothing loaded from outside, an SVG per chart, and every number in the tables equal
// to fmt() of the value in results.json; the write is atomic.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DemoResults } from '../../src/pipeline/demo/results.js';
import { fmt, fmtValue } from '../../src/pipeline/report/format.js';
import { writeReport } from '../../src/pipeline/report/index.js';
import { demoChartCount } from '../helpers/report-browser.js';
import { makeResults, tmpDir, writeDemoDir, writeTrainDir } from './helpers.js';

let dir: string;
let html: string;
const results: DemoResults = makeResults();

beforeAll(async () => {
  dir = tmpDir('render');
  const s = await writeReport([writeDemoDir(path.join(dir, 'demo')), writeTrainDir(path.join(dir, 'run'))], path.join(dir, 'report.html'));
  html = fs.readFileSync(s.out, 'utf8');
  expect(s.bytes).toBe(fs.statSync(s.out).size);
  expect(s.sections).toEqual([{ dir: path.join(dir, 'demo'), kind: 'demo' }, { dir: path.join(dir, 'run'), kind: 'train' }]);
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const unescape = (s: string) => s.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&amp;/g, '&');
/** The text of each cell of one table, keyed by its data-* attributes. */
function cells(table: string): { attrs: Record<string, string>; cls: string; text: string }[] {
  const body = html.match(new RegExp(`<table[^>]* data-table="${table}">([\\s\\S]*?)</table>`))![1];
  return [...body.matchAll(/<td ([^>]*)>([\s\S]*?)<\/td>/g)].map(([, a, inner]) => {
    const attrs = Object.fromEntries([...a.matchAll(/data-([\w-]+)="([^"]*)"/g)].map(([, k, v]) => [k, unescape(v)]));
    return { attrs, cls: a.match(/class="([^"]*)"/)?.[1] ?? '', text: unescape(inner.replace(/<[^>]+>/g, '')) };
  });
}

describe('fmt', () => {
  it('3 significant digits, integers as they are, no exponent below 1e-6 or above 1000', () => {
    expect([0.85312, 12.345, 0.041234, -0.01234, 1234.56, 3, 0, -0, 0.5, 0.99999, 2e-5].map(fmt))
      .toEqual(['0.853', '12.3', '0.0412', '-0.0123', '1235', '3', '0', '0', '0.500', '1.00', '0.0000200']);
  });
});

describe('renderReport', () => {
  it('is one self-contained file: no scripts, no external resources', () => {
    expect(html).not.toMatch(/<script/i);
    expect(html).not.toMatch(/<link/i);
    expect(html).not.toMatch(/@import|url\(\s*['"]?(https?:)?\/\//i);
    const refs = [...html.matchAll(/\s(?:src|href|xlink:href)\s*=\s*"([^"]*)"/gi)].map((m) => m[1]);
    expect(refs).toEqual(['#s1', '#s2']); // the table of contents
  });

  it('has an SVG for every chart, and element ids are unique across the charts', () => {
    expect(demoChartCount(results)).toBe(1 + 1 + 3 + 2); // loss, epsilon, per-type bars of 3 metrics, 2 cluster panels
    expect(html.match(/<svg/g)!.length).toBe(demoChartCount(results) + 2); // + training loss and lr
    const ids = [...html.matchAll(/ id="([^"]+)"/g)].map((m) => m[1]);
    expect(new Set(ids).size).toBe(ids.length);
    for (const p of results.clusters) {
      const title = `${results.methods.find((m) => m.id === p.method)!.label} seed ${p.seed}: "yes" vs " no", silhouette ${fmt(p.silhouette)}`;
      expect(unescape(html)).toContain(title);
    }
  });

  it('results table: each cell is fmt(mean) [fmt(lo), fmt(hi)] of its summary row; directions and oracle rows marked', () => {
    const got = cells('summary');
    expect(got).toHaveLength(results.summary.length);
    for (const s of results.summary) {
      const c = got.find((x) => x.attrs.method === s.method && x.attrs.metric === s.metric)!;
      expect(c.text).toBe(`${fmt(s.mean)} [${fmt(s.lo)}, ${fmt(s.hi)}]`);
    }
    expect(html).toContain('data-metric="accuracy" title="exact answers on precise prompts">Accuracy ↑');
    expect(html).toContain('data-metric="tv" title="total variation to the true answer distribution">TV distance ↓');
    const rows = html.match(/<table data-table="summary">[\s\S]*?<\/table>/)![0].split('<tr').slice(2);
    expect(rows.map((r) => [r.startsWith(' class="oracle"'), r.includes('oracle uncertainty')]))
      .toEqual(results.methods.map((m) => [m.oracle, m.oracle]));
    expect(html).toContain('(&lt;i&gt;baseline&lt;/i&gt;)');
  });

  it('differences table: each pair and metric, shaded exactly when the interval excludes 0', () => {
    const got = cells('differences');
    expect(got).toHaveLength(results.differences.length);
    const significant = results.differences.filter((d) => d.lo > 0 || d.hi < 0);
    expect([significant.length, results.differences.length]).toEqual([8, 12]); // the fixture has both kinds
    for (const d of results.differences) {
      const c = got.find((x) => x.attrs.a === d.a && x.attrs.b === d.b && x.attrs.metric === d.metric)!;
      expect(c.text).toBe(`${fmt(d.mean)} [${fmt(d.lo)}, ${fmt(d.hi)}]`);
      const higher = results.metrics.find((m) => m.id === d.metric)!.higher_is_better;
      expect(c.cls).toBe(significant.includes(d) ? `sig ${(d.mean > 0) === higher ? 'better' : 'worse'}` : '');
    }
    expect(html).toContain('<th scope="row">UAL − SFT</th>');
  });

  it('names the interval under each table and chart: logit-t for the shares, Student-t for silhouette and differences', () => {
    const logitT = "95% logit-t interval over seeds (a Student-t interval of the seeds' logits, each seed's value p over n samples taken as " +
      '(p·n + 0.5)/(n + 1), mapped back; it stays inside [0, 1]).';
    const studentT = '95% Student-t interval over seeds (mean ± t(n − 1)·sd/√n).';
    const notes = [...html.matchAll(/<p class="note" data-note="intervals">([^<]*)<\/p>/g)].map((m) => unescape(m[1]));
    expect(notes).toEqual([
      `Intervals — Accuracy, Coverage, TV distance: ${logitT} Silhouette: ${studentT}`,
      `Intervals — Accuracy, Coverage, TV distance, Silhouette: ${studentT}`,
    ]);
    for (const m of ['Accuracy', 'Coverage', 'TV distance']) expect(html).toContain(`<figcaption>${m} per task type: mean over seeds, line = 95% logit-t interval over seeds.</figcaption>`);
  });

  it('per-seed table: every run and metric through fmt', () => {
    const got = cells('runs');
    for (const r of results.runs) {
      for (const [metric, v] of Object.entries({ ...r.metrics, train_seconds: r.train_seconds })) {
        const c = got.find((x) => x.attrs.method === r.method && x.attrs.seed === String(r.seed) && x.attrs.metric === metric)!;
        expect(c.text).toBe(fmt(v));
      }
    }
  });

  it('elicitation, configuration and training options as key/value tables', () => {
    for (const [k, v] of Object.entries(results.config.elicitation)) {
      expect(cells('elicitation').find((c) => c.attrs.key === k)!.text).toBe(fmtValue(v));
    }
    expect(cells('finetune').find((c) => c.attrs.key === 'ual')!.text).toBe('{"mapping":"paper","target_mean":0.1}');
    expect(cells('versions').find((c) => c.attrs.key === 'node')!.text).toBe('v20.20.2');
    expect(cells('train_config').find((c) => c.attrs.key === 'lr')!.text).toBe(fmt(0.0003));
    expect(html).toContain('25 optimizer steps');
  });
});

describe('a demo with nothing but methods and metrics', () => {
  it('renders every section, saying what is missing, and no charts', async () => {
    const empty = { ...makeResults(), runs: [], summary: [], differences: [], per_type: [], epsilon: [], clusters: [] };
    const s = await writeReport([writeDemoDir(path.join(dir, 'empty'), empty)], path.join(dir, 'empty.html'));
    const page = fs.readFileSync(s.out, 'utf8');
    expect(page).not.toContain('<svg');
    for (const what of ['paired differences', 'loss curves', 'epsilon rows', 'per-type results', 'cluster panels']) expect(page).toContain(`No ${what} in results.json.`);
    expect(page.match(/<td [^>]*class="na">—<\/td>/g)).toHaveLength(empty.methods.length * empty.metrics.length);
  });
});

describe('writeReport', () => {
  it('on a bad folder writes nothing: an existing report stays as it was, no temp files', async () => {
    const out = path.join(dir, 'kept.html');
    fs.writeFileSync(out, 'OLD');
    const bad = writeDemoDir(path.join(dir, 'bad'), { ...makeResults(), format: 'something else' });
    await expect(writeReport([path.join(dir, 'run'), bad], out)).rejects.toThrow(/results\.json field "format"/);
    expect(fs.readFileSync(out, 'utf8')).toBe('OLD');
    expect(fs.readdirSync(dir).filter((f) => f.includes('.tmp-'))).toEqual([]);
  });
});
