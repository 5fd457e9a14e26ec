// `ual report`: one self-contained HTML file (inline CSS and SVG, no scripts, nothing fetched) from demo results,
// training runs and judged pairs, so results can be read, mailed or archived as a single file.
import { writeFileAtomic } from '../../util/atomic.js';
import { esc } from '../../util/escape.js';
import { demoSection } from './demo-section.js';
import { judgeSection } from './judge-section.js';
import { loadReportInput, type ReportSource } from './load.js';
import { sweepSection } from './sweep-section.js';
import { trainSection } from './train-section.js';

const CSS = `
body { font: 14px/1.45 Helvetica, Arial, sans-serif; color: #222; max-width: 1400px; margin: 2em auto; padding: 0 1em; }
h1 { font-size: 1.6em; } h2 { border-bottom: 2px solid #ccc; margin-top: 2.5em; padding-bottom: .2em; } h3 { margin-top: 1.8em; } h4 { margin: .5em 0 .3em; }
p.what { background: #f5f7fa; border-left: 4px solid #4c78a8; padding: .6em 1em; }
table { border-collapse: collapse; margin: .5em 0 1em; font-variant-numeric: tabular-nums; }
th, td { border: 1px solid #ddd; padding: .3em .6em; text-align: left; vertical-align: top; }
thead th { background: #f0f0f0; } td { white-space: nowrap; } table.kv td { white-space: normal; word-break: break-all; max-width: 36em; }
.ci { color: #666; font-size: .85em; display: block; } .na { color: #999; }
tr.oracle { background: #fbf6e9; font-style: italic; }
.tag { font-size: .75em; font-style: normal; background: #e8c468; color: #222; border-radius: 3px; padding: 0 .35em; white-space: nowrap; }
td.sig.better { background: #dff0d8; } td.sig.worse { background: #f7dede; }
dl.legend { display: grid; grid-template-columns: max-content auto; gap: .2em 1em; } dl.legend dd { margin: 0; }
figure { margin: 1em 0; } figcaption, p.note { color: #555; font-size: .9em; } svg { max-width: 100%; height: auto; }
.panels { display: flex; flex-wrap: wrap; gap: 1em; align-items: flex-start; }
nav ul { columns: 2; }`;

export interface ReportSummary {
  out: string;
  sections: { dir: string; kind: ReportSource['kind'] }[];
  bytes: number;
}

/** The whole HTML page for the given sources, in their order. */
export async function renderReport(sources: ReportSource[]): Promise<string> {
  const body: string[] = [];
  const toc: string[] = [];
  for (const [i, s] of sources.entries()) {
    const id = `s${i + 1}`;
    const html = s.kind === 'demo' ? await demoSection(s.results, s.dir, id)
      : s.kind === 'sweep' ? await sweepSection(s.results, s.dir, id)
        : s.kind === 'train' ? await trainSection(s.config, s.steps, s.dir, id) : judgeSection(s.items, s.results, s.dir, id);
    body.push(`<section>\n${html}\n</section>`);
    toc.push(`<li><a href="#${id}">${{ demo: 'ual demo', sweep: 'ual sweep', train: 'training run', judge: 'judge win rate' }[s.kind]}: ${esc(s.dir)}</a></li>`);
  }
  return ['<!doctype html>', '<html lang="en">', '<head>', '<meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    `<title>ual report: ${esc(sources.map((s) => s.dir).join(', '))}</title>`, `<style>${CSS}\n</style>`, '</head>', '<body>',
    '<h1>ual report</h1>', `<nav><ul>${toc.join('')}</ul></nav>`, ...body, '</body>', '</html>', ''].join('\n');
}

/** Read the folders, render, and write `outFile` atomically: on any error nothing is written. */
export async function writeReport(dirs: string[], outFile: string): Promise<ReportSummary> {
  const sources = loadReportInput(dirs);
  const html = await renderReport(sources);
  writeFileAtomic(outFile, html);
  return { out: outFile, sections: sources.map((s) => ({ dir: s.dir, kind: s.kind })), bytes: Buffer.byteLength(html) };
}
