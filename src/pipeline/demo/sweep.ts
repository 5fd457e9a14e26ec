// `ual sweep`: the paper swept the mean epsilon (0.1–0.5); a user has to pick one. On the demo's benchmark (the same
// base, teacher, scored rows and evaluation as `ual demo`), every method of --methods is fine-tuned at every
// --target-means value for every seed: UAL's epsilons are the elicited scores mapped to that mean (`ual smooth
// --target-mean`), LS's constant epsilon is that mean, the -teacher variants smooth the same epsilons toward the
// teacher's top-k. Writes sweep.json (every run, and per method and mean each metric with its 95% interval over seeds).
import path from 'node:path';
import { UsageError } from '../../errors.js';
import { resolveTrainConfig } from '../../train/config.js';
import { writeFileAtomic } from '../../util/atomic.js';
import { round } from '../../util/stats.js';
import { resolveFlags } from '../../util/options.js';
import { smooth } from '../smooth.js';
import { TASK_TYPES } from './benchmark.js';
import type { FinetuneJob } from './finetune.js';
import { aggregate } from './metrics.js';
import { METHODS, METRICS, methodTraining } from './methods.js';
import { SWEEP_FILE, SWEEP_FORMAT, SweepResults, type SummaryRow, type SweepRow } from './results.js';
import { DEMO_FLAGS, jobWidth, prepareDemo, runJobs, type DemoOptions } from './run.js';

/** the methods whose smoothing depends on the mean epsilon (SFT has none) */
export const SWEEP_METHODS = METHODS.filter((m) => m.id !== 'sft').map((m) => m.id);

/** What the demo-benchmark sweep is given (src/pipeline/sweep.ts's flags). */
export interface DemoSweepOptions extends Pick<DemoOptions, 'onProgress' | 'onLog'> {
  out: string;
  targetMeans: string;
  methods: string;
  seeds: number;
  quick: boolean;
  jobs?: number;
}

/** aggregate()'s summary of "<method>@<mean>" runs as sweep.json's table: the method and its mean apart. */
export function sweepTable(summary: readonly SummaryRow[]): SweepRow[] {
  return summary.map((r) => {
    const [m, mean] = r.method.split('@');
    return { ...r, method: m, target_mean: Number(mean) };
  });
}

/** --target-means and --methods, checked: a clear error naming the flag and the value. */
export function sweepPlan(o: { targetMeans: string; methods: string }, allowed: readonly string[] = SWEEP_METHODS): { means: number[]; methods: string[] } {
  const means = o.targetMeans.split(',').map((x) => x.trim()).filter(Boolean).map((x) => {
    const v = Number(x);
    if (!(Number.isFinite(v) && v > 0 && v < 0.99)) {
      throw new UsageError(`ual sweep: --target-means: "${x}" is not a mean epsilon in (0, 0.99)`, 'give numbers like 0.05,0.1,0.2,0.3');
    }
    return v;
  });
  if (means.length === 0) throw new UsageError('ual sweep: --target-means is empty', 'give numbers like 0.05,0.1,0.2,0.3');
  if (new Set(means).size !== means.length) throw new UsageError(`ual sweep: --target-means repeats a value (${o.targetMeans})`, 'give each mean once');
  const methods = o.methods.split(',').map((x) => x.trim()).filter(Boolean);
  for (const m of methods) {
    if (!allowed.includes(m)) throw new UsageError(`ual sweep: --methods: "${m}" is not a method the mean epsilon changes${allowed === SWEEP_METHODS ? '' : ' on your own data'}`, `choose from ${allowed.join(', ')}`);
  }
  if (methods.length === 0) throw new UsageError('ual sweep: --methods is empty', `choose from ${allowed.join(', ')}`);
  if (new Set(methods).size !== methods.length) throw new UsageError(`ual sweep: --methods repeats a method (${o.methods})`, 'give each method once');
  return { means: [...means].sort((a, b) => a - b), methods };
}

export async function runDemoSweep(o: DemoSweepOptions): Promise<SweepResults> {
  const { means, methods } = sweepPlan(o);
  // the demo's world with its defaults (the teacher elicits; no judge server)
  const demo: DemoOptions = { ...resolveFlags('demo', DEMO_FLAGS, { out: o.out, seeds: o.seeds, quick: o.quick, jobs: o.jobs }), onProgress: o.onProgress, onLog: o.onLog };
  const world = await prepareDemo(demo, methods.length * means.length * o.seeds);
  const { P, out, seeds, dataDir, baseDir, test, clock } = world;

  // per seed and mean: the UAL (and UAL-oracle, teacher) rows with epsilons mapped to that mean
  clock.begin('map epsilons to each mean');
  const files = new Set(methods.map((m) => methodTraining(m).file).filter(Boolean));
  for (const seed of seeds) {
    for (const mean of means) {
      for (const f of files) {
        // the oracle's scores live in their own file; the teacher rows carry the elicited scores and the top-k
        const from = f === 'ual-oracle' ? 'oracle-scored' : f === 'ual' ? 'scored' : 'teacher';
        await smooth({ data: path.join(dataDir, `train-s${seed}.${from}.jsonl`), out: path.join(dataDir, `train-s${seed}.${f}@${mean}.jsonl`), mapping: 'paper', targetMean: mean });
      }
    }
  }

  const id = (m: string, mean: number) => `${m}@${mean}`;
  const jobs: (FinetuneJob & { mean: number; base: string })[] = seeds.flatMap((seed) => means.flatMap((mean) => methods.map((m) => {
    const how = methodTraining(m);
    return {
      method: id(m, mean), base: m, mean, seed, test, eval: P.eval,
      cfg: resolveTrainConfig({}, {
        model: baseDir, out: path.join(out, 'runs', `${id(m, mean)}-s${seed}`),
        data: path.join(dataDir, how.file ? `train-s${seed}.${how.file}@${mean}.jsonl` : `train-s${seed}.jsonl`),
        loss: how.loss, smoothTarget: how.smoothTarget, epsilon: mean,
        steps: world.ftSteps, batchSize: P.finetune.batchSize, lr: P.finetune.lr, warmupRatio: P.finetune.warmupRatio, seed,
      }),
    };
  })));
  const done = await runJobs(jobs, jobWidth(o, jobs.length), world);

  const runs = jobs.map((j, i) => ({
    method: j.method, seed: j.seed, target_mean: j.mean, dir: path.relative(out, j.cfg.out), metrics: done[i].ev.metrics,
    per_type: done[i].ev.per_type, samples: done[i].ev.samples, loss_curve: done[i].curve, train_seconds: done[i].trainSeconds,
  }));
  const ids = means.flatMap((mean) => methods.map((m) => id(m, mean)));
  const types = TASK_TYPES.map((t) => ({ id: t.id, metrics: [] as string[] }));
  const { summary } = aggregate(runs, ids, METRICS.map((m) => m.id), seeds, [], types);
  const table = sweepTable(summary);
  const results: SweepResults = {
    format: SWEEP_FORMAT,
    created: new Date().toISOString(),
    config: {
      quick: o.quick, seeds, target_means: means, steps: world.ftSteps, rows: world.trainRows.get(seeds[0])!.length,
      batch_size: P.finetune.batchSize, lr: P.finetune.lr, eps_style: 'paper', mapping: 'paper', elicitation: world.elicitation,
      elapsed_s: round(clock.elapsed(), 1),
    },
    methods: METHODS.filter((m) => methods.includes(m.id)),
    metrics: [...METRICS],
    runs,
    table,
  };
  const checked = SweepResults.parse(results);
  writeFileAtomic(path.join(out, SWEEP_FILE), JSON.stringify(checked, null, 2) + '\n');
  return checked;
}
