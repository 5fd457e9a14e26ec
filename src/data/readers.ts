// Dataset readers: stream a JSONL / JSON-array file, tell its format from the first rows (or take --format), and
// yield its rows, or each row normalised to a conversation. Bad rows stop the read with file:line:field, or are
// skipped and counted; a bad file (missing, empty, no known format) always stops it.
import { DataError, DataFileError } from '../errors.js';
import { detectFormat, requireReply, toConversation, type Conversation, type DataFormat } from './formats.js';
import { readJsonRows, type JsonRow } from './jsonl.js';

/** Rows looked at to decide a file's format. */
export const DETECT_ROWS = 16;

export interface ReadOptions {
  /** the format of every row (--format); when absent each row is read by its own shape */
  format?: DataFormat;
  /** skip rows that do not parse (counted in the summary) instead of stopping at the first */
  skipBadRows?: boolean;
  /** stop after this many rows read */
  limit?: number;
}

/** What a read saw: updated while the read runs, final once the generator is done. */
export interface ReadStats {
  /** --format, else the most common shape among the first rows (set before the first row is yielded) */
  format: DataFormat | null;
  /** rows read from the file (good and bad) */
  read: number;
  skipped: number;
  /** the first few skip reasons, "file:line field "x": problem" */
  skippedReasons: string[];
}

const MAX_REASONS = 5;

/**
 * Streams rows, telling the file's format once from the first DETECT_ROWS rows (they are buffered, then replayed).
 * A file with no rows is a DataFileError, whatever the format.
 */
export async function* readRowsWithFormat(file: string, opts: ReadOptions, stats: ReadStats): AsyncGenerator<JsonRow> {
  const it = readJsonRows(file, { limit: opts.limit })[Symbol.asyncIterator]();
  const head: JsonRow[] = [];
  try {
    while (head.length < DETECT_ROWS) {
      const r = await it.next();
      if (r.done) break;
      head.push(r.value);
    }
    if (head.length === 0) throw noRows(file);
    stats.format = opts.format ?? detectFormat(head, file);
    for (const r of head) yield r;
    for (;;) {
      const r = await it.next();
      if (r.done) break;
      yield r.value;
    }
  } finally {
    await it.return?.(undefined);
  }
}

/** Record a bad row, or rethrow it when bad rows are not being skipped (a bad file is never skipped). */
export function skipOrThrow(e: unknown, stats: ReadStats, skipBadRows: boolean | undefined): void {
  if (!(e instanceof DataError) || e.code !== 'UAL_DATA_BAD_ROW' || !skipBadRows) throw e;
  stats.skipped++;
  if (stats.skippedReasons.length < MAX_REASONS) stats.skippedReasons.push(e.message);
}

export function newReadStats(): ReadStats {
  return { format: null, read: 0, skipped: 0, skippedReasons: [] };
}

/**
 * Stream the conversations of a text dataset that a model learns from or is scored against, so each needs a reply
 * (requireReply). `stats` (optional) is filled in as rows go by. Malformed JSON is always fatal (the file itself is
 * broken); a row of the wrong shape is fatal unless skipBadRows.
 */
export async function* readConversations(file: string, opts: ReadOptions = {}, stats: ReadStats = newReadStats()): AsyncGenerator<Conversation> {
  for await (const r of readRowsWithFormat(file, opts, stats)) {
    stats.read++;
    let conv: Conversation;
    try {
      conv = requireReply(toConversation(r.row, opts.format, r.file, r.line));
    } catch (e) {
      skipOrThrow(e, stats, opts.skipBadRows);
      continue;
    }
    yield conv;
  }
}

/** Read a whole text dataset into memory (training sets fit); an empty result is a DataError. */
export async function readAllConversations(file: string, opts: ReadOptions = {}): Promise<{ conversations: Conversation[]; stats: ReadStats }> {
  const stats = newReadStats();
  const conversations: Conversation[] = [];
  for await (const c of readConversations(file, opts, stats)) conversations.push(c);
  if (conversations.length === 0) throw emptyDataset(file, stats);
  return { conversations, stats };
}

function noRows(file: string): DataFileError {
  return new DataFileError(file, 'has no rows', 'the dataset is empty; check the --data path');
}

/** The error for a file that yields nothing usable, saying why (no rows at all, or every row skipped). */
export function emptyDataset(file: string, stats: ReadStats): DataFileError {
  if (stats.read === 0) return noRows(file);
  return new DataFileError(file, `no usable rows: all ${stats.read} rows were skipped`, `first problem: ${stats.skippedReasons[0] ?? 'unknown'}`);
}
