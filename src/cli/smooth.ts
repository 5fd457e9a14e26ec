// `ual smooth`: turn each row's uncertainty score into its label-smoothing epsilon. Parses flags, prints the
// summary (mean, quantiles, a histogram) on stderr and, with --json, one JSON object on stdout; work is in src/pipeline.
import { UsageError } from '../errors.js';
import { smooth, type SmoothSummary } from '../pipeline/smooth.js';
import { isMappingName, MAPPINGS } from '../uncertainty/mapping.js';
import { numOpt, parseOptions, printJson, requireOpt, type Command, type OptionSpec } from './command.js';

const NAME = 'smooth';

const OPTIONS: OptionSpec = {
  data: { type: 'string' },
  out: { type: 'string' },
  'target-mean': { type: 'string' },
  mapping: { type: 'string' },
  min: { type: 'string' },
  max: { type: 'string' },
  'skip-bad-rows': { type: 'boolean' },
  json: { type: 'boolean' },
};

const USAGE = `usage: ual smooth --data SCORED.jsonl --out SMOOTHED.jsonl --mapping paper --target-mean 0.1 [options]

Maps each row's "uncertainty" (0-99, from "ual elicit") to "epsilon", the label smoothing that row is trained
with under --loss ual. Every row is written back in order with every field kept (a .json --out writes a JSON array).

  --data FILE          JSONL or JSON array of rows with "uncertainty"
  --out FILE           written atomically (nothing is written on error); may equal --data
  --mapping M          paper     epsilon proportional to the score, rescaled to mean --target-mean, clipped to
                                 [--min, --max], repeated until the mean is within 1e-3 (the UAL recipe)
                       linear    score 0 -> --min, 99 -> --max, row by row (defaults: epsilon = score / 100)
                       constant  every row --target-mean (plain label smoothing; needs no scores)
                       none      every row 0 (plain SFT; needs no scores)
  --target-mean M      the mean epsilon (paper, constant)
  --min E, --max E     clip bounds (paper) or end points (linear); default 0 and 0.99
  --skip-bad-rows      leave out rows without a valid "uncertainty" (counted) instead of stopping
  --json               print the summary as one JSON object on the last line of stdout`;

const f3 = (x: number) => x.toFixed(3);

/** The summary for people: counts, mean, quantiles and a bar per histogram bin. */
export function report(s: SmoothSummary): string {
  const q = s.quantiles;
  const lines = [
    `smooth: ${s.rows} rows -> ${s.out} (mapping ${s.mapping}${s.target_mean !== null ? `, target mean ${s.target_mean}` : ''})` +
      (s.skipped ? `; ${s.skipped} skipped (first: ${s.skipped_reasons[0]})` : '') +
      (s.overwritten ? `; ${s.overwritten} rows had an epsilon, replaced` : ''),
    `  epsilon mean ${s.mean.toFixed(4)}  std ${f3(s.std)}` + (s.score_mean !== null ? `  (uncertainty mean ${s.score_mean.toFixed(1)})` : '') +
      (s.mapping === 'paper' ? `  ${s.iterations} rounds, ${s.clipped_high} rows at ${s.max}, ${s.clipped_low} at ${s.min}` : ''),
    `  quantiles min ${f3(q.min)}  p10 ${f3(q.p10)}  p25 ${f3(q.p25)}  p50 ${f3(q.p50)}  p75 ${f3(q.p75)}  p90 ${f3(q.p90)}  max ${f3(q.max)}`,
  ];
  const { edges, counts } = s.histogram;
  const most = Math.max(...counts);
  const width = 40;
  counts.forEach((c, i) => {
    const bar = '█'.repeat(Math.round((c / most) * width)) || (c ? '▏' : '');
    lines.push(`  ${f3(edges[i])}-${f3(edges[i + 1])} ${bar.padEnd(width)} ${c}`);
  });
  return lines.join('\n');
}

export const command: Command = {
  name: NAME,
  summary: 'map uncertainty scores to per-row label smoothing (epsilon)',
  usage: USAGE,
  async run(argv) {
    const v = parseOptions(NAME, argv, OPTIONS);
    const data = requireOpt(NAME, 'data', v.data as string | undefined);
    const out = requireOpt(NAME, 'out', v.out as string | undefined);
    const mapping = requireOpt(NAME, 'mapping', v.mapping as string | undefined);
    if (!isMappingName(mapping)) throw new UsageError(`--mapping must be one of ${MAPPINGS.join(', ')}, got "${mapping}"`);
    const opt = (name: string) => (v[name] === undefined ? undefined : numOpt(NAME, name, v[name] as string));
    const targetMean = opt('target-mean');
    if (targetMean !== undefined && (mapping === 'linear' || mapping === 'none')) {
      process.stderr.write(`smooth: note: --target-mean is not used by --mapping ${mapping}\n`);
    }
    const summary = await smooth({
      data, out, mapping, targetMean, min: opt('min'), max: opt('max'), skipBadRows: !!v['skip-bad-rows'],
    });
    process.stderr.write(report(summary) + '\n');
    if (v.json) printJson(summary);
    return 0;
  },
};
