// `ual demo` as a library function: generate the benchmark, pre-train a base model, train a stronger teacher,
// elicit uncertainty from it (or from a real judge), smooth, fine-tune SFT / LS / UAL (and the oracle UAL) from the
// same base with equal budgets over several seeds, score every model against ground truth, write results.json.
// Every stage goes through the same files and library calls as the `ual` commands.
import fs from 'node:fs';
import path from 'node:path';
import { UsageError } from '../../errors.js';
import { writeRows } from '../../data/jsonl.js';
import { loadTokenizer, type Tokenizer } from '../../data/tokenizer.js';
import { resolveTrainConfig, type TrainConfig } from '../../train/config.js';
import { train, type StepMetrics } from '../../train/trainer.js';
import type { ElicitSummary } from '../../uncertainty/elicit.js';
import { ELICIT_CACHE_FILE } from '../../uncertainty/cache.js';
import { CLIENT_FLAGS, clientSettings } from '../../uncertainty/client.js';
import { mean, round, spearman } from '../../util/stats.js';
import { flags, pickFlags, resolveFlags, type Values } from '../../util/options.js';
import { writeFileAtomic } from '../../util/atomic.js';
import { ELICIT_FLAGS, elicitScores } from '../elicit.js';
import { INIT_FLAGS, initCheckpoint } from '../init.js';
import { smooth } from '../smooth.js';
import { DISTILL_FLAGS, distill } from '../distill.js';
import { benchmarkWords, pretrainText, taskType, testSplit, trainSplit, TASK_TYPES, type Sample, type TestSplit } from './benchmark.js';
import { writeWordTokenizer } from './vocab.js';
import { finetuneAndScore, type FinetuneJob, type FinetuneResult } from './finetune.js';
import { Clock, type DemoProgress } from './clock.js';
import { canRunInChildren, runInChild, runPool, stopChildren } from './pool.js';
import { versions } from './versions.js';
import { aggregate, tvFloor } from './metrics.js';
import { PROFILES, type DemoProfile } from './profile.js';
import { DEMO_TOP_K, METHODS, METRICS, PAIRS, methodTraining } from './methods.js';
import { DemoResults, RESULTS_FILE, RESULTS_FORMAT, type ClusterPanel, type EpsilonRow, type RunResult } from './results.js';

export const DEMO_FLAGS = flags({
  out: { flag: 'out', kind: 'string', arg: 'DIR', default: 'ual-demo', help: 'where everything goes; must be new, empty or a previous demo\'s' },
  seeds: { flag: 'seeds', kind: 'int', min: 1, max: 30, default: 3, help: 'fine-tuning seeds; 95% intervals over seeds: logit-t for values in [0, 1], Student-t for silhouette and differences' },
  quick: { flag: 'quick', kind: 'bool', help: 'a small, fast run of the same pipeline (under a minute; numbers are rough)' },
  jobs: {
    flag: 'jobs', kind: 'int', min: 1, max: 64,
    help: 'fine-tune/evaluate runs at a time, each in its own process with one BLAS thread\n(default: 2 with 2+ cores; 1 runs them one by one in this process)',
  },
  model: { flag: 'model', kind: 'string', arg: 'NAME', group: 'judge server', help: 'the judge model at --base-url' },
  ...CLIENT_FLAGS,
  baseUrl: { ...CLIENT_FLAGS.baseUrl, help: 'elicit from this OpenAI-compatible server (verbalized) instead of the demo\'s teacher' },
});

export interface DemoOptions extends Values<typeof DEMO_FLAGS> {
  /** progress: the stage, how far the whole demo is (0-1), seconds elapsed and estimated remaining */
  onProgress?: (p: DemoProgress) => void;
  /** one line per finished stage, for the log */
  onLog?: (line: string) => void;
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

/** Train the base or the teacher in this process; returns the last step's loss. */
async function runTraining(cfg: Partial<TrainConfig>, clock: Clock, log: (line: string) => void): Promise<number> {
  let last = NaN;
  await train(resolveTrainConfig({}, cfg), { onStep: (m: StepMetrics) => { last = m.loss; clock.advance(1); }, onWarning: log });
  return last;
}

const alpaca = (s: Sample) => ({ instruction: s.instruction, input: s.input, output: s.output, type: s.type, ...(s.gold ? { gold: s.gold } : {}) });

/** What every fine-tune of the demo (or of a sweep) starts from: the data, the base, the teacher, the scored rows. */
export interface DemoWorld {
  P: DemoProfile;
  out: string;
  seeds: number[];
  dataDir: string;
  baseDir: string;
  test: TestSplit;
  trainRows: Map<number, Sample[]>;
  V: number;
  baseLoss: number;
  teacherRows: number;
  teacherSteps: number;
  teacherLoss: number;
  elicitation: Record<string, unknown>;
  epsilonRows: EpsilonRow[];
  ftSteps: number;
  evalUnits: number;
  clock: Clock;
  log: (line: string) => void;
}

/**
 * Everything before the fine-tunes: the benchmark, the base model, the teacher, per seed the elicited scores, the UAL
 * and oracle epsilons at the profile's target mean and the teacher's top-k targets (data/train-sN.{scored,ual,
 * ual-oracle,teacher}.jsonl). `runs` fine-tunes will follow (the ETA counts them).
 */
export async function prepareDemo(o: DemoOptions, runs: number): Promise<DemoWorld> {
  resolveFlags('demo', DEMO_FLAGS, o); // a caller other than the CLI gets the CLI's checks (--seeds 1..30, ...)
  const judged = o.baseUrl !== undefined;
  if (judged !== (o.model !== undefined)) throw new UsageError('--base-url and --model go together: the judge server and its model');
  // the judge's key is looked up now, not after minutes of training
  const judge = judged ? clientSettings(o, 'elicit', true) : null;
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
  await writeRows(path.join(dataDir, 'test-arithmetic.jsonl'), test.arithmetic.map(alpaca));
  await writeRows(path.join(dataDir, 'test-open.jsonl'), test.open);
  for (const [s, rows] of trainRows) await writeRows(path.join(dataDir, `train-s${s}.jsonl`), rows.map(alpaca));
  await writeRows(path.join(dataDir, 'teacher.jsonl'), teacherRows.map(alpaca));

  const vocabDir = path.join(out, 'vocab');
  fs.rmSync(vocabDir, { recursive: true, force: true });
  fs.mkdirSync(vocabDir, { recursive: true });
  const V = writeWordTokenizer(vocabDir, benchmarkWords());
  const tk: Tokenizer = loadTokenizer(vocabDir);
  const docs = pretrainText(0, P.pretrain.docs);
  await writeRows(path.join(dataDir, 'pretrain.jsonl'), docs.map((t) => ({ input_ids: [...tk.encode(t, { addSpecialTokens: false }), tk.eosId!] })));

  const stepsOf = (rows: number, epochs: number, B: number) => Math.max(1, Math.ceil((rows * epochs) / B));
  const ftSteps = stepsOf(trainRows.get(1)!.length, P.finetune.epochs, P.finetune.batchSize);
  const teacherSteps = stepsOf(teacherRows.length, P.teacher.epochs, P.finetune.batchSize);
  const evalUnits = Math.max(5, Math.round(ftSteps * 0.5)); // an evaluation costs about half a fine-tune
  const elicitUnits = Math.max(2, Math.round(ftSteps * 0.1));
  const distillUnits = Math.max(2, Math.round(ftSteps * 0.1)); // one teacher forward over the rows
  const clock = new Clock(P.pretrain.steps + teacherSteps + seeds.length * (elicitUnits + distillUnits) + runs * (ftSteps + evalUnits), o.onProgress);

  // ---- the base model, pre-trained on the domain's plain text ----
  clock.begin('pre-train base model');
  const initDir = path.join(out, 'base-init');
  initCheckpoint(resolveFlags('init', INIT_FLAGS, {
    arch: 'llama', layers: P.base.layers, d: P.base.d, heads: P.base.heads, ctx: P.base.ctx, tokenizer: vocabDir, out: initDir, force: true,
  }));
  const baseDir = path.join(out, 'base');
  const baseLoss = await runTraining({
    model: initDir, data: path.join(dataDir, 'pretrain.jsonl'), out: baseDir, loss: 'sft', steps: P.pretrain.steps,
    batchSize: P.pretrain.batchSize, lr: P.pretrain.lr, lrSchedule: 'cosine', warmupRatio: 0.05, weightDecay: 0.01,
    pack: true, maxLength: P.pretrain.blockLength, seed: 0,
  }, clock, log);
  for (const d of [initDir, vocabDir]) fs.rmSync(d, { recursive: true, force: true });
  log(`base model: ${P.base.layers} layers, d ${P.base.d}, vocab ${V}; pre-trained ${P.pretrain.steps} steps, final loss ${baseLoss.toFixed(3)}`);

  // ---- the teacher: the base fine-tuned on more rows for longer, the "stronger model" uncertainty comes from ----
  clock.begin('train teacher model');
  const teacherDir = path.join(out, 'teacher');
  const teacherLoss = await runTraining({
    model: baseDir, data: path.join(dataDir, 'teacher.jsonl'), out: teacherDir, loss: 'sft', steps: teacherSteps,
    batchSize: P.finetune.batchSize, lr: P.finetune.lr, warmupRatio: P.finetune.warmupRatio, seed: 1000,
  }, clock, log);
  log(`teacher: ${teacherRows.length} rows, ${teacherSteps} steps, final loss ${teacherLoss.toFixed(3)}`);

  // ---- uncertainty: elicited (teacher or judge) and the oracle; both mapped to epsilon with the same mean ----
  const elicitation: Record<string, unknown> = judge
    ? { method: 'verbalized', model: o.model, base_url: judge.baseURL }
    : { method: 'self', model: 'teacher (this demo)', note: 'mean next-token entropy of the teacher over the response tokens / ln V, on 0-99' };
  // `ual elicit`'s own options: the judge (and its client flags) or the teacher as a local checkpoint
  const how = judge ? { method: 'verbalized' as const, model: o.model, ...pickFlags(CLIENT_FLAGS, o) } : { method: 'self' as const, modelDir: teacherDir };
  const epsilonRows: EpsilonRow[] = [];
  const agreement: number[] = [];
  const elicitSummaries: ElicitSummary[] = [];
  const maxEntropy = Math.log(V);
  for (const seed of seeds) {
    clock.begin(`elicit uncertainty, seed ${seed}`);
    const base = path.join(dataDir, `train-s${seed}`);
    elicitSummaries.push(await elicitScores(resolveFlags('elicit', ELICIT_FLAGS, {
      ...how, data: `${base}.jsonl`, out: `${base}.scored.jsonl`, cache: path.join(out, ELICIT_CACHE_FILE),
    })));
    await smooth({ data: `${base}.scored.jsonl`, out: `${base}.ual.jsonl`, mapping: 'paper', targetMean: P.targetMeanEpsilon });
    const scored = readJsonl<{ type: string; uncertainty: number }>(`${base}.scored.jsonl`);
    await writeRows(`${base}.oracle-scored.jsonl`, scored.map((r) => ({ ...r, uncertainty: Math.min(99, (99 * taskType(r.type).oracleEntropy) / maxEntropy) })));
    await smooth({ data: `${base}.oracle-scored.jsonl`, out: `${base}.ual-oracle.jsonl`, mapping: 'paper', targetMean: P.targetMeanEpsilon });
    const ual = readJsonl<{ epsilon: number }>(`${base}.ual.jsonl`);
    const oracle = readJsonl<{ epsilon: number }>(`${base}.ual-oracle.jsonl`);
    // the teacher's top-k next tokens at every target token: what the -teacher methods smooth toward
    clock.begin(`distill teacher targets, seed ${seed}`);
    await distill(resolveFlags('distill', DISTILL_FLAGS, { model: teacherDir, data: `${base}.ual.jsonl`, out: `${base}.teacher.jsonl`, topK: DEMO_TOP_K }));
    clock.advance(distillUnits);
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
  return {
    P, out, seeds, dataDir, baseDir, test, trainRows, V, baseLoss, teacherRows: teacherRows.length, teacherSteps, teacherLoss,
    elicitation, epsilonRows, ftSteps, evalUnits, clock, log,
  };
}

/** Fine-tune and score every job, `jobs` at a time (each in a child process when more than one); results in job order. */
export async function runJobs(jobs: FinetuneJob[], width: number, w: Pick<DemoWorld, 'clock' | 'evalUnits' | 'log'>): Promise<FinetuneResult[]> {
  const { clock, evalUnits, log } = w;
  const active = new Map<FinetuneJob, string>();
  const label = (j: FinetuneJob) => `${j.method}, seed ${j.seed}`;
  const show = () => clock.begin([...active.values()].join(' | '));
  return runPool(jobs, width, (job) => {
    active.set(job, `fine-tune ${label(job)}`);
    show();
    const hooks = {
      onStep: () => clock.advance(1),
      onEvaluate: () => { active.set(job, `evaluate ${label(job)}`); show(); },
      onWarning: log,
    };
    return (width > 1 ? runInChild(job, hooks) : finetuneAndScore(job, hooks)).then((r) => {
      active.delete(job);
      clock.advance(evalUnits);
      log(`${job.method} seed ${job.seed}: ${Object.entries(r.ev.metrics).map(([k, v]) => `${k} ${v.toFixed(3)}`).join(', ')}`);
      return r;
    });
  }).catch((e: unknown) => {
    stopChildren();
    throw e;
  });
}

/** How many runs at a time: --jobs, where child processes can be used. */
export function jobWidth(o: { jobs?: number }, jobs: number): number {
  return canRunInChildren() ? Math.max(1, Math.min(o.jobs ?? 1, jobs)) : 1;
}

export async function runDemo(o: DemoOptions): Promise<DemoResults> {
  const world = await prepareDemo(o, METHODS.length * o.seeds);
  const { P, out, seeds, dataDir, baseDir, test, trainRows, V, baseLoss, teacherLoss, elicitation, epsilonRows, ftSteps, clock } = world;

  // ---- fine-tune every method from the same base, equal budgets, then score it; `jobs` runs at a time ----
  const jobs: FinetuneJob[] = seeds.flatMap((seed) => METHODS.map((m) => {
    const how = methodTraining(m.id);
    return {
      method: m.id, seed, test, eval: P.eval,
      cfg: resolveTrainConfig({}, {
        model: baseDir, out: path.join(out, 'runs', `${m.id}-s${seed}`),
        data: path.join(dataDir, how.file ? `train-s${seed}.${how.file}.jsonl` : `train-s${seed}.jsonl`),
        loss: how.loss, smoothTarget: how.smoothTarget, epsilon: P.targetMeanEpsilon,
        steps: ftSteps, batchSize: P.finetune.batchSize, lr: P.finetune.lr, warmupRatio: P.finetune.warmupRatio, seed,
      }),
    };
  }));
  const width = jobWidth(o, jobs.length);
  const done = await runJobs(jobs, width, world);
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
      teacher: { from: 'base', rows: world.teacherRows, steps: world.teacherSteps, final_loss: round(teacherLoss, 4) },
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
