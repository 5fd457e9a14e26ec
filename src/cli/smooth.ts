// `ual smooth`: turn each row's uncertainty score into its label-smoothing epsilon. Parses flags, prints the
// summary (mean, quantiles, a histogram) on stderr and, with --json, one JSON object on stdout; work is in src/pipeline.
import { smooth, SMOOTH_FLAGS, type SmoothSummary } from '../pipeline/smooth.js';
import { flags } from '../util/options.js';
import { finish, jsonFlag, tableCommand, type Command } from './command.js';

const NAME = 'smooth';

const HEAD = `usage: ual smooth --data SCORED.jsonl --out SMOOTHED.jsonl --mapping paper --target-mean 0.1 [options]

Maps each row's "uncertainty" (0-99, from "ual elicit") to "epsilon", the label smoothing that row is trained
with under --loss ual. Every row is written back in order with every field kept (a .json --out writes a JSON array).`;

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

export const command: Command = tableCommand({
  name: NAME,
  summary: 'map uncertainty scores to per-row label smoothing (epsilon)',
  head: HEAD,
  options: flags({ ...SMOOTH_FLAGS, ...jsonFlag('the summary') }),
  async run(o) {
    if (o.targetMean !== undefined && (o.mapping === 'linear' || o.mapping === 'none')) {
      process.stderr.write(`smooth: note: --target-mean is not used by --mapping ${o.mapping}\n`);
    }
    const summary = await smooth(o);
    return finish(report(summary), summary, o.json);
  },
});
