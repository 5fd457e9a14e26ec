// The report's section for one `ual demo`: what was compared, the tables a claim rests on (mean and 95% interval
// over seeds, paired differences, every seed), and the figures behind them.
import { esc } from '../../util/escape.js';
import type { DemoResults, IntervalKind, MetricInfo } from '../demo/results.js';
import { clusterScatter, epsilonHistogram, lineChart, perTypeBars, toSvg } from './charts.js';
import { fmt } from './format.js';
import { figure, kvTable } from './html.js';

const TASKS = { low: 'low-entropy prompts', high: 'high-entropy prompts', all: 'all prompts' };
const arrow = (m: MetricInfo) => (m.higher_is_better ? '↑' : '↓');

function metricHeader(m: MetricInfo): string {
  return `<th scope="col" data-metric="${esc(m.id)}" title="${esc(m.description)}">${esc(m.label)} ${arrow(m)}<br><small>${TASKS[m.tasks]}</small></th>`;
}

/** What each interval kind is, in words a reader can check a cell against (src/util/stats.ts computes them). */
const INTERVALS: Record<IntervalKind, { name: string; how: string }> = {
  'logit-t': {
    name: '95% logit-t interval over seeds',
    how: 'a Student-t interval of the seeds\' logits, each seed\'s value p over n samples taken as (p·n + 0.5)/(n + 1), mapped back; it stays inside [0, 1]',
  },
  t: { name: '95% Student-t interval over seeds', how: 'mean ± t(n − 1)·sd/√n' },
};

/** The footnote naming the interval of each metric's cells. */
function intervalNote(rows: readonly { metric: string; interval: IntervalKind }[], metrics: readonly MetricInfo[]): string {
  const parts = (Object.keys(INTERVALS) as IntervalKind[]).flatMap((kind) => {
    const ids = new Set(rows.filter((x) => x.interval === kind).map((x) => x.metric));
    const labels = metrics.filter((m) => ids.has(m.id)).map((m) => m.label);
    return labels.length ? [`${labels.join(', ')}: ${INTERVALS[kind].name} (${INTERVALS[kind].how}).`] : [];
  });
  return parts.length ? `<p class="note" data-note="intervals">Intervals — ${esc(parts.join(' '))}</p>` : '';
}

function intervalCell(attrs: string, e: { mean: number; lo: number; hi: number } | undefined, cls = ''): string {
  if (!e) return `<td ${attrs} class="na">—</td>`;
  return `<td ${attrs}${cls ? ` class="${cls}"` : ''}><span class="mean">${fmt(e.mean)}</span> <span class="ci">[${fmt(e.lo)}, ${fmt(e.hi)}]</span></td>`;
}

export async function demoSection(r: DemoResults, dir: string, id: string): Promise<string> {
  const label = new Map(r.methods.map((m) => [m.id, m.label]));
  const oracle = new Set(r.methods.filter((m) => m.oracle).map((m) => m.id));
  const methodLabels = r.methods.map((m) => m.label);
  const methodHeader = (method: string) => `<th scope="row" data-method="${esc(method)}">${esc(label.get(method)!)}` +
    (oracle.has(method) ? ' <span class="tag">oracle uncertainty</span>' : '') + '</th>';
  const rowClass = (method: string) => (oracle.has(method) ? ' class="oracle"' : '');
  let charts = 0;
  const chart = (spec: Parameters<typeof toSvg>[0]) => toSvg(spec, `${id}-c${++charts}`);
  const out: string[] = [];
  const h3 = (key: string, title: string) => out.push(`<h3 id="${id}-${key}">${esc(title)}</h3>`);

  const c = r.config;
  out.push(`<h2 id="${id}">ual demo: ${esc(dir)}</h2>`,
    `<p class="what">What this is: the results of <code>ual demo</code> (created ${esc(r.created)}${c.quick ? ', quick mode' : ''}). ` +
    `A small base model is fine-tuned on the demo's benchmark once per method and seed (seeds ${esc(c.seeds.join(', '))}), with equal ` +
    'training budgets, then evaluated on held-out prompts. Each number is the mean over seeds with a two-sided 95% interval over seeds ' +
    'in brackets (which interval is named under each table); ↑ marks metrics where higher is better, ↓ where lower is. A method tagged "oracle uncertainty" is given ' +
    'perfect uncertainty estimates (from the true answer distribution, which a real user does not have): it bounds what better ' +
    'elicitation could do for the method, not what the method can reach on every metric.</p>',
    `<dl class="legend">${r.methods.map((m) => `<dt>${esc(m.label)}${m.oracle ? ' <span class="tag">oracle uncertainty</span>' : ''}</dt><dd>${esc(m.description)}</dd>`).join('')}` +
    `${r.metrics.map((m) => `<dt>${esc(m.label)} ${arrow(m)}</dt><dd>${esc(m.description)} (${TASKS[m.tasks]})</dd>`).join('')}</dl>`);

  h3('results', 'Results: mean [95% interval] over seeds');
  const summary = new Map(r.summary.map((s) => [`${s.method}\n${s.metric}`, s]));
  out.push(`<table data-table="summary"><thead><tr><th scope="col">method</th>${r.metrics.map(metricHeader).join('')}</tr></thead><tbody>${r.methods.map((m) => `<tr${rowClass(m.id)}>${methodHeader(m.id)}` +
    r.metrics.map((k) => intervalCell(`data-method="${esc(m.id)}" data-metric="${esc(k.id)}"`, summary.get(`${m.id}\n${k.id}`))).join('') + '</tr>').join('')}</tbody></table>`,
    intervalNote(r.summary, r.metrics));

  h3('differences', 'Paired differences over seeds: mean [95% interval]');
  const pairs = [...new Map(r.differences.map((d) => [`${d.a}\n${d.b}`, d])).values()];
  const diff = new Map(r.differences.map((d) => [`${d.a}\n${d.b}\n${d.metric}`, d]));
  const diffCell = (a: string, b: string, m: MetricInfo) => {
    const d = diff.get(`${a}\n${b}\n${m.id}`);
    const sig = d && (d.lo > 0 || d.hi < 0) ? `sig ${(d.mean > 0) === m.higher_is_better ? 'better' : 'worse'}` : '';
    return intervalCell(`data-a="${esc(a)}" data-b="${esc(b)}" data-metric="${esc(m.id)}"`, d, sig);
  };
  out.push(pairs.length ? '<p>Same seed, same data order and initialisation: the difference is taken per seed, then its interval. ' +
    'Shaded cells exclude 0 (green: the first method is better, red: worse).</p>' +
    `<table data-table="differences"><thead><tr><th scope="col">difference</th>${r.metrics.map(metricHeader).join('')}</tr></thead><tbody>` +
    pairs.map(({ a, b }) => `<tr><th scope="row">${esc(label.get(a)!)} − ${esc(label.get(b)!)}</th>${r.metrics.map((m) => diffCell(a, b, m)).join('')}</tr>`).join('') +
    '</tbody></table>' + intervalNote(r.differences, r.metrics) : '<p class="na">No paired differences in results.json.</p>');

  h3('seeds', 'Every run');
  const order = new Map(r.methods.map((m, i) => [m.id, i]));
  const runs = [...r.runs].sort((x, y) => order.get(x.method)! - order.get(y.method)! || x.seed - y.seed);
  out.push(`<table data-table="runs"><thead><tr><th scope="col">method</th><th scope="col">seed</th>${r.metrics.map(metricHeader).join('')}` +
    '<th scope="col">training s</th></tr></thead><tbody>' +
    runs.map((run) => `<tr${rowClass(run.method)}>${methodHeader(run.method)}<td data-method="${esc(run.method)}" data-seed="${run.seed}">${fmt(run.seed)}</td>` +
      r.metrics.map((m) => {
        const v = run.metrics[m.id];
        return `<td data-method="${esc(run.method)}" data-seed="${run.seed}" data-metric="${esc(m.id)}"${v === undefined ? ' class="na">—' : `>${fmt(v)}`}</td>`;
      }).join('') + `<td data-method="${esc(run.method)}" data-seed="${run.seed}" data-metric="train_seconds">${fmt(run.train_seconds)}</td></tr>`).join('') +
    '</tbody></table>');

  h3('loss', 'Training loss');
  const points = r.runs.flatMap((run) => run.loss_curve.map((p) => ({ series: `${run.method} ${run.seed}`, color: label.get(run.method)!, step: p.step, y: p.loss })));
  out.push(points.length ? figure(await chart(lineChart(points, 'training loss', methodLabels)), 'One line per run (method × seed), colour = method.')
    : '<p class="na">No loss curves in results.json.</p>');

  h3('epsilon', 'Label smoothing per training row');
  out.push(r.epsilon.length
    ? figure(await chart(epsilonHistogram(r.epsilon)), 'Epsilon each UAL variant trained each row with, by the entropy of the row\'s prompt: ' +
      'high-entropy (open-ended) prompts should get larger epsilon than low-entropy (precise) ones.')
    : '<p class="na">No epsilon rows in results.json.</p>');

  h3('types', 'By task type');
  const typeLabel = new Map(r.task_types.map((t) => [t.id, `${t.label} (${t.entropy})`]));
  const typeOrder = r.task_types.map((t) => typeLabel.get(t.id)!);
  const bars: string[] = [];
  for (const m of r.metrics) {
    const own = r.per_type.filter((p) => p.metric === m.id);
    const rows = own.map((p) => ({ type: typeLabel.get(p.type)!, method: label.get(p.method)!, mean: p.mean, lo: p.lo, hi: p.hi }));
    const intervals = [...new Set(own.map((p) => INTERVALS[p.interval].name))].join(' or ');
    if (rows.length) bars.push(figure(await chart(perTypeBars(rows, `${m.label} ${arrow(m)}`, typeOrder, methodLabels)), `${m.label} per task type: mean over seeds, line = ${intervals}.`));
  }
  out.push(bars.length ? `<div class="panels">${bars.join('')}</div>` : '<p class="na">No per-type results in results.json.</p>');

  h3('clusters', 'Feature space: token clusters');
  const panels: string[] = [];
  for (const p of r.clusters) {
    const tokens = p.tokens.map((t) => JSON.stringify(t)) as [string, string];
    const title = `${label.get(p.method)!} seed ${p.seed}: ${tokens[0]} vs ${tokens[1]}, silhouette ${fmt(p.silhouette)}`;
    panels.push(await chart(clusterScatter({ title, tokens, points: p.points })));
  }
  out.push(panels.length ? `<p>Final hidden states before two next tokens, projected on their first two principal components; ` +
    `a higher silhouette means the two tokens' states are better separated.</p><div class="panels">${panels.join('')}</div>` : '<p class="na">No cluster panels in results.json.</p>');

  h3('elicitation', 'Elicitation quality');
  out.push('<p>How the uncertainty scores were elicited and how well they agree with the oracle (the true answer distribution).</p>', kvTable(c.elicitation, 'elicitation'));

  h3('config', 'Configuration and versions');
  out.push('<div class="panels">',
    ...(['benchmark', 'base', 'teacher', 'finetune', 'evaluation', 'versions'] as const).map((k) => `<div><h4>${k}</h4>${kvTable(c[k], k)}</div>`),
    `<div><h4>run</h4>${kvTable({ quick: c.quick, seeds: c.seeds, elapsed_s: c.elapsed_s, created: r.created }, 'run')}</div>`, '</div>');
  return out.join('\n');
}
