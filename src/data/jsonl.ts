// Streaming dataset I/O: read JSONL or a JSON array of objects row by row (memory flat in the file size), and
// write JSONL / JSON arrays atomically (temp file, fsync, rename) so a crash never leaves half a result.
import fs from 'node:fs';
import path from 'node:path';
import { DataError, DataFileError } from '../errors.js';

export type JsonObject = Record<string, unknown>;

export interface JsonRow {
  /** the parsed row; always a JSON object (the dataset contract in DESIGN.md) */
  row: JsonObject;
  /** 1-based line where the row starts */
  line: number;
  file: string;
  /** the row's source text, so writers can keep it byte for byte (big integer ids survive) */
  raw: string;
}

export interface ReadRowsOptions {
  /** stop after this many rows */
  limit?: number;
  /** read chunk size in bytes; tests use tiny chunks to cross every boundary */
  chunkBytes?: number;
}

const JSONL_HINT = 'each line must hold one JSON object (or the file must be one JSON array of objects); fix or delete this line';

function parseObject(text: string, file: string, line: number): JsonObject {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new DataError(file, line, null, `not valid JSON (${(e as Error).message})`, JSONL_HINT);
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) {
    const got = v === null ? 'null' : Array.isArray(v) ? 'an array' : `a ${typeof v}`;
    throw new DataError(file, line, null, `expected a JSON object, got ${got}`, JSONL_HINT);
  }
  return v as JsonObject;
}

async function* chunks(file: string, chunkBytes: number): AsyncGenerator<string> {
  let stream: fs.ReadStream;
  try {
    await fs.promises.access(file, fs.constants.R_OK);
    stream = fs.createReadStream(file, { encoding: 'utf8', highWaterMark: chunkBytes });
  } catch (e) {
    throw new DataFileError(file, `cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, 'check the path given to --data');
  }
  let first = true;
  for await (const c of stream) {
    let s = c as string;
    if (first && s.charCodeAt(0) === 0xfeff) s = s.slice(1); // a UTF-8 byte order mark is not data
    first = false;
    yield s;
  }
}

/**
 * Stream the rows of a JSONL file or a JSON-array file (detected by the first non-blank character being `[`).
 * Blank JSONL lines are skipped. A malformed row is a DataError naming file and line, a broken array (or a missing
 * file) a DataFileError; nothing is guessed.
 */
export async function* readJsonRows(file: string, opts: ReadRowsOptions = {}): AsyncGenerator<JsonRow> {
  const limit = opts.limit ?? Infinity;
  if (limit <= 0) return;
  const it = chunks(file, opts.chunkBytes ?? 1 << 16);
  // Peek far enough to see the first non-blank character, then hand everything to the right parser.
  let head = '';
  for (;;) {
    const r = await it.next();
    if (r.done) break;
    head += r.value;
    if (head.trimStart() !== '') break;
  }
  const rest = async function* (): AsyncGenerator<string> {
    if (head) yield head;
    for (;;) {
      const r = await it.next();
      if (r.done) return;
      yield r.value;
    }
  };
  const parser = head.trimStart().startsWith('[') ? arrayRows : jsonlRows;
  let n = 0;
  try {
    for await (const row of parser(rest(), file)) {
      yield row;
      if (++n >= limit) return;
    }
  } finally {
    await it.return(undefined); // closes the file when the caller stops early
  }
}

async function* jsonlRows(src: AsyncGenerator<string>, file: string): AsyncGenerator<JsonRow> {
  let pending = '';
  let line = 0;
  const emit = (text: string): JsonRow | null => {
    line++;
    const t = text.endsWith('\r') ? text.slice(0, -1) : text;
    if (t.trim() === '') return null;
    return { row: parseObject(t, file, line), line, file, raw: t };
  };
  for await (const chunk of src) {
    pending += chunk;
    let start = 0;
    for (let nl = pending.indexOf('\n'); nl !== -1; nl = pending.indexOf('\n', start)) {
      const r = emit(pending.slice(start, nl));
      start = nl + 1;
      if (r) yield r;
    }
    pending = pending.slice(start);
  }
  if (pending !== '') {
    const r = emit(pending);
    if (r) yield r;
  }
}

const WS = new Set([' ', '\t', '\n', '\r']);

/**
 * An incremental scanner over a top-level JSON array: finds element boundaries outside strings, parses each. An
 * element that is no JSON object is a bad row; an array that is not one (truncated, stray text) a bad file.
 */
async function* arrayRows(src: AsyncGenerator<string>, file: string): AsyncGenerator<JsonRow> {
  type State = 'before' | 'expectFirst' | 'expectElem' | 'inElem' | 'afterElem' | 'done';
  let state: State = 'before';
  let line = 1;
  let elem = '';
  let elemLine = 0;
  let depth = 0;
  let inStr = false;
  let esc = false;
  const finish = (): JsonRow => {
    const raw = elem.trim();
    elem = '';
    return { row: parseObject(raw, file, elemLine), line: elemLine, file, raw };
  };
  for await (const chunk of src) {
    const out: JsonRow[] = [];
    let elemStart = state === 'inElem' ? 0 : -1; // where the current element's text begins inside this chunk
    for (let i = 0; i < chunk.length; i++) {
      const ch = chunk[i];
      if (state === 'inElem') {
        if (inStr) {
          if (esc) esc = false;
          else if (ch === '\\') esc = true;
          else if (ch === '"') inStr = false;
        } else if (ch === '"') inStr = true;
        else if (ch === '{' || ch === '[') depth++;
        else if ((ch === '}' || ch === ']') && depth > 0) depth--;
        else if ((ch === ',' || ch === ']') && depth === 0) {
          elem += chunk.slice(elemStart, i);
          elemStart = -1;
          out.push(finish());
          state = ch === ',' ? 'expectElem' : 'done';
        }
      } else if (WS.has(ch)) {
        // whitespace between tokens
      } else if (state === 'before') {
        if (ch !== '[') throw new DataFileError(file, 'expected a JSON array', JSONL_HINT, line);
        state = 'expectFirst';
      } else if (state === 'expectFirst' && ch === ']') {
        state = 'done';
      } else if (state === 'expectFirst' || state === 'expectElem') {
        if (ch === ',' || ch === ']') throw new DataFileError(file, `unexpected "${ch}": empty array element`, JSONL_HINT, line);
        state = 'inElem';
        elemLine = line;
        elemStart = i;
        depth = 0;
        inStr = ch === '"';
        esc = false;
        if (ch === '{' || ch === '[') depth = 1;
      } else if (state === 'done') {
        throw new DataFileError(file, 'unexpected text after the closing "]" of the JSON array', JSONL_HINT, line);
      }
      if (ch === '\n') line++;
    }
    if (state === 'inElem') elem += chunk.slice(elemStart);
    for (const r of out) yield r;
  }
  if ((state as State) !== 'done') {
    throw new DataFileError(file, state === 'before' ? 'the file is empty' : 'the JSON array is not closed (truncated file?)', JSONL_HINT, line);
  }
}

/** Count the rows of a dataset file without keeping them (validates every row on the way). */
export async function countJsonRows(file: string, opts: ReadRowsOptions = {}): Promise<number> {
  let n = 0;
  for await (const _ of readJsonRows(file, opts)) n++;
  return n;
}

/**
 * A streaming writer that becomes visible at `target` only on commit(): lines go to a temp file beside it,
 * then fsync + rename. `format: 'json'` writes one JSON array instead of JSONL.
 */
export class AtomicRowWriter {
  private fh: fs.promises.FileHandle | null = null;
  private buf: string[] = [];
  private bufLen = 0;
  private rows = 0;
  readonly tmp: string;

  constructor(readonly target: string, readonly format: 'jsonl' | 'json' = target.endsWith('.json') ? 'json' : 'jsonl') {
    this.tmp = path.join(path.dirname(path.resolve(target)), `.${path.basename(target)}.tmp-${process.pid}-${Date.now()}`);
  }

  private async open(): Promise<fs.promises.FileHandle> {
    if (!this.fh) {
      await fs.promises.mkdir(path.dirname(this.tmp), { recursive: true });
      this.fh = await fs.promises.open(this.tmp, 'w');
      if (this.format === 'json') this.push('[\n');
    }
    return this.fh;
  }

  private push(s: string): void {
    this.buf.push(s);
    this.bufLen += s.length;
  }

  private async flush(): Promise<void> {
    if (this.buf.length === 0) return;
    const data = this.buf.join('');
    this.buf = [];
    this.bufLen = 0;
    await (await this.open()).write(data);
  }

  /** Append one row given as its JSON text (a single line). */
  async write(json: string): Promise<void> {
    await this.open();
    this.push(this.format === 'json' ? (this.rows > 0 ? ',\n' : '') + json : json + '\n');
    this.rows++;
    if (this.bufLen >= 1 << 20) await this.flush();
  }

  async commit(): Promise<void> {
    const fh = await this.open();
    if (this.format === 'json') this.push(this.rows > 0 ? '\n]\n' : ']\n');
    await this.flush();
    await fh.sync();
    await fh.close();
    this.fh = null;
    await fs.promises.rename(this.tmp, this.target);
  }

  /** Drop the temp file (on error paths); the target is left untouched. */
  async abort(): Promise<void> {
    if (this.fh) await this.fh.close().catch(() => undefined);
    this.fh = null;
    await fs.promises.rm(this.tmp, { force: true });
  }
}

/** Write rows (JSONL, or a JSON array for a .json name) atomically: the whole file appears, or nothing does. */
export async function writeRows(file: string, rows: Iterable<unknown>): Promise<void> {
  const w = new AtomicRowWriter(file);
  try {
    for (const r of rows) await w.write(JSON.stringify(r));
    await w.commit();
  } catch (e) {
    await w.abort();
    throw e;
  }
}
