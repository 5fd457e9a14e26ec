// Add fields to a row while keeping the rest of it byte for byte (big integer ids, key order, number spelling),
// which is how every stage keeps "every field a row carries".
import type { JsonRow } from './jsonl.js';

/** The row's text with `fields` appended; a field the row already has is replaced (the row is re-serialised then). */
export function setFields(r: JsonRow, fields: Record<string, unknown>): string {
  const names = Object.keys(fields);
  if (names.some((k) => Object.prototype.hasOwnProperty.call(r.row, k))) return JSON.stringify({ ...r.row, ...fields });
  // Raw newlines sit only between tokens in valid JSON (never inside strings), so folding them keeps one line.
  const body = r.raw.replace(/[\r\n]+/g, ' ').trim().slice(0, -1).trimEnd();
  const add = names.map((k) => `${JSON.stringify(k)}:${JSON.stringify(fields[k])}`).join(',');
  return `${body}${Object.keys(r.row).length ? ',' : ''}${add}}`;
}
