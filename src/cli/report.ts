// `ual report`: one self-contained HTML file from `ual demo` results and `ual train` runs. Parses flags and prints
// where the report went; the work is in src/pipeline/report.
import { UsageError } from '../errors.js';
import { flags } from '../util/options.js';
import { finish, jsonFlag, tableCommand, type Command } from './command.js';

const NAME = 'report';

const HEAD = `usage: ual report DIR [DIR ...] --out FILE.html [--json]

Writes one HTML file (inline CSS and SVG charts; no scripts, nothing loaded from the network) with a section per DIR:
  a "ual demo" folder (results.json)   results per method with 95% intervals over seeds, paired differences,
                                       every run, loss curves, epsilon histogram, per-task-type bars, token
                                       clusters, elicitation quality, configuration and versions
  a "ual train --out" run folder       loss and learning-rate curves, the resolved options (train_config.json)
  judge.jsonl in a folder (from        raw and length-controlled win rate with standard errors, average lengths,
    "ual eval judge --out DIR/judge.jsonl", alone or beside the above)  the fitted length effect`;

export const command: Command = tableCommand({
  name: NAME,
  summary: 'one self-contained HTML report from demo results and training runs',
  head: HEAD,
  options: flags({
    out: { flag: 'out', kind: 'string', arg: 'FILE', required: true, help: 'the HTML file, written atomically (nothing is written on error)' },
    ...jsonFlag('{"out", "sections", "bytes"}'),
  }),
  positionals: true,
  async run(o, { positionals: dirs }) {
    if (dirs.length === 0) throw new UsageError(`ual ${NAME}: give at least one DIR`, `run "ual ${NAME} --help"`);
    // loaded here, not at the top: vega takes ~0.5 s to import, which "ual --help" (it lists every command) should not pay
    const { writeReport } = await import('../pipeline/report/index.js');
    const summary = await writeReport(dirs, o.out);
    return finish(`report: ${summary.sections.length} section${summary.sections.length > 1 ? 's' : ''} -> ${o.out} (${(summary.bytes / 1024).toFixed(0)} KB)`, summary, o.json);
  },
});
