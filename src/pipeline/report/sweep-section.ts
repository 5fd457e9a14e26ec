// The report's section for `ual sweep` (sweep.json): per method and mean epsilon every metric with its 95% interval
// over seeds, and a chart per metric of its value against the mean epsilon.
import { esc } from '../../util/escape.js';
import type { SweepResults } from '../demo/results.js';
import { figure } from './html.js';
import { sweepChart, toSvg } from './charts.js';
import { fmt } from './format.js';

export async function sweepSection(r: SweepResults, dir: string, id: string): Promise<string> {
  const label = new Map(r.methods.map((m) => [m.id, m.label]));
  const means = r.config.target_means;
  const cell = (method: string, mean: number, metric: string) => {
    const x = r.table.find((t) => t.method === method && t.target_mean === mean && t.metric === metric);
    return x ? `<td data-method="${esc(method)}" data-mean="${mean}" data-metric="${esc(metric)}">${fmt(x.mean)}<span class="ci">[${fmt(x.lo)}, ${fmt(x.hi)}]</span></td>` : '<td class="na">n/a</td>';
  };
  const head = `<tr><th>method</th><th>mean epsilon</th>${r.metrics.map((m) => `<th>${esc(m.label)} ${m.higher_is_better ? '↑' : '↓'}</th>`).join('')}</tr>`;
  const body = r.methods.flatMap((m) => means.map((mean) =>
    `<tr><th scope="row">${esc(m.label)}</th><td>${fmt(mean)}</td>${r.metrics.map((x) => cell(m.id, mean, x.id)).join('')}</tr>`));
  const charts: string[] = [];
  for (const metric of r.metrics) {
    const rows = r.table.filter((t) => t.metric === metric.id).map((t) => ({ ...t, method: label.get(t.method) ?? t.method }));
    const svg = await toSvg(sweepChart(rows, `${metric.label} ${metric.higher_is_better ? '↑' : '↓'}`, r.methods.map((m) => m.label)), `${id}-sweep-${metric.id}`);
    charts.push(figure(svg, `${metric.label} against the mean epsilon (${metric.description}); bars: 95% interval over seeds`));
  }
  return [
    `<h2 id="${id}">ual sweep: ${esc(dir)}</h2>`,
    `<p class="what">What this is: the demo's benchmark fine-tuned at several mean epsilons (${means.map(fmt).join(', ')}) — ` +
      'UAL\'s per-row epsilons mapped to each mean, LS\'s constant epsilon equal to it, the -teacher methods smoothing toward the ' +
      `teacher's top-k — with the same base, data, steps and evaluation as <code>ual demo</code>, over seeds ${r.config.seeds.join(', ')}. ` +
      'Each cell is the mean over seeds with a 95% interval (logit-t for values in [0, 1], Student-t for the silhouette).</p>',
    `<table data-table="sweep"><thead>${head}</thead><tbody>${body.join('')}</tbody></table>`,
    `<div class="panels">${charts.join('\n')}</div>`,
  ].join('\n');
}
