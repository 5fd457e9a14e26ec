// What `ual report` reads: a demo folder (results.json, checked against the demo's schema), a training run
// folder (train_config.json + metrics.jsonl) and judged pairs (judge.jsonl), each checked here so rendering can trust it.
import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { DataError, UalError } from '../../errors.js';
import type { ItemJudgement, JudgeItem } from '../../eval/judge.js';
import { DemoResults, RESULTS_FILE, SWEEP_FILE, SweepResults } from '../demo/results.js';

const TRAIN_CONFIG_FILE = 'train_config.json';
const METRICS_FILE = 'metrics.jsonl';
/** `ual eval judge --out DIR/judge.jsonl` writes it: one row per instruction */
export const JUDGE_ROWS_FILE = 'judge.jsonl';

/** One optimizer step of metrics.jsonl; the trainer writes more fields (tokens, tokens_per_s, ...), kept as they are. */
const StepRow = z.looseObject({ step: z.number().int(), loss: z.number(), lr: z.number() });
export type StepRow = z.infer<typeof StepRow>;

const Verdict = z.enum(['a', 'b', 'tie']).nullable();
/** One row of `ual eval judge --out`: the pair, both verdicts (model shown first, second), the preference. */
const JudgeRow = z.looseObject({
  instruction: z.string(), output: z.string(), reference: z.string(),
  verdict_model_first: Verdict, verdict_model_second: Verdict, preference: z.number().min(0).max(1).nullable(), error: z.string().nullable(),
  difficulty: z.number().optional(),
});

export type ReportSource =
  | { kind: 'demo'; dir: string; results: DemoResults }
  | { kind: 'train'; dir: string; config: Record<string, unknown>; steps: StepRow[] }
  | { kind: 'judge'; dir: string; items: JudgeItem[]; results: ItemJudgement[] }
  | { kind: 'sweep'; dir: string; results: SweepResults };

/** A zod issue path as it reads in the file: runs[0].metrics.accuracy */
function fieldPath(p: PropertyKey[]): string {
  return p.map((k, i) => (typeof k === 'number' ? `[${k}]` : `${i ? '.' : ''}${String(k)}`)).join('') || '(top level)';
}

function readJson(file: string, hint: string): unknown {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new DataError(file, null, null, `not valid JSON (${(e as Error).message})`, hint);
  }
}

const DEMO_HINT = `${RESULTS_FILE} is written by "ual demo": run it again, or fix the field by hand (the format is DemoResults in src/pipeline/demo/results.ts)`;

/** Every method, metric and task type that a row names is declared in methods / metrics / task_types. */
function checkReferences(file: string, r: DemoResults): void {
  const declared = { methods: r.methods, metrics: r.metrics, task_types: r.task_types };
  const check = (field: string, id: string, what: keyof typeof declared) => {
    const known = declared[what].map((x) => x.id);
    if (!known.includes(id)) throw new DataError(file, null, field, `"${id}" is not among the declared ${what} (${known.join(', ')})`, DEMO_HINT);
  };
  r.runs.forEach((x, i) => check(`runs[${i}].method`, x.method, 'methods'));
  r.clusters.forEach((x, i) => check(`clusters[${i}].method`, x.method, 'methods'));
  r.summary.forEach((x, i) => { check(`summary[${i}].method`, x.method, 'methods'); check(`summary[${i}].metric`, x.metric, 'metrics'); });
  r.per_type.forEach((x, i) => {
    check(`per_type[${i}].method`, x.method, 'methods'); check(`per_type[${i}].metric`, x.metric, 'metrics'); check(`per_type[${i}].type`, x.type, 'task_types');
  });
  r.differences.forEach((x, i) => {
    check(`differences[${i}].a`, x.a, 'methods'); check(`differences[${i}].b`, x.b, 'methods'); check(`differences[${i}].metric`, x.metric, 'metrics');
  });
}

function loadDemo(dir: string): ReportSource {
  const file = path.join(dir, RESULTS_FILE);
  const parsed = DemoResults.safeParse(readJson(file, DEMO_HINT));
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const more = parsed.error.issues.length - 1;
    throw new DataError(file, null, fieldPath(issue.path), issue.message + (more ? ` (and ${more} more problem${more > 1 ? 's' : ''})` : ''), DEMO_HINT);
  }
  checkReferences(file, parsed.data);
  return { kind: 'demo', dir, results: parsed.data };
}

function loadSweep(dir: string): ReportSource {
  const file = path.join(dir, SWEEP_FILE);
  const hint = `${SWEEP_FILE} is written by "ual sweep": run it again, or fix the field by hand (the format is SweepResults in src/pipeline/demo/results.ts)`;
  const parsed = SweepResults.safeParse(readJson(file, hint));
  if (!parsed.success) throw new DataError(file, null, fieldPath(parsed.error.issues[0].path), parsed.error.issues[0].message, hint);
  const methods = parsed.data.methods.map((m) => m.id), metrics = parsed.data.metrics.map((m) => m.id);
  parsed.data.table.forEach((x, i) => {
    if (!methods.includes(x.method)) throw new DataError(file, null, `table[${i}].method`, `"${x.method}" is not among the declared methods (${methods.join(', ')})`, hint);
    if (!metrics.includes(x.metric)) throw new DataError(file, null, `table[${i}].metric`, `"${x.metric}" is not among the declared metrics (${metrics.join(', ')})`, hint);
  });
  return { kind: 'sweep', dir, results: parsed.data };
}

/** The rows of a JSONL file, each checked against `schema`; a problem names the file, the line and the field. */
function readJsonLines<T>(file: string, schema: z.ZodType<T>, jsonHint: (line: number) => string, schemaHint: string): T[] {
  const rows: T[] = [];
  fs.readFileSync(file, 'utf8').split('\n').forEach((line, i) => {
    if (!line.trim()) return;
    let row: unknown;
    try {
      row = JSON.parse(line);
    } catch (e) {
      throw new DataError(file, i + 1, null, `not valid JSON (${(e as Error).message})`, jsonHint(i + 1));
    }
    const r = schema.safeParse(row);
    if (!r.success) throw new DataError(file, i + 1, fieldPath(r.error.issues[0].path), r.error.issues[0].message, schemaHint);
    rows.push(r.data);
  });
  return rows;
}

function loadTrain(dir: string): ReportSource {
  const hint = `a run directory is written by "ual train --out ${dir}"; it holds ${TRAIN_CONFIG_FILE} and ${METRICS_FILE}`;
  for (const f of [TRAIN_CONFIG_FILE, METRICS_FILE]) {
    if (!fs.existsSync(path.join(dir, f))) throw new UalError('UAL_DATA_BAD_FILE', `${dir} has no ${f}`, hint);
  }
  const cfgFile = path.join(dir, TRAIN_CONFIG_FILE);
  const config = readJson(cfgFile, hint);
  if (typeof config !== 'object' || config === null || Array.isArray(config)) throw new DataError(cfgFile, null, null, 'is not a JSON object', hint);
  const file = path.join(dir, METRICS_FILE);
  const steps = readJsonLines(file, StepRow, (line) => `each line is one step's metrics as written by "ual train"; remove or fix line ${line}`,
    'each line needs numbers "step", "loss" and "lr", as "ual train" writes them');
  if (steps.length === 0) throw new DataError(file, null, null, 'has no steps', 'the run has not finished an optimizer step yet; report it after training');
  return { kind: 'train', dir, config: config as Record<string, unknown>, steps };
}

function loadJudge(dir: string): ReportSource {
  const file = path.join(dir, JUDGE_ROWS_FILE);
  const hint = `${JUDGE_ROWS_FILE} is written by "ual eval judge --out ${file}": one row per instruction; rerun it (verdicts are cached) or fix the line`;
  const rows = readJsonLines(file, JudgeRow, () => hint, hint);
  const items: JudgeItem[] = rows.map(({ instruction, output, reference, difficulty }) =>
    ({ instruction, output, reference, ...(difficulty === undefined ? {} : { difficulty }) }));
  const results: ItemJudgement[] = rows.map((r) => ({ verdicts: [r.verdict_model_first, r.verdict_model_second], preference: r.preference, error: r.error }));
  if (items.length === 0) throw new DataError(file, null, null, 'has no rows', hint);
  return { kind: 'judge', dir, items, results };
}

/**
 * Read each folder: a demo's results.json or a training run, and judged pairs (judge.jsonl) beside either or alone;
 * errors name the file, the line or field, and the fix.
 */
export function loadReportInput(dirs: string[]): ReportSource[] {
  return dirs.flatMap((dir) => {
    if (!fs.existsSync(dir)) throw new UalError('UAL_DATA_BAD_FILE', `${dir} does not exist`, 'give the folder of a "ual demo" (with results.json) or of a "ual train --out" run');
    if (!fs.statSync(dir).isDirectory()) throw new UalError('UAL_DATA_BAD_FILE', `${dir} is a file, not a folder`, 'give the folder that holds results.json, or metrics.jsonl and train_config.json');
    const judged = fs.existsSync(path.join(dir, JUDGE_ROWS_FILE)) ? [loadJudge(dir)] : [];
    if (fs.existsSync(path.join(dir, SWEEP_FILE))) return [loadSweep(dir), ...judged];
    if (fs.existsSync(path.join(dir, RESULTS_FILE))) return [loadDemo(dir), ...judged];
    if (fs.existsSync(path.join(dir, METRICS_FILE)) || fs.existsSync(path.join(dir, TRAIN_CONFIG_FILE))) return [loadTrain(dir), ...judged];
    if (judged.length) return judged;
    throw new UalError('UAL_DATA_BAD_FILE', `${dir} holds neither ${RESULTS_FILE} (from "ual demo") nor ${METRICS_FILE} + ${TRAIN_CONFIG_FILE} (from "ual train --out")` +
      ` nor ${JUDGE_ROWS_FILE} (from "ual eval judge --out")`, 'give the output folder of "ual demo" or of "ual train", or where "ual eval judge --out" wrote judge.jsonl');
  });
}
