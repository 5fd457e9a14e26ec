// The report's section for one `ual train --out` run: how loss and learning rate moved, and the resolved options.
import type { StepRow } from './load.js';
import { lineChart, toSvg } from './charts.js';
import { esc } from '../../util/escape.js';
import { mean } from '../../util/stats.js';
import { fmt } from './format.js';
import { figure, kvTable } from './html.js';

export async function trainSection(config: Record<string, unknown>, steps: StepRow[], dir: string, id: string): Promise<string> {
  const last = steps[steps.length - 1];
  const speeds = steps.map((s) => s.tokens_per_s).filter((v): v is number => typeof v === 'number');
  const curve = (y: (s: StepRow) => number) => steps.map((s) => ({ series: dir, color: dir, step: s.step, y: y(s) }));
  const html = [
    `<h2 id="${id}">training run: ${esc(dir)}</h2>`,
    `<p class="what">What this is: a run written by <code>ual train --out</code>: ${fmt(steps.length)} optimizer steps recorded in metrics.jsonl, ` +
      `final loss ${fmt(last.loss)} at step ${fmt(last.step)}` +
      (speeds.length ? `, ${fmt(mean(speeds))} tokens/s on average` : '') + '.</p>',
    `<h3 id="${id}-loss">Loss and learning rate</h3>`,
    '<div class="panels">',
    figure(await toSvg(lineChart(curve((s) => s.loss), 'training loss', [dir]), `${id}-c1`), 'Training loss per optimizer step (mean over the step\'s target tokens).'),
    figure(await toSvg(lineChart(curve((s) => s.lr), 'learning rate', [dir], { zero: true }), `${id}-c2`), 'Learning rate per optimizer step (after warmup and schedule).'),
    '</div>',
    `<h3 id="${id}-config">Options (train_config.json)</h3>`,
    kvTable(config, 'train_config'),
  ];
  return html.join('\n');
}
