// `ual sweep` as a user runs it: the demo's quick profile at two mean epsilons, three methods, two seeds. Every
// run trains at its mean (UAL's epsilons mapped to it, LS's constant equal to it, the teacher rows smoothed toward
// the top-k), sweep.json's table is the runs' values with their intervals, and the report shows them in Chromium.
// Bad --target-means / --methods fail before anything is written.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildCli, runCli, type Ran } from '../helpers/cli.js';
import { SweepResults } from '../../src/pipeline/demo/results.js';
import { renderReport } from '../../src/pipeline/report/index.js';
import { loadReportInput } from '../../src/pipeline/report/load.js';
import { fmt } from '../../src/pipeline/report/format.js';
import { logitTInterval, round, tInterval } from '../../src/util/stats.js';
import { inspectReport, NEEDS_CHROMIUM } from '../helpers/report-browser.js';
import { itWith } from '../helpers/needs.js';

const { bin, cleanup } = buildCli('sweep');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ual-sweep-cli-'));
afterAll(() => { cleanup(); fs.rmSync(tmp, { recursive: true, force: true }); });

const rowsOf = (file: string) => fs.readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

describe('ual sweep --quick', () => {
  const out = path.join(tmp, 'sweep');
  let ran: Ran;
  let results: SweepResults;
  beforeAll(async () => {
    ran = await runCli(bin, ['sweep', '--quick', '--seeds', '2', '--target-means', '0.2,0.05', '--methods', 'ual,ual-teacher,ls', '--out', out, '--json']);
    if (ran.code === 0) results = SweepResults.parse(JSON.parse(fs.readFileSync(path.join(out, 'sweep.json'), 'utf8')));
  }, 300_000);

  it('exits 0 and writes sweep.json and report.html', () => {
    expect(ran.code, ran.stderr).toBe(0);
    const last = JSON.parse(ran.stdout.trim().split('\n').pop()!);
    expect(last).toMatchObject({ results: path.join(out, 'sweep.json'), report: path.join(out, 'report.html') });
    expect(ran.stderr).toMatch(/sweep \[fine-tune ual-teacher@0\.05, seed 2/);
  });

  it('trains every method at every mean for every seed, each at its own mean epsilon', () => {
    expect(results.config.target_means).toEqual([0.05, 0.2]); // sorted
    expect(results.methods.map((m) => m.id)).toEqual(['ls', 'ual', 'ual-teacher']);
    expect(results.runs).toHaveLength(3 * 2 * 2);
    for (const r of results.runs) {
      const cfg = JSON.parse(fs.readFileSync(path.join(out, r.dir, 'train_config.json'), 'utf8'));
      const [method, m] = r.method.split('@');
      expect(Number(m)).toBe(r.target_mean);
      expect(cfg).toMatchObject({ seed: r.seed, steps: results.config.steps, model: path.join(out, 'base') });
      if (method === 'ls') {
        expect(cfg).toMatchObject({ loss: 'ls', epsilon: r.target_mean, smoothTarget: 'uniform', data: path.join(out, 'data', `train-s${r.seed}.jsonl`) });
        continue;
      }
      expect(cfg).toMatchObject({ loss: 'ual', smoothTarget: method === 'ual-teacher' ? 'teacher' : 'uniform' });
      const rows = rowsOf(cfg.data);
      // the elicited scores mapped to this run's mean (ual smooth --target-mean)
      expect(mean(rows.map((x) => x.epsilon))).toBeCloseTo(r.target_mean, 9);
      expect(rows.every((x) => (x.teacher_topk !== undefined) === (method === 'ual-teacher'))).toBe(true);
    }
  });

  it('sweep.json\'s table is each method and mean\'s runs, with their intervals over seeds', () => {
    expect(results.table).toHaveLength(3 * 2 * results.metrics.length);
    for (const row of results.table) {
      const runs = [1, 2].map((seed) => results.runs.find((r) => r.method === `${row.method}@${row.target_mean}` && r.seed === seed)!);
      expect(row.per_seed).toEqual(runs.map((r) => r.metrics[row.metric]));
      const bounded = row.metric !== 'silhouette';
      const want = bounded ? logitTInterval(row.per_seed, runs.map((r) => r.samples.metrics[row.metric])) : tInterval(row.per_seed);
      expect(row).toMatchObject({ n: 2, mean: round(want.mean), lo: round(want.lo), hi: round(want.hi) });
    }
  });

  it('report.html is what `ual report` renders from sweep.json', async () => {
    expect(fs.readFileSync(path.join(out, 'report.html'), 'utf8')).toBe(await renderReport(loadReportInput([out])));
  });

  itWith(NEEDS_CHROMIUM, 'report.html renders in Chromium: the table\'s numbers and a chart per metric', async () => {
    const seen = await inspectReport(path.join(out, 'report.html'), path.join(tmp, 'sweep-report.png'));
    expect(seen.errors).toEqual([]);
    expect(seen.requests).toEqual([seen.url]);
    expect(seen.boxes).toHaveLength(results.metrics.length);
    for (const [w, h] of seen.boxes) expect(w > 0 && h > 0).toBe(true);
    expect(seen.sweep).toHaveLength(results.table.length);
    for (const t of results.table) {
      expect(seen.sweep.find((c) => c.method === t.method && c.mean === String(t.target_mean) && c.metric === t.metric)?.text)
        .toBe(`${fmt(t.mean)}[${fmt(t.lo)}, ${fmt(t.hi)}]`);
    }
  });
});

describe('ual sweep: bad flags', () => {
  it.each([
    [['--target-means', '0.1,1.5'], /--target-means: "1.5" is not a mean epsilon in \(0, 0.99\)/],
    [['--target-means', '0.1,0.1'], /--target-means repeats a value/],
    [['--methods', 'ual,sft'], /--methods: "sft" is not a method the mean epsilon changes.*\n.*choose from ls, ual, ual-oracle, ls-teacher, ual-teacher/],
    [['--methods', ''], /--methods is empty/],
  ])('%j fails with a clear message and writes nothing', async (args, msg) => {
    const dir = path.join(tmp, `bad-${args.join('').replace(/[^a-z0-9]/gi, '')}`);
    const r = await runCli(bin, ['sweep', '--quick', '--out', dir, ...args]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(msg);
    expect(fs.existsSync(dir)).toBe(false);
  });
});
