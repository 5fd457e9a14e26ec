// `ual demo --quick` as a user runs it (CI runs this): it finishes, writes results.json that the schema accepts
// with every method, seed and interval, and a report whose numbers are results.json's. Plus: bad --out and flags
// fail before anything is written, and --base-url elicits through a real (local) judge without leaking its key.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { buildCli, ROOT, runCli, type Ran } from '../helpers/cli.js';
import { DemoResults } from '../../src/pipeline/demo/results.js';
import { renderReport } from '../../src/pipeline/report/index.js';
import { loadReportInput } from '../../src/pipeline/report/load.js';
import { logitTInterval, round, tInterval } from '../../src/util/stats.js';
import { completion, startJudge, type Judge } from '../uncertainty/judge-server.js';
import { expectReportShows, inspectReport, NEEDS_CHROMIUM } from '../helpers/report-browser.js';
import { itWith } from '../helpers/needs.js';

const { bin, cleanup } = buildCli('demo');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ual-demo-cli-'));
afterAll(() => { cleanup(); fs.rmSync(tmp, { recursive: true, force: true }); });

describe('ual demo --quick', () => {
  const out = path.join(tmp, 'quick');
  let ran: Ran;
  let results: DemoResults;
  beforeAll(async () => {
    ran = await runCli(bin, ['demo', '--quick', '--out', out, '--json']);
    if (ran.code === 0) results = DemoResults.parse(JSON.parse(fs.readFileSync(path.join(out, 'results.json'), 'utf8')));
  }, 300_000);

  it('exits 0 and writes results.json and report.html', () => {
    expect(ran.code, ran.stderr).toBe(0);
    const last = JSON.parse(ran.stdout.trim().split('\n').pop()!);
    expect(last.results).toBe(path.join(out, 'results.json'));
    expect(last.report).toBe(path.join(out, 'report.html'));
  });

  it('report.html is what `ual report` renders from results.json', async () => {
    expect(fs.readFileSync(path.join(out, 'report.html'), 'utf8')).toBe(await renderReport(loadReportInput([out])));
  });

  it('reports stages with an ETA on stderr', () => {
    for (const stage of ['pre-train base model', 'train teacher model', 'elicit uncertainty, seed 1', 'fine-tune ual, seed 3', 'evaluate sft, seed 2']) {
      // two runs at a time on 2+ cores: "[fine-tune ual, seed 3 | evaluate ls, seed 3]"
      expect(ran.stderr).toMatch(new RegExp(`\\[([^\\]]* \\| )?${stage}( \\| [^\\]]*)?\\]`));
    }
    expect(ran.stderr).toMatch(/eta \d+(m\d\ds|s)/);
  });

  it('names sft, ls and ual with a value per seed and its interval for every metric: logit-t inside [0, 1] for shares', () => {
    expect(results.config.seeds).toEqual([1, 2, 3]);
    const methods = results.methods.map((m) => m.id);
    expect(methods).toEqual(['sft', 'ls', 'ual', 'ual-oracle', 'ls-teacher', 'ual-teacher']);
    expect(results.methods.find((m) => m.id === 'ual-oracle')!.oracle).toBe(true);
    for (const m of methods) {
      for (const metric of results.metrics) {
        const row = results.summary.find((s) => s.method === m && s.metric === metric.id)!;
        // per_seed are the runs' own values, in seed order; the interval is recomputed from them and the runs' sample counts
        const runs = results.config.seeds.map((seed) => results.runs.find((r) => r.method === m && r.seed === seed)!);
        expect(row.per_seed).toEqual(runs.map((r) => r.metrics[metric.id]));
        const bounded = metric.id !== 'silhouette';
        const want = bounded ? logitTInterval(row.per_seed, runs.map((r) => r.samples.metrics[metric.id])) : tInterval(row.per_seed);
        expect(row).toMatchObject({ n: 3, interval: bounded ? 'logit-t' : 't', mean: round(want.mean), lo: round(want.lo), hi: round(want.hi) });
        if (bounded) expect(0 <= row.lo && row.lo <= row.mean && row.mean <= row.hi && row.hi <= 1, `${m} ${metric.id}`).toBe(true);
      }
    }
    // the counts behind the shares: every arithmetic test problem, every sampled answer to the open prompts
    const { test_arithmetic: problems, test_open_prompts: prompts } = results.config.benchmark as { test_arithmetic: number; test_open_prompts: number };
    const sampled = prompts * (results.config.evaluation.samples as number);
    for (const r of results.runs) expect(r.samples.metrics).toMatchObject({ accuracy: problems, validity: sampled, tv: sampled, validity_p: sampled, tv_p: sampled });
    expect(new Set(results.differences.map((d) => `${d.a}-${d.b}`))).toEqual(new Set(['ual-sft', 'ual-ls', 'ual-oracle-ual', 'ual-teacher-sft', 'ual-teacher-ual', 'ls-teacher-ls']));
    for (const [a, b] of [['ual', 'sft'], ['ual', 'ls'], ['ual-teacher', 'sft'], ['ual-teacher', 'ual']]) {
      const d = results.differences.find((x) => x.a === a && x.b === b && x.metric === 'accuracy')!;
      const va = results.summary.find((s) => s.method === a && s.metric === 'accuracy')!.per_seed;
      const vb = results.summary.find((s) => s.method === b && s.metric === 'accuracy')!.per_seed;
      d.per_seed.forEach((x, i) => expect(x).toBeCloseTo(va[i] - vb[i], 6));
    }
  });

  it('trains every method with the same budget from the same base, and UAL with the mean epsilon LS uses', () => {
    const cfgOf = (r: { dir: string }) => JSON.parse(fs.readFileSync(path.join(out, r.dir, 'train_config.json'), 'utf8'));
    const cfgs = results.runs.map(cfgOf);
    for (const c of cfgs) {
      expect(c.steps).toBe(cfgs[0].steps);
      expect(c.batchSize).toBe(cfgs[0].batchSize);
      expect(c.lr).toBe(cfgs[0].lr);
      expect(c.model).toBe(path.join(out, 'base'));
    }
    const ual = fs.readFileSync(path.join(out, 'data', 'train-s1.ual.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l).epsilon as number);
    const mean = ual.reduce((a, b) => a + b, 0) / ual.length;
    expect(Math.abs(mean - cfgs.find((c) => c.loss === 'ls').epsilon)).toBeLessThan(2e-3);
    // the teacher methods smooth toward the teacher's top-32 (ual distill's rows), the others toward the vocabulary
    const runCfg = (m: string) => cfgs[results.runs.findIndex((r) => r.method === m)];
    for (const m of ['ls-teacher', 'ual-teacher']) expect(runCfg(m)).toMatchObject({ smoothTarget: 'teacher', data: path.join(out, 'data', 'train-s1.teacher.jsonl') });
    expect(runCfg('ls-teacher').loss).toBe('ls');
    expect(runCfg('ual-teacher').loss).toBe('ual');
    for (const m of ['sft', 'ls', 'ual', 'ual-oracle']) expect(runCfg(m).smoothTarget).toBe('uniform');
    const distilled = fs.readFileSync(path.join(out, 'data', 'train-s1.teacher.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(distilled.map((r) => r.epsilon)).toEqual(ual);
    for (const r of distilled) expect(r.teacher_topk.k).toBe(32);
    // the oracle gives the one-answer arithmetic rows no smoothing at all
    expect(results.epsilon.filter((r) => r.entropy === 'low').every((r) => r.oracle_epsilon === 0)).toBe(true);
  });

  itWith(NEEDS_CHROMIUM, 'report.html renders in Chromium with results.json\'s numbers', async () => {
    const shot = process.env.UAL_DEMO_SCREENSHOT ?? path.join(tmp, 'demo-report.png');
    const seen = await inspectReport(path.join(out, 'report.html'), shot);
    expectReportShows(seen, results);
  });

  it('finishes within the quick budget (2 minutes)', () => {
    expect(results.config.elapsed_s).toBeLessThan(120);
  });

  it('runs two fine-tunes at a time in child processes on 2+ cores, with the results of one at a time', () => {
    const at = results.config.finetune.runs_at_once as number;
    expect(at).toBe(Math.min(2, os.availableParallelism()));
    if (at > 1) expect(ran.stderr).toMatch(/\[(fine-tune|evaluate) [^\]|]+ \| (fine-tune|evaluate) [^\]]+\]/);
  });
});

describe('ual demo: a run in a child process', () => {
  it('brings a UalError back from the child with its code, message and hint, and writes nothing', async () => {
    const run = await import(path.join(path.dirname(bin), '..', 'dist', 'pipeline', 'demo', 'pool.js')) as typeof import('../../src/pipeline/demo/pool.js');
    const errors = await import(path.join(path.dirname(bin), '..', 'dist', 'errors.js')) as typeof import('../../src/errors.js');
    expect(run.canRunInChildren()).toBe(true);
    const missing = path.join(tmp, 'no-such-model');
    const { resolveTrainConfig } = await import(path.join(path.dirname(bin), '..', 'dist', 'train', 'config.js')) as typeof import('../../src/train/config.js');
    const data = path.join(tmp, 'one-row.jsonl');
    fs.writeFileSync(data, JSON.stringify({ instruction: 'Name a fruit.', input: '', output: 'apple.' }) + '\n');
    const job = {
      method: 'sft', seed: 1, test: { arithmetic: [], open: [] }, eval: { samples: 1, topP: 0.9, clusterTokens: 2, perToken: 2, panelPoints: 2 },
      cfg: resolveTrainConfig({}, { model: missing, data, out: path.join(tmp, 'child-out'), steps: 1 }),
    };
    const err = await run.runInChild(job, {}).then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(errors.UalError);
    expect((err as InstanceType<typeof errors.UalError>).code).toBe('UAL_CHECKPOINT');
    expect((err as Error).message).toContain(missing);
    expect(fs.existsSync(path.join(tmp, 'child-out'))).toBe(false);
  });
});

describe('ual demo: bad flags and directories', () => {
  it('refuses a non-empty directory that is not a previous demo, and leaves it alone', async () => {
    const dir = path.join(tmp, 'mine');
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, 'notes.txt'), 'keep me');
    const r = await runCli(bin, ['demo', '--quick', '--out', dir]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/not empty and not a previous demo's directory/);
    expect(fs.readdirSync(dir)).toEqual(['notes.txt']);
  });

  it('needs --base-url and --model together, and a positive --seeds', async () => {
    const a = await runCli(bin, ['demo', '--quick', '--out', path.join(tmp, 'x'), '--base-url', 'http://127.0.0.1:9']);
    expect(a.code).toBe(2);
    expect(a.stderr).toMatch(/--base-url and --model go together/);
    const b = await runCli(bin, ['demo', '--quick', '--out', path.join(tmp, 'y'), '--seeds', '0']);
    expect(b.code).toBe(2);
    expect(fs.existsSync(path.join(tmp, 'x'))).toBe(false);
    expect(fs.existsSync(path.join(tmp, 'y'))).toBe(false);
  });
});

describe('npm run demo -- --out DIR', () => {
  it('takes DIR from the directory npm was run in, not the package root it runs the script in', () => {
    // the compiled CLI as a package with this project's own "demo" script, run by npm as a user runs ours
    const pkgRoot = path.resolve(path.dirname(bin), '..');
    const ours = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string; scripts: { demo: string } };
    fs.writeFileSync(path.join(pkgRoot, 'package.json'), JSON.stringify({ name: 'ual', version: ours.version, type: 'module', scripts: { demo: ours.scripts.demo } }));
    const caller = fs.mkdtempSync(path.join(tmp, 'caller-'));
    fs.mkdirSync(path.join(caller, 'mine'));
    fs.writeFileSync(path.join(caller, 'mine', 'notes.txt'), 'keep me');
    // a directory that is not a demo's is refused before anything runs: the message shows which one was meant
    const r = spawnSync('npm', ['--prefix', pkgRoot, 'run', 'demo', '--', '--quick', '--out', 'mine'], { cwd: caller, encoding: 'utf8' });
    expect(r.status, r.stderr).not.toBe(0);
    expect(r.stderr).toContain(`ual demo: error [UAL_USAGE] --out ${path.join(caller, 'mine')} is not empty and not a previous demo's directory`);
    expect(fs.existsSync(path.join(pkgRoot, 'mine'))).toBe(false);
    expect(fs.readdirSync(path.join(caller, 'mine'))).toEqual(['notes.txt']);
  });
});

describe('ual demo --base-url: a real judge server', () => {
  let judge: Judge;
  const KEY = 'sk-demo-secret-4242';
  beforeAll(async () => {
    // open-endedness by keyword, as a judge might: arithmetic low, open requests high
    judge = await startJudge((s) => {
      const text = s.body.messages.map((m) => m.content).join('\n');
      return { json: completion(`{"score": ${/How many/.test(text) ? 3 : 80}}`) };
    });
  });
  afterAll(() => judge.close());

  it('elicits every training row from the judge, with the key from the environment and nowhere on disk', async () => {
    const out = path.join(tmp, 'judged');
    const r = await runCli(bin, ['demo', '--quick', '--seeds', '1', '--out', out, '--base-url', judge.url, '--model', 'judge-1',
      '--api-key-env', 'DEMO_JUDGE_KEY', '--json'], { DEMO_JUDGE_KEY: KEY });
    expect(r.code, r.stderr).toBe(0);
    // identical rows (the same request drawn with the same answer) are asked once: the cache keys on the sample
    const rows = new Set(fs.readFileSync(path.join(out, 'data', 'train-s1.jsonl'), 'utf8').trim().split('\n')
      .map((l) => { const r = JSON.parse(l); return `${r.instruction}\u0000${r.output}`; }));
    expect(judge.log.length).toBe(rows.size);
    for (const s of judge.log) {
      expect(s.auth).toBe(`Bearer ${KEY}`);
      expect(s.body.model).toBe('judge-1');
    }
    const results = DemoResults.parse(JSON.parse(fs.readFileSync(path.join(out, 'results.json'), 'utf8')));
    expect(results.config.elicitation.method).toBe('verbalized');
    expect(results.config.elicitation.model).toBe('judge-1');
    // the judge separated the task types perfectly, so its scores rank like the oracle's entropy
    expect((results.config.elicitation.spearman_with_oracle as number[])[0]).toBeGreaterThan(0.8);
    const walk = (d: string): string[] => fs.readdirSync(d, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(path.join(d, e.name)) : [path.join(d, e.name)]));
    for (const f of walk(out)) expect(fs.readFileSync(f).includes(KEY), f).toBe(false);
    expect(r.stdout + r.stderr).not.toContain(KEY);
  }, 300_000);
});
