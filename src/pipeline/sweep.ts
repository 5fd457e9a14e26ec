// `ual sweep` as a library function: fine-tune at several mean epsilons and evaluate each run, on the demo's
// benchmark (src/pipeline/demo/sweep.ts, the default) or on your own scored rows with an evaluation of your choice
// (--data, --model, --eval, --eval-data): per mean, `ual smooth --target-mean` → `ual train` → `ual eval`, each run
// in DIR/runs/<method>@<mean>-s<seed>; sweep.json has every run and, per method and mean, each metric's estimate
// over seeds. The teacher methods read rows that carry `ual distill`'s targets, or distill them once with --teacher.
import fs from 'node:fs';
import path from 'node:path';
import { readJsonRows } from '../data/jsonl.js';
import { UsageError } from '../errors.js';
import { resolveTrainConfig } from '../train/config.js';
import { train } from '../train/trainer.js';
import { writeFileAtomic } from '../util/atomic.js';
import { round } from '../util/stats.js';
import { flags, resolveFlags, type Values } from '../util/options.js';
import { DISTILL_FLAGS, distill } from './distill.js';
import { MATH_FLAGS, PPL_FLAGS, evaluateMath, evaluatePpl } from './evaluate.js';
import { smooth } from './smooth.js';
import { aggregate } from './demo/metrics.js';
import { DEMO_TOP_K, METHODS, methodTraining } from './demo/methods.js';
import { SWEEP_FILE, SWEEP_FORMAT, SweepResults, type MetricInfo, type RunResult } from './demo/results.js';
import { DEMO_FLAGS, type DemoOptions } from './demo/run.js';
import { SWEEP_METHODS, runDemoSweep, sweepPlan, sweepTable } from './demo/sweep.js';

const OWN = 'your own data (instead of the demo benchmark)';

export const SWEEP_FLAGS = flags({
  out: { ...DEMO_FLAGS.out, default: 'ual-sweep', help: 'where everything goes; must be new, empty or a previous sweep\'s or demo\'s' },
  targetMeans: {
    flag: 'target-means', kind: 'string', arg: 'LIST', default: '0.05,0.1,0.2,0.3',
    help: 'mean epsilons to train at, comma-separated, each in (0, 0.99)',
  },
  methods: {
    flag: 'methods', kind: 'string', arg: 'LIST', default: 'ual,ual-teacher',
    help: `methods to sweep, comma-separated: ${SWEEP_METHODS.join(', ')} (on your own data: no ual-oracle)`,
  },
  seeds: DEMO_FLAGS.seeds,
  quick: { ...DEMO_FLAGS.quick, help: 'the demo\'s small profile (a smoke run; numbers are rough)' },
  jobs: { ...DEMO_FLAGS.jobs, help: 'demo benchmark: fine-tune/evaluate runs at a time, each in its own process (default 2 with 2+ cores);\nyour own data: runs one at a time' },
  data: { flag: 'data', kind: 'string', arg: 'FILE', exists: true, group: OWN, help: 'scored training rows (ual elicit\'s "uncertainty"; for -teacher methods also ual distill\'s targets, or give --teacher)' },
  model: { flag: 'model', kind: 'string', arg: 'DIR', group: OWN, help: 'the checkpoint every run starts from' },
  teacher: { flag: 'teacher', kind: 'string', arg: 'DIR', group: OWN, help: 'distill the -teacher methods\' targets from this checkpoint once (ual distill --top-k 32)' },
  evalTask: { flag: 'eval', kind: ['ppl', 'gsm8k', 'metamath'], default: 'ppl', group: OWN, help: 'how each run is scored: held-out perplexity, or GSM8K / MetaMath accuracy' },
  evalData: { flag: 'eval-data', kind: 'string', arg: 'FILE', exists: true, group: OWN, help: 'the held-out rows --eval scores' },
  steps: { flag: 'steps', kind: 'int', min: 1, default: 100, group: OWN, help: 'optimizer steps of each run' },
  batchSize: { flag: 'batch-size', kind: 'int', min: 1, default: 8, group: OWN, help: 'rows per step' },
  lr: { flag: 'lr', kind: 'number', default: 3e-4, group: OWN, help: 'learning rate (10% warmup, then constant, as the paper)' },
  loraR: { flag: 'lora-r', kind: 'int', min: 0, default: 0, group: OWN, help: 'LoRA rank on q_proj,v_proj (0: full fine-tuning)' },
  evalLimit: { flag: 'eval-limit', kind: 'int', min: 1, group: OWN, help: 'score only the first N held-out rows' },
});

export type SweepOptions = Values<typeof SWEEP_FLAGS> & Pick<DemoOptions, 'onProgress' | 'onLog'>;

export async function runSweep(o: SweepOptions): Promise<SweepResults> {
  resolveFlags('sweep', SWEEP_FLAGS, o);
  const own = o.data !== undefined || o.model !== undefined || o.evalData !== undefined;
  if (!own) {
    for (const k of ['teacher', 'evalLimit'] as const) {
      if (o[k] !== undefined) throw new UsageError(`ual sweep: --${SWEEP_FLAGS[k].flag} is for a sweep on your own data (--data, --model, --eval-data)`);
    }
    return runDemoSweep(o);
  }
  return runDataSweep(o);
}

const OWN_METRICS: Record<'ppl' | 'gsm8k' | 'metamath', MetricInfo[]> = {
  ppl: [
    { id: 'nll', label: 'NLL', description: 'mean negative log-likelihood per target token of the held-out rows (ual eval ppl)', tasks: 'all', higher_is_better: false },
    { id: 'ppl', label: 'perplexity', description: 'exp(NLL) on the held-out rows', tasks: 'all', higher_is_better: false },
  ],
  gsm8k: [{ id: 'accuracy', label: 'accuracy', description: 'GSM8K exact match, greedy (ual eval gsm8k)', tasks: 'low', higher_is_better: true }],
  metamath: [{ id: 'accuracy', label: 'accuracy', description: 'MetaMath exact match, greedy (ual eval metamath)', tasks: 'low', higher_is_better: true }],
};

/** The sweep on the user's rows: no oracle, one run at a time, the chosen evaluation. */
async function runDataSweep(o: SweepOptions): Promise<SweepResults> {
  const t0 = Date.now();
  const need = (k: 'data' | 'model' | 'evalData') => {
    if (o[k] === undefined) throw new UsageError(`ual sweep: a sweep on your own data needs --${SWEEP_FLAGS[k].flag}`, 'give --data ROWS --model DIR --eval-data HELDOUT (or none of them for the demo benchmark)');
    return o[k] as string;
  };
  const data = need('data'), base = need('model'), evalData = need('evalData');
  const { means, methods } = sweepPlan(o, SWEEP_METHODS.filter((m) => m !== 'ual-oracle'));
  const log = o.onLog ?? (() => {});
  const out = path.resolve(o.out);
  if (fs.existsSync(out) && fs.readdirSync(out).length > 0 && !fs.existsSync(path.join(out, SWEEP_FILE))) {
    throw new UsageError(`ual sweep: --out ${out} is not empty and not a previous sweep's directory`, 'give a new or empty directory');
  }
  let rowCount = 0, withTargets = 0;
  for await (const r of readJsonRows(data)) {
    rowCount++;
    if ('teacher_topk' in r.row) withTargets++;
  }
  const teacherRows = methods.some((m) => methodTraining(m).smoothTarget === 'teacher');
  if (teacherRows && o.teacher === undefined && withTargets < rowCount) {
    throw new UsageError(`ual sweep: --methods ${methods.filter((m) => m.endsWith('-teacher')).join(',')} need teacher targets: ${data} has ${rowCount - withTargets} of ${rowCount} rows without "teacher_topk"`,
      `run ual distill --model TEACHER --data ${data} --out WITH_TARGETS.jsonl and sweep that, or give --teacher DIR`);
  }
  const dataDir = path.join(out, 'data');
  fs.mkdirSync(dataDir, { recursive: true });
  let teacherFile = data;
  if (teacherRows && o.teacher !== undefined) {
    teacherFile = path.join(dataDir, 'teacher.jsonl');
    log(`distilling the teacher's top-${DEMO_TOP_K} from ${o.teacher}`);
    await distill(resolveFlags('distill', DISTILL_FLAGS, { model: o.teacher, data, out: teacherFile, topK: DEMO_TOP_K, student: base }));
  }
  for (const mean of means) {
    if (methods.includes('ual')) await smooth({ data, out: path.join(dataDir, `ual@${mean}.jsonl`), mapping: 'paper', targetMean: mean });
    if (teacherRows) await smooth({ data: teacherFile, out: path.join(dataDir, `teacher@${mean}.jsonl`), mapping: 'paper', targetMean: mean });
  }

  const seeds = Array.from({ length: o.seeds }, (_, i) => i + 1);
  const metrics = OWN_METRICS[o.evalTask];
  const runs: (RunResult & { target_mean: number })[] = [];
  for (const seed of seeds) {
    for (const mean of means) {
      for (const m of methods) {
        const how = methodTraining(m);
        const id = `${m}@${mean}`;
        const dir = path.join(out, 'runs', `${id}-s${seed}`);
        o.onProgress?.({ stage: `fine-tune ${id}, seed ${seed}`, fraction: runs.length / (seeds.length * means.length * methods.length), elapsedS: (Date.now() - t0) / 1000, etaS: 0 });
        const curve: { step: number; loss: number }[] = [];
        const ts = Date.now();
        await train(resolveTrainConfig({}, {
          model: base, out: dir, seed, steps: o.steps, batchSize: o.batchSize, lr: o.lr, warmupRatio: 0.1,
          data: how.loss === 'ls' ? (how.smoothTarget === 'teacher' ? teacherFile : data)
            : path.join(dataDir, `${how.smoothTarget === 'teacher' ? 'teacher' : 'ual'}@${mean}.jsonl`),
          loss: how.loss, smoothTarget: how.smoothTarget, epsilon: mean,
          ...(o.loraR > 0 ? { loraR: o.loraR, loraAlpha: 2 * o.loraR, loraTargets: 'q_proj,v_proj' } : {}),
        }), { onStep: (s) => { curve.push({ step: s.step, loss: round(s.loss, 5) }); }, onWarning: log });
        const trainSeconds = round((Date.now() - ts) / 1000, 2);
        const { values, counts } = await scoreRun(o, dir, evalData);
        log(`${id} seed ${seed}: ${Object.entries(values).map(([k, v]) => `${k} ${v.toFixed(4)}`).join(', ')}`);
        runs.push({
          method: id, seed, target_mean: mean, dir: path.relative(out, dir), metrics: values, per_type: {},
          samples: { metrics: counts, per_type: {} }, loss_curve: curve, train_seconds: trainSeconds,
        });
      }
    }
  }
  const ids = means.flatMap((mean) => methods.map((m) => `${m}@${mean}`));
  const { summary } = aggregate(runs, ids, metrics.map((m) => m.id), seeds, [], []);
  const table = sweepTable(summary);
  const results = SweepResults.parse({
    format: SWEEP_FORMAT,
    created: new Date().toISOString(),
    config: {
      quick: false, seeds, target_means: means, steps: o.steps, rows: rowCount, data, model: base, eval: o.evalTask, eval_data: evalData,
      batch_size: o.batchSize, lr: o.lr, lora_r: o.loraR, eps_style: 'paper', mapping: 'paper', elapsed_s: round((Date.now() - t0) / 1000, 1),
    },
    methods: METHODS.filter((m) => methods.includes(m.id)),
    metrics,
    runs,
    table,
  });
  writeFileAtomic(path.join(out, SWEEP_FILE), JSON.stringify(results, null, 2) + '\n');
  return results;
}

/** A run's metrics (and, for shares, how many samples they are over: their logit-t interval needs it). */
async function scoreRun(o: SweepOptions, dir: string, evalData: string): Promise<{ values: Record<string, number>; counts: Record<string, number> }> {
  if (o.evalTask === 'ppl') {
    const r = await evaluatePpl(resolveFlags('eval ppl', PPL_FLAGS, { data: evalData, model: dir, limit: o.evalLimit }));
    return { values: { nll: r.nll, ppl: r.ppl }, counts: {} };
  }
  const r = await evaluateMath(o.evalTask, resolveFlags(`eval ${o.evalTask}`, MATH_FLAGS, { data: evalData, model: dir, limit: o.evalLimit }));
  return { values: { accuracy: r.accuracy }, counts: { accuracy: r.n } };
}
