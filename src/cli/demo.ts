// `ual demo`: the offline end-to-end UAL experiment on the embedded benchmark (src/pipeline/demo), with stage
// progress and ETA on stderr, results.json and report.html in --out.
import os from 'node:os';
import path from 'node:path';
import { UsageError } from '../errors.js';
import { runDemo, type DemoProgress, type JudgeSettings } from '../pipeline/demo/run.js';
import { REPORT_FILE, RESULTS_FILE } from '../pipeline/demo/results.js';
import { writeReport } from '../pipeline/report/index.js';
import { resolveApiKey } from './elicit.js';
import { fmtDuration } from './progress.js';
import { numOpt, parseOptions, printJson, type Command, type OptionSpec } from './command.js';

const NAME = 'demo';

const OPTIONS: OptionSpec = {
  out: { type: 'string' },
  seeds: { type: 'string' },
  quick: { type: 'boolean' },
  jobs: { type: 'string' },
  'base-url': { type: 'string' },
  model: { type: 'string' },
  'api-key-env': { type: 'string' },
  json: { type: 'boolean' },
};

const USAGE = `usage: ual demo [--out DIR] [--seeds N] [--quick] [--jobs N] [--base-url URL --model NAME]

Runs Uncertainty-Aware Learning end to end on a benchmark the demo generates (arithmetic word problems with one
right answer; open requests with a known answer distribution), with no downloads: pre-trains a small base model,
trains a stronger teacher, elicits each training row's uncertainty from it, fine-tunes SFT, LS, UAL and the oracle
UAL from the same base with equal budgets, scores them against ground truth over several seeds, and writes
DIR/results.json and DIR/report.html.

  --out DIR            where everything goes (default ual-demo); must be new, empty or a previous demo's
  --seeds N            fine-tuning seeds (default 3); 95% intervals over seeds: logit-t for values in [0, 1],
                       Student-t for silhouette and differences
  --quick              a small, fast run of the same pipeline (under a minute; numbers are rough)
  --jobs N             fine-tune/evaluate runs at a time, each in its own process with one BLAS thread
                       (default: 2 with 2+ cores; 1 runs them one by one in this process, as before)
  --base-url URL       elicit from this OpenAI-compatible server (verbalized) instead of the demo's teacher
  --model NAME         the judge model at --base-url
  --api-key-env VAR    environment variable with the judge's API key (default OPENAI_API_KEY; never logged)
  --json               print {out, results, report, elapsed_s} as JSON on the last line of stdout`;

/** A line when the stage changes, otherwise at most one every few seconds: readable in a terminal and in CI logs. */
function progressPrinter(): (p: DemoProgress) => void {
  let stage = '', last = 0;
  return (p) => {
    const now = Date.now();
    if (p.stage === stage && now - last < 5000) return;
    stage = p.stage;
    last = now;
    process.stderr.write(`demo [${p.stage}] ${(100 * p.fraction).toFixed(0)}% · ${fmtDuration(p.elapsedS)} elapsed · eta ${fmtDuration(p.etaS)}\n`);
  };
}

export const command: Command = {
  name: NAME,
  summary: 'run the offline end-to-end UAL experiment and write results.json + report.html',
  usage: USAGE,
  async run(argv) {
    const v = parseOptions(NAME, argv, OPTIONS);
    const out = (v.out as string | undefined) ?? 'ual-demo';
    const seeds = numOpt(NAME, 'seeds', v.seeds as string | undefined, 3, { int: true, min: 1, max: 30 });
    const jobs = numOpt(NAME, 'jobs', v.jobs as string | undefined, Math.min(2, os.availableParallelism()), { int: true, min: 1, max: 64 });
    const baseURL = v['base-url'] as string | undefined;
    const model = v.model as string | undefined;
    if ((baseURL === undefined) !== (model === undefined)) throw new UsageError('--base-url and --model go together: the judge server and its model');
    const judge: JudgeSettings | undefined = baseURL && model
      ? { baseURL: baseURL.replace(/\/+$/, ''), model, apiKey: resolveApiKey(v['api-key-env'] as string | undefined, baseURL, true) }
      : undefined;
    const t0 = Date.now();
    await runDemo({
      out, seeds, quick: !!v.quick, judge, jobs, onProgress: progressPrinter(),
      onLog: (line) => process.stderr.write(`demo: ${line}\n`),
    });
    const report = path.join(out, REPORT_FILE);
    await writeReport([out], report);
    const elapsed = (Date.now() - t0) / 1000;
    process.stderr.write(`demo: done in ${fmtDuration(elapsed)}: ${path.join(out, RESULTS_FILE)}, ${report}\n`);
    if (v.json) printJson({ out, results: path.join(out, RESULTS_FILE), report, elapsed_s: Math.round(elapsed * 10) / 10 });
    return 0;
  },
};
