// `ual demo` as a library function: generate the benchmark, pre-train a base model, train a stronger teacher,
// elicit uncertainty from it (or from a real judge), smooth, fine-tune SFT / LS / UAL (and the oracle UAL) from the
// same base with equal budgets over several seeds, score every model against ground truth, write results.json.
// Every stage goes through the same files and library calls as the `ual` commands.
import { fork, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { isUalCode, UalError, UsageError } from '../../errors.js';
import { writeFileAtomic } from '../../util/atomic.js';
import { loadTokenizer, type Tokenizer } from '../../data/tokenizer.js';
import { initConfigJson, initModel } from '../../models/index.js';
import { backendName } from '../../engine/index.js';
import { nativeInfo } from '../../engine/backends/native.js';
import { resolveTrainConfig, type TrainConfig } from '../../train/config.js';
import { train, type StepMetrics } from '../../train/trainer.js';
import { elicit, type ElicitSummary } from '../../uncertainty/elicit.js';
import { mean, round, spearman } from '../../util/stats.js';
import { smooth } from '../smooth.js';
import { selfElicitor } from '../self-elicitor.js';
import { benchmarkWords, pretrainText, taskType, testSplit, trainSplit, TASK_TYPES, type Sample } from './benchmark.js';
import { writeWordTokenizer } from './vocab.js';
import { finetuneAndScore, type FinetuneHooks, type FinetuneJob, type FinetuneResult } from './finetune.js';
import type { JobMessage } from './job.js';
import { aggregate, tvFloor } from './metrics.js';
import { PROFILES, type DemoProfile } from './profile.js';
import { DemoResults, RESULTS_FILE, RESULTS_FORMAT, type ClusterPanel, type EpsilonRow, type MethodInfo, type MetricInfo, type RunResult } from './results.js';

export interface JudgeSettings {
  baseURL: string;
  model: string;
  apiKey: string;
}

export interface DemoOptions {
  out: string;
  seeds: number;
  quick: boolean;
  /** elicit from this OpenAI-compatible server (verbalized method) instead of the demo's own teacher */
  judge?: JudgeSettings;
  /** progress: the stage, how far the whole demo is (0-1), seconds elapsed and estimated remaining */
  onProgress?: (p: DemoProgress) => void;
  /** one line per finished stage, for the log */
  onLog?: (line: string) => void;
  /** fine-tune/evaluate runs at a time, each in a child process with one BLAS thread (default 1: in this process) */
  jobs?: number;
}

export interface DemoProgress { stage: string; fraction: number; elapsedS: number; etaS: number }

export const METHODS: readonly MethodInfo[] = [
  { id: 'sft', label: 'SFT', description: 'plain cross-entropy (epsilon 0)', oracle: false },
  { id: 'ls', label: 'LS', description: 'label smoothing with one constant epsilon for every row (the mean UAL epsilon)', oracle: false },
  { id: 'ual', label: 'UAL', description: 'per-row epsilon from the elicited uncertainty (paper mapping, same mean)', oracle: false },
  { id: 'ual-oracle', label: 'UAL (oracle)', description: 'per-row epsilon from the true answer entropy: perfect uncertainty estimates, which a real user does not have (the best elicitation can do)', oracle: true },
];

export const METRICS: readonly MetricInfo[] = [
  { id: 'accuracy', label: 'accuracy', description: 'exact match of the "#### N" answer, greedy decoding, arithmetic test problems', tasks: 'low', higher_is_better: true },
  { id: 'ece', label: 'ECE', description: 'expected calibration error (15 bins) of next-token confidence on the arithmetic reference answers', tasks: 'low', higher_is_better: false },
  { id: 'validity', label: 'validity', description: 'share of sampled answers (temperature 1, no truncation) that are valid answers to the open request', tasks: 'high', higher_is_better: true },
  { id: 'coverage', label: 'coverage', description: 'share of the valid answers produced at least once (temperature 1)', tasks: 'high', higher_is_better: true },
  { id: 'tv', label: 'TV distance', description: 'total variation between the answers sampled at temperature 1 and the true answer distribution', tasks: 'high', higher_is_better: false },
  { id: 'validity_p', label: 'validity (top-p)', description: 'validity with nucleus sampling (top-p 0.9), as deployed models decode', tasks: 'high', higher_is_better: true },
  { id: 'coverage_p', label: 'coverage (top-p)', description: 'coverage with nucleus sampling (top-p 0.9)', tasks: 'high', higher_is_better: true },
  { id: 'tv_p', label: 'TV (top-p)', description: 'total variation with nucleus sampling (top-p 0.9)', tasks: 'high', higher_is_better: false },
  { id: 'silhouette', label: 'silhouette', description: 'mean silhouette of final hidden states grouped by next token (pairs of frequent tokens, 2-D PCA)', tasks: 'all', higher_is_better: true },
];

const PAIRS: [string, string][] = [['ual', 'sft'], ['ual', 'ls'], ['ual-oracle', 'ual']];

function writeJsonl(file: string, rows: readonly object[]): void {
  writeFileAtomic(file, rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
}

function readJsonl<T>(file: string): T[] {
  return fs.readFileSync(file, 'utf8').split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l) as T);
}

/** The out directory must be empty, absent, or a previous demo's (its demo.json marker): never someone's files. */
function prepareOut(out: string): void {
  if (fs.existsSync(out)) {
    if (!fs.statSync(out).isDirectory()) throw new UsageError(`ual demo: --out ${out} is a file`, 'give a directory');
    const entries = fs.readdirSync(out);
    if (entries.length > 0 && !entries.includes('demo.json')) {
      throw new UsageError(`ual demo: --out ${out} is not empty and not a previous demo's directory`, 'give a new or empty directory');
    }
    for (const e of ['data', 'base', 'teacher', 'runs']) fs.rmSync(path.join(out, e), { recursive: true, force: true });
  }
  fs.mkdirSync(out, { recursive: true });
  writeFileAtomic(path.join(out, 'demo.json'), JSON.stringify({ started: new Date().toISOString() }) + '\n');
}

/** Work units for the ETA: optimizer steps, plus model evaluations and elicitation weighted in steps. */
class Clock {
  private readonly t0 = Date.now();
  private done = 0;
  private stage = '';
  constructor(private readonly total: number, private readonly onProgress?: (p: DemoProgress) => void) {}

  begin(stage: string): void { this.stage = stage; this.emit(); }
  advance(units: number): void { this.done += units; this.emit(); }
  elapsed(): number { return (Date.now() - this.t0) / 1000; }

  private emit(): void {
    const fraction = Math.min(1, this.done / this.total);
    const elapsedS = this.elapsed();
    const etaS = fraction > 0.02 ? (elapsedS * (1 - fraction)) / fraction : NaN;
    this.onProgress?.({ stage: this.stage, fraction, elapsedS, etaS });
  }
}

function trainConfig(p: Partial<TrainConfig>): TrainConfig {
  return resolveTrainConfig({}, { format: 'auto', template: 'paper', shuffle: true, saveEvery: 0, ...p });
}

/** Train the base or the teacher in this process; returns the last step's loss. */
async function runTraining(cfg: TrainConfig, clock: Clock): Promise<number> {
  let last = NaN;
  await train(cfg, { onStep: (m: StepMetrics) => { last = m.loss; clock.advance(1); } });
  return last;
}

const alpaca = (s: Sample) => ({ instruction: s.instruction, input: s.input, output: s.output, type: s.type, ...(s.gold ? { gold: s.gold } : {}) });

/** This package's version: the nearest package.json named "ual" above this file (src/, dist/ or a test build). */
function ualVersion(): string {
  for (let dir = path.dirname(new URL(import.meta.url).pathname); ; dir = path.dirname(dir)) {
    const f = path.join(dir, 'package.json');
    if (fs.existsSync(f)) {
      const pkg = JSON.parse(fs.readFileSync(f, 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'ual') return pkg.version ?? 'unknown';
    }
    if (path.dirname(dir) === dir) return 'unknown';
  }
}

function versions(): Record<string, string> {
  const info = nativeInfo();
  return {
    ual: ualVersion(),
    node: process.version,
    backend: backendName(),
    blas: info ? JSON.stringify(info) : 'none (js backend)',
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    cpus: `${os.cpus().length} x ${os.cpus()[0]?.model ?? '?'}`,
  };
}

/** Run every job, at most `width` at once; results in job order whatever order they finish in. */
async function runPool<J, R>(jobs: readonly J[], width: number, run: (job: J) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(jobs.length);
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < jobs.length) {
      const i = next++;
      results[i] = await run(jobs[i]);
    }
  };
  try {
    await Promise.all(Array.from({ length: width }, lane));
  } catch (e) {
    next = jobs.length; // start nothing more
    throw e;
  }
  return results;
}

/** The compiled child entry; absent when running from TypeScript sources (then runs stay in this process). */
const JOB_ENTRY = fileURLToPath(new URL('./job.js', import.meta.url));

/** Runs still going, so that one failing stops the others instead of leaving them to finish for nothing. */
const liveChildren = new Set<ChildProcess>();

export function canRunInChildren(): boolean {
  return fs.existsSync(JOB_ENTRY);
}

/**
 * One run in a child process with one OpenBLAS thread: on the demo's small matrices a second BLAS thread buys no
 * wall time (measured: 13.4 s vs 13.7 s for the same steps), so two runs side by side use the two cores instead.
 */
export function runInChild(job: FinetuneJob, hooks: FinetuneHooks): Promise<FinetuneResult> {
  return new Promise((resolve, reject) => {
    const child = fork(JOB_ENTRY, [], { env: { ...process.env, UAL_THREADS: '1' }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    liveChildren.add(child);
    let settled = false;
    const settle = (f: () => void) => { if (!settled) { settled = true; f(); } };
    child.on('message', (m: JobMessage) => {
      if (m.type === 'step') hooks.onStep?.(m.step, m.loss);
      else if (m.type === 'evaluate') hooks.onEvaluate?.();
      else if (m.type === 'done') settle(() => resolve(m.result));
      else settle(() => reject(isUalCode(m.code) ? new UalError(m.code, m.message, m.hint) : new Error(m.message)));
    });
    child.on('error', (e) => settle(() => reject(e)));
    child.on('exit', (code, signal) => { liveChildren.delete(child); settle(() => reject(new Error(`the demo's run ${job.method} seed ${job.seed} stopped (exit ${code ?? signal}) before it reported`))); });
    child.send(job);
  });
}

export async function runDemo(o: DemoOptions): Promise<DemoResults> {
  if (!Number.isInteger(o.seeds) || o.seeds < 1) throw new UsageError(`ual demo: --seeds must be a positive integer, got ${o.seeds}`);
  const P: DemoProfile = PROFILES[o.quick ? 'quick' : 'full'];
  const out = path.resolve(o.out);
  const seeds = Array.from({ length: o.seeds }, (_, i) => i + 1);
  const log = o.onLog ?? (() => {});
  prepareOut(out);
  const dataDir = path.join(out, 'data');
  fs.mkdirSync(dataDir, { recursive: true });

  // ---- the benchmark and its vocabulary ----
  const test = testSplit(0, P.testPerSteps);
  const exclude = new Set(test.arithmetic.map((s) => s.instruction));
  const trainRows = new Map(seeds.map((s) => [s, trainSplit(s, P.train, exclude)]));
  const teacherRows = trainSplit(1000, { arithmetic: P.teacher.arithmetic, open: P.teacher.open }, exclude);
  writeJsonl(path.join(dataDir, 'test-arithmetic.jsonl'), test.arithmetic.map(alpaca));
  writeJsonl(path.join(dataDir, 'test-open.jsonl'), test.open);
  for (const [s, rows] of trainRows) writeJsonl(path.join(dataDir, `train-s${s}.jsonl`), rows.map(alpaca));
  writeJsonl(path.join(dataDir, 'teacher.jsonl'), teacherRows.map(alpaca));

  const initDir = path.join(out, 'base-init');
  fs.rmSync(initDir, { recursive: true, force: true });
  fs.mkdirSync(initDir, { recursive: true });
  const V = writeWordTokenizer(initDir, benchmarkWords());
  const tk: Tokenizer = loadTokenizer(initDir);
  const docs = pretrainText(0, P.pretrain.docs);
  writeJsonl(path.join(dataDir, 'pretrain.jsonl'), docs.map((t) => ({ input_ids: [...tk.encode(t, { addSpecialTokens: false }), tk.eosId!] })));

  const stepsOf = (rows: number, epochs: number, B: number) => Math.max(1, Math.ceil((rows * epochs) / B));
  const ftSteps = stepsOf(trainRows.get(1)!.length, P.finetune.epochs, P.finetune.batchSize);
  const teacherSteps = stepsOf(teacherRows.length, P.teacher.epochs, P.finetune.batchSize);
  const evalUnits = Math.max(5, Math.round(ftSteps * 0.5)); // an evaluation costs about half a fine-tune
  const elicitUnits = Math.max(2, Math.round(ftSteps * 0.1));
  const runs = METHODS.length * seeds.length;
  const clock = new Clock(P.pretrain.steps + teacherSteps + seeds.length * elicitUnits + runs * (ftSteps + evalUnits), o.onProgress);

  // ---- the base model, pre-trained on the domain's plain text ----
  clock.begin('pre-train base model');
  const modelCfg = initConfigJson({ arch: 'llama', layers: P.base.layers, d: P.base.d, heads: P.base.heads, vocab: V, ctx: P.base.ctx });
  initModel(modelCfg, 0).save(initDir);
  const baseDir = path.join(out, 'base');
  const baseLoss = await runTraining(trainConfig({
    model: initDir, data: path.join(dataDir, 'pretrain.jsonl'), out: baseDir, loss: 'sft', steps: P.pretrain.steps,
    batchSize: P.pretrain.batchSize, lr: P.pretrain.lr, lrSchedule: 'cosine', warmupRatio: 0.05, weightDecay: 0.01,
    pack: true, maxLength: P.pretrain.blockLength, seed: 0,
  }), clock);
  fs.rmSync(initDir, { recursive: true, force: true });
  log(`base model: ${P.base.layers} layers, d ${P.base.d}, vocab ${V}; pre-trained ${P.pretrain.steps} steps, final loss ${baseLoss.toFixed(3)}`);

  // ---- the teacher: the base fine-tuned on more rows for longer, the "stronger model" uncertainty comes from ----
  clock.begin('train teacher model');
  const teacherDir = path.join(out, 'teacher');
  const teacherLoss = await runTraining(trainConfig({
    model: baseDir, data: path.join(dataDir, 'teacher.jsonl'), out: teacherDir, loss: 'sft', steps: teacherSteps,
    batchSize: P.finetune.batchSize, lr: P.finetune.lr, warmupRatio: P.finetune.warmupRatio, seed: 1000,
  }), clock);
  log(`teacher: ${teacherRows.length} rows, ${teacherSteps} steps, final loss ${teacherLoss.toFixed(3)}`);

  // ---- uncertainty: elicited (teacher or judge) and the oracle; both mapped to epsilon with the same mean ----
  const elicitation: Record<string, unknown> = o.judge
    ? { method: 'verbalized', model: o.judge.model, base_url: o.judge.baseURL }
    : { method: 'self', model: 'teacher (this demo)', note: 'mean next-token entropy of the teacher over the response tokens / ln V, on 0-99' };
  const selfE = o.judge ? null : selfElicitor(teacherDir, 'paper');
  const epsilonRows: EpsilonRow[] = [];
  const agreement: number[] = [];
  const elicitSummaries: ElicitSummary[] = [];
  const maxEntropy = Math.log(V);
  for (const seed of seeds) {
    clock.begin(`elicit uncertainty, seed ${seed}`);
    const base = path.join(dataDir, `train-s${seed}`);
    const common = { input: `${base}.jsonl`, out: `${base}.scored.jsonl`, cache: path.join(out, 'elicit-cache.sqlite') };
    elicitSummaries.push(await elicit(o.judge
      ? {
        ...common, method: 'verbalized', model: o.judge.model, baseURL: o.judge.baseURL, apiKey: o.judge.apiKey,
        concurrency: 8, timeoutMs: 60_000, maxRetries: 6, backoff: { baseMs: 1000, maxMs: 60_000 }, samples: 5,
        topLogprobs: 5, answerTokens: 5, parseRetries: 3,
      }
      : {
        ...common, method: 'self', model: selfE!.modelId, elicitor: selfE!.elicitor, baseURL: '', apiKey: '',
        concurrency: 1, timeoutMs: 60_000, maxRetries: 0, backoff: { baseMs: 0, maxMs: 0 }, samples: 2, topLogprobs: 5,
        answerTokens: 5, parseRetries: 0,
      }));
    await smooth({ data: `${base}.scored.jsonl`, out: `${base}.ual.jsonl`, mapping: 'paper', targetMean: P.targetMeanEpsilon });
    const scored = readJsonl<{ type: string; uncertainty: number }>(`${base}.scored.jsonl`);
    writeJsonl(`${base}.oracle-scored.jsonl`, scored.map((r) => ({ ...r, uncertainty: Math.min(99, (99 * taskType(r.type).oracleEntropy) / maxEntropy) })));
    await smooth({ data: `${base}.oracle-scored.jsonl`, out: `${base}.ual-oracle.jsonl`, mapping: 'paper', targetMean: P.targetMeanEpsilon });
    const ual = readJsonl<{ epsilon: number }>(`${base}.ual.jsonl`);
    const oracle = readJsonl<{ epsilon: number }>(`${base}.ual-oracle.jsonl`);
    agreement.push(spearman(scored.map((r) => r.uncertainty), scored.map((r) => taskType(r.type).oracleEntropy)));
    if (seed === seeds[0]) {
      scored.forEach((r, i) => epsilonRows.push({
        type: r.type, entropy: taskType(r.type).entropy, oracle_entropy: round(taskType(r.type).oracleEntropy, 4),
        score: r.uncertainty, epsilon: round(ual[i].epsilon, 5), oracle_epsilon: round(oracle[i].epsilon, 5),
      }));
    }
    clock.advance(elicitUnits);
  }
  const meanScore = (entropy: 'low' | 'high') => {
    const xs = epsilonRows.filter((r) => r.entropy === entropy);
    return round(mean(xs.map((r) => r.score)), 2);
  };
  Object.assign(elicitation, {
    spearman_with_oracle: agreement.map((x) => round(x, 4)),
    mean_score_low_entropy_rows: meanScore('low'),
    mean_score_high_entropy_rows: meanScore('high'),
    rows_scored: elicitSummaries.reduce((s, x) => s + x.scored, 0),
    rows_from_cache: elicitSummaries.reduce((s, x) => s + x.cached, 0),
  });
  log(`elicitation: Spearman with the oracle entropy ${agreement.map((x) => x.toFixed(3)).join(', ')}; mean score low ${meanScore('low')}, high ${meanScore('high')}`);

  // ---- fine-tune every method from the same base, equal budgets, then score it; `jobs` runs at a time ----
  const jobs: FinetuneJob[] = seeds.flatMap((seed) => METHODS.map((m) => ({
    method: m.id, seed, test, eval: P.eval,
    cfg: trainConfig({
      model: baseDir, out: path.join(out, 'runs', `${m.id}-s${seed}`),
      data: path.join(dataDir, m.id === 'ual' || m.id === 'ual-oracle' ? `train-s${seed}.${m.id}.jsonl` : `train-s${seed}.jsonl`),
      loss: m.id === 'sft' ? 'sft' : m.id === 'ls' ? 'ls' : 'ual', epsilon: P.targetMeanEpsilon,
      steps: ftSteps, batchSize: P.finetune.batchSize, lr: P.finetune.lr, warmupRatio: P.finetune.warmupRatio, seed,
    }),
  })));
  const width = canRunInChildren() ? Math.max(1, Math.min(o.jobs ?? 1, jobs.length)) : 1;
  const active = new Map<FinetuneJob, string>();
  const label = (j: FinetuneJob) => `${j.method}, seed ${j.seed}`;
  const show = () => clock.begin([...active.values()].join(' | '));
  const done = await runPool(jobs, width, (job) => {
    active.set(job, `fine-tune ${label(job)}`);
    show();
    const hooks = {
      onStep: () => clock.advance(1),
      onEvaluate: () => { active.set(job, `evaluate ${label(job)}`); show(); },
    };
    return (width > 1 ? runInChild(job, hooks) : finetuneAndScore(job, hooks)).then((r) => {
      active.delete(job);
      clock.advance(evalUnits);
      log(`${job.method} seed ${job.seed}: ${Object.entries(r.ev.metrics).map(([k, v]) => `${k} ${v.toFixed(3)}`).join(', ')}`);
      return r;
    });
  }).catch((e: unknown) => {
    for (const c of liveChildren) c.kill(); // one run failed: the others would finish for nothing
    throw e;
  });
  const results: RunResult[] = jobs.map((j, i) => ({
    method: j.method, seed: j.seed, dir: path.relative(out, j.cfg.out), metrics: done[i].ev.metrics, per_type: done[i].ev.per_type, samples: done[i].ev.samples,
    loss_curve: done[i].curve, train_seconds: done[i].trainSeconds,
  }));
  const panels: ClusterPanel[] = jobs.flatMap((j, i) => (j.seed === seeds[0] ? [{ method: j.method, seed: j.seed, ...done[i].ev.panel }] : []));

  // ---- aggregate and write ----
  const types = TASK_TYPES.map((t) => ({ id: t.id, metrics: t.entropy === 'low' ? ['accuracy'] : ['validity', 'coverage', 'tv', 'validity_p', 'coverage_p', 'tv_p'] }));
  const agg = aggregate(results, METHODS.map((m) => m.id), METRICS.map((m) => m.id), seeds, PAIRS, types);
  const samplesPerType = (type: string) => test.open.filter((p) => p.type === type).length * P.eval.samples;
  const results_: DemoResults = {
    format: RESULTS_FORMAT,
    created: new Date().toISOString(),
    config: {
      quick: o.quick,
      seeds,
      benchmark: {
        generator: 'src/pipeline/demo/benchmark.ts', test_seed: 0, train_rows_per_seed: trainRows.get(1)!.length,
        train: P.train, test_arithmetic: test.arithmetic.length, test_open_prompts: test.open.length,
        held_out_open_prompts: test.open.filter((p) => p.heldOut).length, vocab: V,
      },
      base: { arch: 'llama', ...P.base, vocab: V, pretrain_docs: P.pretrain.docs, pretrain_steps: P.pretrain.steps, batch: P.pretrain.batchSize, block: P.pretrain.blockLength, lr: P.pretrain.lr, final_loss: round(baseLoss, 4) },
      teacher: { from: 'base', rows: teacherRows.length, steps: teacherSteps, final_loss: round(teacherLoss, 4) },
      finetune: { ...P.finetune, runs_at_once: width, blas_threads_per_run: width > 1 ? 1 : 'default', steps: ftSteps, rows: trainRows.get(1)!.length, target_mean_epsilon: P.targetMeanEpsilon, eps_style: 'paper', full_parameter: true, template: 'paper' },
      elicitation,
      evaluation: {
        ...P.eval,
        tv_floor: Object.fromEntries(TASK_TYPES.filter((t) => t.entropy === 'high').map((t) => [t.id, round(tvFloor(t.answers, samplesPerType(t.id)), 4)])),
      },
      versions: versions(),
      elapsed_s: round(clock.elapsed(), 1),
    },
    methods: [...METHODS],
    metrics: [...METRICS],
    task_types: TASK_TYPES.map((t) => ({ id: t.id, label: t.label, entropy: t.entropy, oracle_entropy: round(t.oracleEntropy, 4) })),
    runs: results,
    ...agg,
    epsilon: epsilonRows,
    clusters: panels,
  };
  const checked = DemoResults.parse(results_);
  writeFileAtomic(path.join(out, RESULTS_FILE), JSON.stringify(checked, null, 2) + '\n');
  return checked;
}
