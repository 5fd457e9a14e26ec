// `ual demo`: the offline end-to-end UAL experiment on the embedded benchmark (src/pipeline/demo), with stage
// progress and ETA on stderr, results.json and report.html in --out.
import os from 'node:os';
import path from 'node:path';
import { DEMO_FLAGS, runDemo } from '../pipeline/demo/run.js';
import type { DemoProgress } from '../pipeline/demo/clock.js';
import { REPORT_FILE, RESULTS_FILE } from '../pipeline/demo/results.js';
import { writeReport } from '../pipeline/report/index.js';
import { flags } from '../util/options.js';
import { fmtDuration } from './progress.js';
import { jsonFlag, printJson, tableCommand, type Command } from './command.js';

const HEAD = `usage: ual demo [--out DIR] [--seeds N] [--quick] [--jobs N] [--base-url URL --model NAME]

Runs Uncertainty-Aware Learning end to end on a benchmark the demo generates (arithmetic word problems with one
right answer; open requests with a known answer distribution), with no downloads: pre-trains a small base model,
trains a stronger teacher, elicits each training row's uncertainty from it, fine-tunes SFT, LS, UAL and the oracle
UAL from the same base with equal budgets, scores them against ground truth over several seeds, and writes
DIR/results.json and DIR/report.html. A relative DIR is taken from where you are, under "npm run demo" too.`;

/** A line when the stage changes, otherwise at most one every few seconds: readable in a terminal and in CI logs. */
export function progressPrinter(name = 'demo'): (p: DemoProgress) => void {
  let stage = '', last = 0;
  return (p) => {
    const now = Date.now();
    if (p.stage === stage && now - last < 5000) return;
    stage = p.stage;
    last = now;
    process.stderr.write(`${name} [${p.stage}] ${(100 * p.fraction).toFixed(0)}% · ${fmtDuration(p.elapsedS)} elapsed · eta ${fmtDuration(p.etaS)}\n`);
  };
}

/**
 * Where the user ran the command: npm runs package scripts in the package's root, and tells the caller's
 * directory in INIT_CWD (`npm run demo -- --out DIR` means DIR from there, not inside the package).
 */
export function callerDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.npm_lifecycle_event !== undefined && env.INIT_CWD ? env.INIT_CWD : process.cwd();
}

export const command: Command = tableCommand({
  name: 'demo',
  summary: 'run the offline end-to-end UAL experiment and write results.json + report.html',
  head: HEAD,
  options: flags({ ...DEMO_FLAGS, ...jsonFlag('{out, results, report, elapsed_s}') }),
  async run(o) {
    const out = path.resolve(callerDir(), o.out);
    const t0 = Date.now();
    await runDemo({
      ...o, out, jobs: o.jobs ?? Math.min(2, os.availableParallelism()), onProgress: progressPrinter(),
      onLog: (line) => process.stderr.write(`demo: ${line}\n`),
    });
    const report = path.join(out, REPORT_FILE);
    await writeReport([out], report);
    const elapsed = (Date.now() - t0) / 1000;
    process.stderr.write(`demo: done in ${fmtDuration(elapsed)}: ${path.join(out, RESULTS_FILE)}, ${report}\n`);
    if (o.json) printJson({ out, results: path.join(out, RESULTS_FILE), report, elapsed_s: Math.round(elapsed * 10) / 10 });
    return 0;
  },
});
