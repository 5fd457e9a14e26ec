// The report's figures as Vega-Lite specs, rendered to SVG strings in Node (no browser, no canvas, no network),
// so the HTML carries them inline and opens anywhere.
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import type { EpsilonRow } from '../demo/results.js';

const CONFIG = { font: 'Helvetica, Arial, sans-serif', view: { stroke: '#ddd' }, axis: { labelFontSize: 10, titleFontSize: 11 } };
const ENTROPY_COLORS = { domain: ['low', 'high'], range: ['#4c78a8', '#f58518'] };

/**
 * Render to SVG. Vega numbers its clip paths and gradients from 1 in every chart; `idPrefix` makes them unique
 * so that many charts can share one HTML page without borrowing each other's clips.
 */
export async function toSvg(spec: TopLevelSpec, idPrefix: string): Promise<string> {
  const view = new vega.View(vega.parse(compile({ config: CONFIG, background: 'white', ...spec } as TopLevelSpec).spec), { renderer: 'none' });
  try {
    const svg = await view.toSVG();
    return svg.replace(/ id="([^"]+)"/g, ` id="${idPrefix}-$1"`).replace(/url\(#([^)]+)\)/g, `url(#${idPrefix}-$1)`);
  } finally {
    view.finalize();
  }
}

/** One line per series (a run), coloured by `color` (its method); `colors` fixes the legend's order (none for one colour). */
export function lineChart(points: { series: string; color: string; step: number; y: number }[], yTitle: string, colors: string[],
  opts: { zero?: boolean } = {}): TopLevelSpec {
  return {
    width: 520, height: 240,
    data: { values: points },
    mark: { type: 'line', strokeWidth: 1.2, opacity: 0.8 },
    encoding: {
      x: { field: 'step', type: 'quantitative', title: 'optimizer step' },
      y: { field: 'y', type: 'quantitative', title: yTitle, scale: { zero: opts.zero ?? false } },
      color: { field: 'color', type: 'nominal', title: null, scale: { domain: colors }, ...(colors.length > 1 ? {} : { legend: null }) },
      detail: { field: 'series', type: 'nominal' },
    },
  };
}

/** Epsilon per training row, elicited (method ual) beside oracle (ual-oracle), stacked by the prompt's entropy. */
export function epsilonHistogram(rows: EpsilonRow[]): TopLevelSpec {
  const values = rows.flatMap((r) => [
    { variant: 'from the elicited score (ual)', epsilon: r.epsilon, entropy: r.entropy },
    { variant: 'from the oracle entropy (ual-oracle)', epsilon: r.oracle_epsilon, entropy: r.entropy },
  ]);
  return {
    width: 300, height: 200,
    data: { values },
    mark: 'bar',
    encoding: {
      column: { field: 'variant', type: 'nominal', title: null },
      x: { field: 'epsilon', type: 'quantitative', bin: { maxbins: 25 }, title: 'epsilon' },
      y: { aggregate: 'count', type: 'quantitative', title: 'training rows' },
      color: { field: 'entropy', type: 'nominal', title: 'prompt entropy', scale: ENTROPY_COLORS },
    },
  };
}

/** One metric by task type: a bar per method (grouped), the rule from lo to hi is the 95% interval over seeds. */
export function perTypeBars(rows: { type: string; method: string; mean: number; lo: number; hi: number }[], yTitle: string,
  types: string[], methods: string[]): TopLevelSpec {
  const x = { field: 'type', type: 'nominal', sort: types, title: null, axis: { labelAngle: -30 } } as const;
  const xOffset = { field: 'method', type: 'nominal', sort: methods } as const;
  return {
    width: { step: 18 }, height: 200, // the step of one bar: xOffset splits each type's band
    data: { values: rows },
    encoding: { x, xOffset },
    layer: [
      { mark: 'bar', encoding: { y: { field: 'mean', type: 'quantitative', title: yTitle }, color: { field: 'method', type: 'nominal', title: null, scale: { domain: methods } } } },
      { mark: { type: 'rule', color: '#333' }, encoding: { y: { field: 'lo', type: 'quantitative' }, y2: { field: 'hi' } } },
    ],
  };
}

/** One panel of the cluster scatter: a model's hidden states before two next tokens, on the pair's first two principal components. */
export interface ScatterPanel {
  title: string;
  /** the two next tokens as the legend shows them (quoted text, or "id N") */
  tokens: [string, string];
  points: { x: number; y: number; label: 0 | 1 }[];
}

/** The one cluster scatter, of the report and of `ual analyze clusters --svg`: a point per state, coloured by its next token. */
export function clusterScatter(panel: ScatterPanel): TopLevelSpec {
  const [a, b] = panel.tokens;
  return {
    title: { text: panel.title, fontSize: 11 },
    width: 200, height: 160,
    data: { values: panel.points.map((p) => ({ x: p.x, y: p.y, token: p.label === 0 ? a : b })) },
    mark: { type: 'point', filled: true, size: 14, opacity: 0.6 },
    encoding: {
      x: { field: 'x', type: 'quantitative', title: 'PC 1', scale: { zero: false } },
      y: { field: 'y', type: 'quantitative', title: 'PC 2', scale: { zero: false } },
      color: { field: 'token', type: 'nominal', title: 'next token', scale: { domain: [a, b], range: ['#4c78a8', '#e45756'] }, legend: { orient: 'bottom' } },
    },
  };
}

/** Panels side by side under one heading (one legend, each panel its own axes) as a self-contained SVG file. */
export function clusterScatterSvg(panels: ScatterPanel[], heading: string): Promise<string> {
  return toSvg({ title: heading, hconcat: panels.map(clusterScatter) } as TopLevelSpec, 'clusters');
}

/** `ual sweep`: a metric against the mean epsilon, a line per method, the rule from lo to hi its 95% interval over seeds. */
export function sweepChart(rows: { method: string; target_mean: number; mean: number; lo: number; hi: number }[], yTitle: string,
  methods: string[]): TopLevelSpec {
  const x = { field: 'target_mean', type: 'quantitative', title: 'mean epsilon', scale: { zero: false } } as const;
  const color = { field: 'method', type: 'nominal', title: null, scale: { domain: methods } } as const;
  return {
    width: 260, height: 180,
    data: { values: rows },
    encoding: { x, color },
    layer: [
      { mark: { type: 'line', point: true }, encoding: { y: { field: 'mean', type: 'quantitative', title: yTitle, scale: { zero: false } } } },
      { mark: { type: 'rule' }, encoding: { y: { field: 'lo', type: 'quantitative' }, y2: { field: 'hi' } } },
    ],
  };
}
