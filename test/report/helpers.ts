// Test input for `ual report`: a valid, internally consistent DemoResults (values from a seeded formula, the
// intervals computed from them by the demo's own aggregate()), a small training run folder and judged pairs.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { orderScore, type Verdict } from '../../src/eval/judge.js';
import { aggregate } from '../../src/pipeline/demo/metrics.js';
import { RESULTS_FORMAT, type DemoResults } from '../../src/pipeline/demo/results.js';

export function tmpDir(tag: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `ual-report-${tag}-`));
}

const SEEDS = [1, 2, 3];
/** Samples behind each share: 50 test problems or sampled answers per task type and seed. */
const PER_TYPE_SAMPLES = 50;

/** Deterministic noise in [-0.5, 0.5) */
const noise = (k: number) => (Math.abs(Math.sin(k * 12.9898) * 43758.5453) % 1) - 0.5;

const METHODS = [
  { id: 'sft', label: 'SFT', description: 'plain cross-entropy, no smoothing (<i>baseline</i>)', oracle: false },
  { id: 'ls', label: 'LS', description: 'one label smoothing value for every row', oracle: false },
  { id: 'ual', label: 'UAL', description: 'per-row smoothing from the elicited uncertainty', oracle: false },
  { id: 'ual-oracle', label: 'UAL (oracle)', description: 'per-row smoothing from the true answer entropy', oracle: true },
];
const METRICS = [
  { id: 'accuracy', label: 'Accuracy', description: 'exact answers on precise prompts', tasks: 'low' as const, higher_is_better: true },
  { id: 'coverage', label: 'Coverage', description: 'share of valid answers sampled at least once', tasks: 'high' as const, higher_is_better: true },
  { id: 'tv', label: 'TV distance', description: 'total variation to the true answer distribution', tasks: 'high' as const, higher_is_better: false },
  { id: 'silhouette', label: 'Silhouette', description: 'token cluster separation of hidden states', tasks: 'all' as const, higher_is_better: true },
];
const TYPES = [
  { id: 'arith-1', label: 'one-digit sums', entropy: 'low' as const, oracle_entropy: 0 },
  { id: 'arith-2', label: 'two-digit sums', entropy: 'low' as const, oracle_entropy: 0 },
  { id: 'fruit', label: 'name a fruit', entropy: 'high' as const, oracle_entropy: 1.61 },
  { id: 'color', label: 'name a colour', entropy: 'high' as const, oracle_entropy: 1.95 },
];

/** One run's value: a base per metric, a step per method (UAL and the oracle better), seeded noise per seed. */
function value(mi: number, seed: number, metric: number, type = 0): number {
  const base = [0.62, 0.41, 0.37, 0.21][metric];
  const effect = [0, 0.02, 0.05, 0.09][mi] * (METRICS[metric].higher_is_better ? 1 : -1);
  return base + effect + 0.04 * noise(seed * 131 + metric * 17 + mi * 7 + type * 3) + 0.01 * type;
}

export function makeResults(): DemoResults {
  const runs = METHODS.flatMap((m, mi) => SEEDS.map((seed) => ({
    method: m.id, seed, dir: `runs/${m.id}-seed${seed}`,
    metrics: Object.fromEntries(METRICS.map((k, ki) => [k.id, value(mi, seed, ki)])),
    per_type: Object.fromEntries(TYPES.map((t, ti) => [t.id, Object.fromEntries(METRICS.slice(0, 3)
      .filter((k) => k.tasks === t.entropy).map((k) => [k.id, value(mi, seed, METRICS.indexOf(k), ti + 1)]))])),
    // accuracy, coverage and TV are bounded to [0, 1] (logit-t intervals); silhouette is not (Student-t)
    samples: {
      metrics: Object.fromEntries(METRICS.slice(0, 3).map((k) => [k.id, 2 * PER_TYPE_SAMPLES])),
      per_type: Object.fromEntries(TYPES.map((t) => [t.id, Object.fromEntries(METRICS.slice(0, 3)
        .filter((k) => k.tasks === t.entropy).map((k) => [k.id, PER_TYPE_SAMPLES]))])),
    },
    loss_curve: Array.from({ length: 30 }, (_, i) => ({ step: i + 1, loss: 2.5 * Math.exp(-i / 8) + 0.6 + 0.05 * mi + 0.03 * noise(seed + i) })),
    train_seconds: 40 + 3 * mi + seed,
  })));
  const types = TYPES.map((t) => ({ id: t.id, metrics: METRICS.slice(0, 3).filter((k) => k.tasks === t.entropy).map((k) => k.id) }));
  const { summary, differences, per_type } = aggregate(runs, METHODS.map((m) => m.id), METRICS.map((m) => m.id), SEEDS,
    [['ual', 'sft'], ['ual', 'ls'], ['ual-oracle', 'ual']], types);
  const epsilon = Array.from({ length: 40 }, (_, i) => {
    const t = TYPES[i % 4];
    const score = Math.round(t.entropy === 'high' ? 60 + 30 * (noise(i) + 0.5) : 10 * (noise(i) + 0.5));
    return { type: t.id, entropy: t.entropy, oracle_entropy: t.oracle_entropy, score, epsilon: score / 99 * 0.3, oracle_epsilon: t.oracle_entropy / 2 * 0.3 };
  });
  const clusters = (['sft', 'ual'] as const).map((method, mi) => ({
    method, seed: 1, tokens: ['yes', ' no'] as [string, string], silhouette: 0.3 + 0.2 * mi,
    points: Array.from({ length: 24 }, (_, i) => ({ x: (i % 2 ? 1 : -1) * (1 + mi) + noise(i), y: noise(i + 100), label: (i % 2) as 0 | 1 })),
  }));
  return {
    format: RESULTS_FORMAT,
    created: '2026-11-20T10:00:00.000Z',
    config: {
      quick: true,
      seeds: SEEDS,
      benchmark: { generator: 'ual-bench', train_rows: 1200, test_prompts: 160, types: TYPES.map((t) => t.id) },
      base: { arch: 'gpt2', layers: 2, d: 64, pretrain_steps: 400, final_loss: 1.2345 },
      teacher: { kind: 'self', model: 'base', note: 'the base model rates itself' },
      finetune: { steps: 30, lr: 0.0003, batch_size: 8, ls_epsilon: 0.1, ual: { mapping: 'paper', target_mean: 0.1 } },
      elicitation: { method: 'self', model: 'base', spearman_vs_oracle: 0.8123, auc_high_vs_low: 0.9456, rows: 1200 },
      evaluation: { samples_per_prompt: 16, temperature: 1, test_prompts: 160 },
      versions: { ual: '0.1.0', node: 'v20.20.2', backend: 'native', blas: 'openblas', os: 'linux x64' },
      elapsed_s: 321.5,
    },
    methods: METHODS,
    metrics: METRICS,
    task_types: TYPES,
    runs, summary, differences, per_type, epsilon, clusters,
  };
}

export function writeDemoDir(dir: string, results: unknown = makeResults()): string {
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'results.json'), JSON.stringify(results, null, 2) + '\n');
  return dir;
}

/** A run folder as `ual train --out` leaves it (without weights: the report reads only these two files). */
export function writeTrainDir(dir: string, steps = 25): string {
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'train_config.json'), JSON.stringify({
    model: 'base', data: 'smoothed.jsonl', loss: 'ual', lr: 0.0003, steps, warmupSteps: 3, lrSchedule: 'cosine', seed: 0,
    data_summary: { rows: 100, epsilon_mean: 0.1 },
  }, null, 2) + '\n');
  const lines = Array.from({ length: steps }, (_, k) => JSON.stringify({
    step: k + 1, loss: 3 * Math.exp(-k / 10) + 0.5, lr: 0.0003 * Math.min(1, (k + 1) / 3), grad_norm: 1.5, tokens: 512,
    tokens_per_s: 2000 + 10 * k, elapsed_s: 0.25 * (k + 1),
  }));
  fs.writeFileSync(path.join(dir, 'metrics.jsonl'), lines.join('\n') + '\n');
  return dir;
}

/**
 * `ual eval judge --out DIR/judge.jsonl` rows: a judge that prefers the longer side (the model writes longer on 2 of
 * 3 instructions), so the raw win rate sits above the length-controlled one; the last row failed. With
 * `withDifficulty` each row carries an instruction difficulty, as `ual eval judge --difficulty` writes it.
 */
export function writeJudgeDir(dir: string, n = 48, withDifficulty = false): string {
  fs.mkdirSync(dir, { recursive: true });
  const rows = Array.from({ length: n }, (_, i) => {
    const refLen = 200 + 10 * (i % 7);
    const outLen = i % 3 === 0 ? refLen - 40 - 5 * (i % 5) : refLen + 60 + 9 * (i % 11);
    const longer = outLen > refLen;
    // model shown first ('a' = the model), then second ('b' = the model); a seeded tie or upset now and then
    const v0: Verdict = noise(i) > 0.35 ? 'tie' : (longer !== noise(i + 50) > 0.3 ? 'a' : 'b');
    const v1: Verdict = noise(i + 7) > 0.4 ? 'tie' : (longer !== noise(i + 90) > 0.3 ? 'b' : 'a');
    const failed = i === n - 1;
    return {
      instruction: `Task ${i}: say something <${i}>`, output: 'o'.repeat(outLen), reference: 'r'.repeat(refLen),
      verdict_model_first: v0, verdict_model_second: failed ? null : v1,
      preference: failed ? null : (orderScore(v0, 0) + orderScore(v1, 1)) / 2, error: failed ? '[UAL_JUDGE_HTTP] gave up' : null,
      ...(withDifficulty ? { difficulty: noise(i + 300) } : {}),
    };
  });
  fs.writeFileSync(path.join(dir, 'judge.jsonl'), rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
  return dir;
}
