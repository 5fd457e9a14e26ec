// Small HTML pieces shared by the report's sections: key/value tables and figures.
import { esc } from '../../util/escape.js';
import { fmtValue } from './format.js';

/** A record as a two-column table; nested values as compact JSON. */
export function kvTable(rec: Record<string, unknown>, name: string): string {
  const rows = Object.entries(rec).map(([k, v]) => `<tr><th scope="row">${esc(k)}</th><td data-key="${esc(k)}">${esc(fmtValue(v))}</td></tr>`);
  return `<table class="kv" data-table="${esc(name)}"><tbody>${rows.join('')}</tbody></table>`;
}

export function figure(svg: string, caption: string): string {
  return `<figure>${svg}<figcaption>${esc(caption)}</figcaption></figure>`;
}
