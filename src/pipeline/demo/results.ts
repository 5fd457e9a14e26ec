// The demo's results.json: one schema (zod) that the demo writes and `ual report` reads, so a hand-edited or
// truncated file is named with the field that is wrong instead of rendering a half-empty report.
import { z } from 'zod';

/**
 * Which 95% interval over seeds an estimate carries (src/util/stats.ts): `logit-t` for values bounded to [0, 1]
 * (shares, ECE, TV distance), which stays inside [0, 1]; `t`, the plain Student-t interval, for the rest
 * (silhouette) and for paired differences.
 */
export const IntervalKind = z.enum(['t', 'logit-t']);
export type IntervalKind = z.infer<typeof IntervalKind>;

/** An interval estimate over seeds: mean and a two-sided 95% interval; per_seed follows config.seeds. */
export const Estimate = z.object({
  mean: z.number(),
  lo: z.number(),
  hi: z.number(),
  n: z.number().int().nonnegative(),
  interval: IntervalKind,
  per_seed: z.array(z.number()),
});
export type Estimate = z.infer<typeof Estimate>;

export const MethodInfo = z.object({
  id: z.string(), // 'sft' | 'ls' | 'ual' | 'ual-oracle' | 'ls-teacher' | 'ual-teacher'
  label: z.string(),
  description: z.string(),
  /** given knowledge a real user does not have (the true answer distribution): the best case for elicitation */
  oracle: z.boolean(),
});
export type MethodInfo = z.infer<typeof MethodInfo>;

export const MetricInfo = z.object({
  id: z.string(), // 'accuracy' | 'validity' | 'coverage' | 'tv' | 'ece' | 'silhouette' | ...
  label: z.string(),
  description: z.string(),
  /** which prompts it is measured on: low-entropy, high-entropy, or all */
  tasks: z.enum(['low', 'high', 'all']),
  higher_is_better: z.boolean(),
});
export type MetricInfo = z.infer<typeof MetricInfo>;

/**
 * How many samples each metric bounded to [0, 1] was computed over (test problems, sampled answers, valid answers,
 * scored tokens), keyed like the values: its logit-t interval needs it. A metric without a count (silhouette) is
 * not bounded to [0, 1] and gets a Student-t interval.
 */
export const SampleCounts = z.object({
  metrics: z.record(z.string(), z.number().int().positive()),
  per_type: z.record(z.string(), z.record(z.string(), z.number().int().positive())),
});
export type SampleCounts = z.infer<typeof SampleCounts>;

/** One fine-tuned model: method x seed. metrics[metric id] is that run's value; per_type[task type][metric id]. */
export const RunResult = z.object({
  method: z.string(),
  seed: z.number().int(),
  dir: z.string(), // run directory, relative to the results.json's folder
  metrics: z.record(z.string(), z.number()),
  per_type: z.record(z.string(), z.record(z.string(), z.number())),
  samples: SampleCounts,
  loss_curve: z.array(z.object({ step: z.number().int(), loss: z.number() })),
  train_seconds: z.number(),
});
export type RunResult = z.infer<typeof RunResult>;

export const SummaryRow = z.object({ method: z.string(), metric: z.string() }).extend(Estimate.shape);
export type SummaryRow = z.infer<typeof SummaryRow>;

/** Paired over seeds (same seed = same data order and init): a - b per seed, then a t interval of the differences. */
export const DifferenceRow = z.object({ a: z.string(), b: z.string(), metric: z.string() }).extend(Estimate.shape);
export type DifferenceRow = z.infer<typeof DifferenceRow>;

export const PerTypeRow = z.object({ method: z.string(), type: z.string(), metric: z.string() }).extend(Estimate.shape);
export type PerTypeRow = z.infer<typeof PerTypeRow>;

/** One training row's uncertainty and the epsilon each UAL variant trained it with. */
export const EpsilonRow = z.object({
  type: z.string(), // task type, e.g. 'arith-1', 'fruit'
  entropy: z.enum(['low', 'high']),
  oracle_entropy: z.number(), // nats, of the prompt's true answer distribution
  score: z.number(), // elicited uncertainty 0-99
  epsilon: z.number(), // from the elicited score (method 'ual')
  oracle_epsilon: z.number(), // from the oracle entropy (method 'ual-oracle')
});
export type EpsilonRow = z.infer<typeof EpsilonRow>;

/** Hidden states of one model projected on the first two principal components of one next-token pair. */
export const ClusterPanel = z.object({
  method: z.string(),
  seed: z.number().int(),
  tokens: z.tuple([z.string(), z.string()]),
  silhouette: z.number(),
  points: z.array(z.object({ x: z.number(), y: z.number(), label: z.union([z.literal(0), z.literal(1)]) })),
});
export type ClusterPanel = z.infer<typeof ClusterPanel>;

/** /2: estimates name their interval, runs carry their sample counts (shares got intervals inside [0, 1]). */
export const RESULTS_FORMAT = 'ual-demo-results/2';

export const DemoResults = z.object({
  format: z.literal(RESULTS_FORMAT),
  created: z.string(),
  config: z.object({
    quick: z.boolean(),
    seeds: z.array(z.number().int()),
    benchmark: z.record(z.string(), z.unknown()), // generator settings and split sizes
    base: z.record(z.string(), z.unknown()), // base model: architecture, pretraining steps, final loss
    teacher: z.record(z.string(), z.unknown()), // the model uncertainty is elicited from
    finetune: z.record(z.string(), z.unknown()), // shared fine-tuning settings (equal budgets)
    elicitation: z.record(z.string(), z.unknown()), // method, model, base_url (never a key), agreement with the oracle
    evaluation: z.record(z.string(), z.unknown()), // samples per prompt, temperature, test sizes
    versions: z.record(z.string(), z.string()), // ual, node, backend, blas, os
    elapsed_s: z.number(),
  }),
  methods: z.array(MethodInfo),
  metrics: z.array(MetricInfo),
  task_types: z.array(z.object({ id: z.string(), label: z.string(), entropy: z.enum(['low', 'high']), oracle_entropy: z.number() })),
  runs: z.array(RunResult),
  summary: z.array(SummaryRow),
  differences: z.array(DifferenceRow),
  per_type: z.array(PerTypeRow),
  epsilon: z.array(EpsilonRow),
  clusters: z.array(ClusterPanel),
});
export type DemoResults = z.infer<typeof DemoResults>;

export const RESULTS_FILE = 'results.json';
export const REPORT_FILE = 'report.html';

// ---- `ual sweep` (src/pipeline/demo/sweep.ts): the same runs at several mean epsilons ----

export const SWEEP_FILE = 'sweep.json';
export const SWEEP_FORMAT = 'ual-sweep/1';

/** One method at one mean epsilon, one metric: its estimate over seeds. */
export const SweepRow = z.object({ method: z.string(), target_mean: z.number(), metric: z.string() }).extend(Estimate.shape);
export type SweepRow = z.infer<typeof SweepRow>;

export const SweepResults = z.object({
  format: z.literal(SWEEP_FORMAT),
  created: z.string(),
  config: z.object({
    quick: z.boolean(),
    seeds: z.array(z.number().int()),
    target_means: z.array(z.number()),
    steps: z.number().int(),
    rows: z.number().int(),
    elapsed_s: z.number(),
  }).loose(),
  methods: z.array(MethodInfo),
  metrics: z.array(MetricInfo),
  /** every fine-tune; its method is "<method>@<mean>" */
  runs: z.array(RunResult.extend({ target_mean: z.number() })),
  table: z.array(SweepRow),
});
export type SweepResults = z.infer<typeof SweepResults>;
