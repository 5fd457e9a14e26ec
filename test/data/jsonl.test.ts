// The streaming dataset reader and atomic writer: both file shapes, every chunk boundary, and malformed input
// reported by file and line.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AtomicRowWriter, countJsonRows, readJsonRows, type JsonRow } from '../../src/data/jsonl.js';
import { DataError, UalError } from '../../src/errors.js';

let dir: string;
beforeAll(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ual-jsonl-')); });
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function file(name: string, text: string): string {
  const f = path.join(dir, name);
  fs.writeFileSync(f, text);
  return f;
}

async function all(f: string, chunkBytes?: number, limit?: number): Promise<JsonRow[]> {
  const out: JsonRow[] = [];
  for await (const r of readJsonRows(f, { chunkBytes, limit })) out.push(r);
  return out;
}

async function failure(f: string, chunkBytes?: number): Promise<UalError> {
  try {
    await all(f, chunkBytes);
  } catch (e) {
    return e as UalError;
  }
  throw new Error('expected an error');
}

describe('readJsonRows: JSONL', () => {
  it('yields objects with 1-based line numbers, skipping blank lines, CRLF and a BOM', async () => {
    const f = file('a.jsonl', '\ufeff{"a":1}\r\n\n  \n{"b":"x\\ny"}\r\n{"c":[1,{"d":2}]}');
    for (const chunk of [1, 3, 7, 1 << 16]) {
      const rows = await all(f, chunk);
      expect(rows.map((r) => [r.line, r.row])).toEqual([[1, { a: 1 }], [4, { b: 'x\ny' }], [5, { c: [1, { d: 2 }] }]]);
      expect(rows[0].raw).toBe('{"a":1}');
      expect(rows[0].file).toBe(f);
    }
  });

  it('handles multi-byte UTF-8 split across chunks', async () => {
    const f = file('u.jsonl', '{"t":"héllo 世界 🎉"}\n{"t":"ok"}\n');
    expect((await all(f, 1)).map((r) => r.row.t)).toEqual(['héllo 世界 🎉', 'ok']);
  });

  it('names file and line of a malformed row', async () => {
    const f = file('bad.jsonl', '{"a":1}\n{"a":2}\n{"a":\n{"a":4}\n');
    const e = await failure(f);
    expect(e).toBeInstanceOf(DataError);
    expect(e.code).toBe('UAL_DATA_BAD_ROW');
    expect(e.message).toContain(`${f}:3`);
    expect(e.message).toMatch(/not valid JSON/);
    expect(e.hint).toBe('each line must hold one JSON object (or the file must be one JSON array of objects); fix or delete this line');
  });

  it('rejects rows that are not objects', async () => {
    expect((await failure(file('arr.jsonl', '{"a":1}\n[1,2]\n'))).message).toMatch(/:2: expected a JSON object, got an array/);
    expect((await failure(file('num.jsonl', '7\n'))).message).toMatch(/:1: expected a JSON object, got a number/);
  });

  it('stops early at --limit and reports a missing file clearly', async () => {
    const f = file('many.jsonl', Array.from({ length: 50 }, (_, i) => JSON.stringify({ i })).join('\n'));
    expect((await all(f, 8, 3)).map((r) => r.row.i)).toEqual([0, 1, 2]);
    expect(await countJsonRows(f)).toBe(50);
    const e = await failure(path.join(dir, 'nope.jsonl'));
    expect(e.code).toBe('UAL_DATA_BAD_FILE');
    expect(e.message).toMatch(/ENOENT/);
  });

  it('an empty file has no rows', async () => {
    expect(await all(file('empty.jsonl', ''))).toEqual([]);
    expect(await all(file('blank.jsonl', '\n\n  \n'))).toEqual([]);
  });
});

describe('readJsonRows: JSON array', () => {
  const text = `[
  {"a": "brackets ] } [ { and \\"quotes\\", commas, \\\\"},
  {"b": [1, 2, {"c": "}"}],
   "d": null},
  {}
]
`;
  it('streams elements with their starting line, at every chunk size', async () => {
    const f = file('arr.json', text);
    for (const chunk of [1, 2, 5, 64, 1 << 16]) {
      const rows = await all(f, chunk);
      expect(rows.map((r) => r.line)).toEqual([2, 3, 5]);
      expect(rows.map((r) => r.row)).toEqual(JSON.parse(text));
      expect(JSON.parse(rows[1].raw)).toEqual(JSON.parse(text)[1]);
    }
    expect(await all(file('e.json', ' [ ] '))).toEqual([]);
  });

  it('reports truncation, empty elements, trailing text and non-objects by line', async () => {
    expect((await failure(file('t.json', '[{"a":1},\n{"a":'))).message).toMatch(/not closed/);
    expect((await failure(file('t.json', '[{"a":1},\n{"a":'))).code).toBe('UAL_DATA_BAD_FILE'); // the array is broken
    expect((await failure(file('n.json', '[{"a":1},\n 5]'))).code).toBe('UAL_DATA_BAD_ROW'); // one element is
    expect((await failure(file('c.json', '[{"a":1},\n,{}]'))).message).toMatch(/:2: unexpected ","/);
    expect((await failure(file('x.json', '[{"a":1}]\nmore'))).message).toMatch(/:2: unexpected text after/);
    expect((await failure(file('n.json', '[{"a":1},\n 5]'))).message).toMatch(/:2: expected a JSON object, got a number/);
    expect((await failure(file('bad.json', '[{"a":1},\n{"a":tru}]'), 3)).message).toMatch(/:2: not valid JSON/);
  });
});

describe('AtomicRowWriter', () => {
  it('is invisible until commit, then holds every row', async () => {
    const target = path.join(dir, 'sub', 'out.jsonl');
    const w = new AtomicRowWriter(target);
    for (let i = 0; i < 1000; i++) await w.write(JSON.stringify({ i }));
    expect(fs.existsSync(target)).toBe(false);
    await w.commit();
    const lines = fs.readFileSync(target, 'utf8').trimEnd().split('\n');
    expect(lines.length).toBe(1000);
    expect(JSON.parse(lines[999])).toEqual({ i: 999 });
    expect(fs.readdirSync(path.dirname(target))).toEqual(['out.jsonl']);
  });

  it('writes a JSON array for a .json target, and abort leaves the old file alone', async () => {
    const target = path.join(dir, 'out.json');
    const w = new AtomicRowWriter(target);
    await w.write('{"a":1}');
    await w.write('{"a":2}');
    await w.commit();
    expect(JSON.parse(fs.readFileSync(target, 'utf8'))).toEqual([{ a: 1 }, { a: 2 }]);
    const w2 = new AtomicRowWriter(target);
    await w2.write('{"a":3}');
    await w2.abort();
    expect(JSON.parse(fs.readFileSync(target, 'utf8'))).toEqual([{ a: 1 }, { a: 2 }]);
    expect(fs.existsSync(w2.tmp)).toBe(false);
  });
});
