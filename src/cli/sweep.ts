// `ual sweep`: the demo's benchmark fine-tuned at several mean epsilons (src/pipeline/demo/sweep.ts), with stage
// progress and ETA on stderr, sweep.json and report.html (table and metric-vs-epsilon charts) in --out.
import os from 'node:os';
import path from 'node:path';
import { runSweep, SWEEP_FLAGS } from '../pipeline/sweep.js';
import { REPORT_FILE, SWEEP_FILE } from '../pipeline/demo/results.js';
import { writeReport } from '../pipeline/report/index.js';
import { flags } from '../util/options.js';
import { fmtDuration } from './progress.js';
import { jsonFlag, printJson, tableCommand, type Command } from './command.js';
import { callerDir, progressPrinter } from './demo.js';

const HEAD = `usage: ual sweep [--target-means LIST] [--methods LIST] [--out DIR] [--seeds N] [--quick] [--jobs N]

Picks the mean epsilon: on the demo's benchmark (the same base model, teacher, elicited scores and evaluation as
ual demo), fine-tunes each method of --methods at each mean epsilon of --target-means for every seed — UAL's
per-row epsilons mapped to that mean (ual smooth --target-mean), LS's constant epsilon equal to it, the -teacher
methods smoothing toward the teacher's top-k — and writes DIR/sweep.json (every run; per method and mean, each
metric with its 95% interval over seeds) and DIR/report.html (the table and a chart per metric against epsilon).`;

export const command: Command = tableCommand({
  name: 'sweep',
  summary: 'fine-tune at several mean epsilons on the demo benchmark: sweep.json + report.html',
  head: HEAD,
  options: flags({ ...SWEEP_FLAGS, ...jsonFlag('{out, results, report, elapsed_s}') }),
  async run(o) {
    const out = path.resolve(callerDir(), o.out);
    const t0 = Date.now();
    await runSweep({
      ...o, out, jobs: o.jobs ?? Math.min(2, os.availableParallelism()), onProgress: progressPrinter('sweep'),
      onLog: (line) => process.stderr.write(`sweep: ${line}\n`),
    });
    const report = path.join(out, REPORT_FILE);
    await writeReport([out], report);
    const elapsed = (Date.now() - t0) / 1000;
    process.stderr.write(`sweep: done in ${fmtDuration(elapsed)}: ${path.join(out, SWEEP_FILE)}, ${report}\n`);
    if (o.json) printJson({ out, results: path.join(out, SWEEP_FILE), report, elapsed_s: Math.round(elapsed * 10) / 10 });
    return 0;
  },
});
