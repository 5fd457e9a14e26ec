// The elicitation cache (SQLite, WAL): every judge answer is committed the moment it arrives, so a crash or a
// rerun never pays for it again. Keys hash everything that changes the answer and nothing that does not.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { UalError } from '../errors.js';

export const ELICIT_CACHE_FILE = 'elicit-cache.sqlite';
export const JUDGE_CACHE_FILE = 'judge-cache.sqlite';

/** The default cache: `name` in the directory of `file` (the run's output), or in the working directory. */
export function cacheBeside(file: string | undefined, name: string): string {
  return path.join(file ? path.dirname(path.resolve(file)) : process.cwd(), name);
}

/** Bump when the meaning of stored answers changes. */
const SCHEMA = 1;

export interface KeyParts {
  method: string;
  /** built-in prompt version, or the prompt file's hash */
  prompt: string;
  model: string;
  /** request parameters that change the answer (temperature, k, max_tokens, top_logprobs, ...) */
  params: Record<string, unknown>;
  /** canonicalSample(turns) */
  sample: string;
}

export function cacheKey(p: KeyParts): string {
  const params = Object.fromEntries(Object.entries(p.params).filter(([, v]) => v !== undefined).sort(([a], [b]) => a.localeCompare(b)));
  return crypto.createHash('sha256')
    .update(JSON.stringify([SCHEMA, p.method, p.prompt, p.model, params, p.sample]))
    .digest('hex');
}

/** One received answer. `value` / `entropy` are what the method read from it; text is kept for audits. */
export interface Answer {
  text: string;
  value?: number;
  entropy?: number;
  promptTokens: number;
  completionTokens: number;
}

export class ElicitCache {
  private db: Database.Database;
  private getScoreStmt: Database.Statement<[string], { score: number }>;
  private getAnswersStmt: Database.Statement<[string], { idx: number; answer: string }>;
  private putAnswerStmt: Database.Statement<[string, number, string, number]>;
  private putScoreStmt: Database.Statement<[string, number, string, number]>;
  private lastAnswerTx: (key: string, idx: number, answer: string, score: number, method: string, now: number) => void;

  constructor(readonly file: string, opts: { readonly?: boolean } = {}) {
    try {
      if (!opts.readonly) fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
      this.db = new Database(file, { readonly: !!opts.readonly, fileMustExist: !!opts.readonly });
      this.db.pragma('busy_timeout = 10000');
      if (!opts.readonly) {
        this.db.pragma('journal_mode = WAL');
        // NORMAL under WAL: a committed answer survives a killed process (not a power cut), at a fraction of FULL's fsyncs.
        this.db.pragma('synchronous = NORMAL');
        this.db.exec(`
          CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);
          CREATE TABLE IF NOT EXISTS answers (key TEXT NOT NULL, idx INTEGER NOT NULL, answer TEXT NOT NULL,
            created_ms INTEGER NOT NULL, PRIMARY KEY (key, idx)) WITHOUT ROWID;
          CREATE TABLE IF NOT EXISTS scores (key TEXT PRIMARY KEY, score REAL NOT NULL, method TEXT NOT NULL,
            created_ms INTEGER NOT NULL) WITHOUT ROWID;`);
        this.db.prepare('INSERT OR IGNORE INTO meta (k, v) VALUES (?, ?)').run('schema', String(SCHEMA));
      }
      const schema = (this.db.prepare('SELECT v FROM meta WHERE k = ?').get('schema') as { v: string } | undefined)?.v;
      if (schema !== String(SCHEMA)) {
        throw new UalError('UAL_IO', `${file} is a cache of schema ${schema ?? 'unknown'}, this ual reads schema ${SCHEMA}`,
          'pass another --cache file');
      }
    } catch (e) {
      if (e instanceof UalError) throw e;
      throw new UalError('UAL_IO', `cannot open the cache ${file}: ${(e as Error).message}`, 'pass a writable --cache FILE');
    }
    this.getScoreStmt = this.db.prepare('SELECT score FROM scores WHERE key = ?');
    this.getAnswersStmt = this.db.prepare('SELECT idx, answer FROM answers WHERE key = ?');
    this.putAnswerStmt = this.db.prepare('INSERT OR REPLACE INTO answers (key, idx, answer, created_ms) VALUES (?, ?, ?, ?)');
    this.putScoreStmt = this.db.prepare('INSERT OR REPLACE INTO scores (key, score, method, created_ms) VALUES (?, ?, ?, ?)');
    // built once: wrapping a function in a transaction is not free, and this runs once per row
    this.lastAnswerTx = this.db.transaction((key: string, idx: number, answer: string, score: number, method: string, now: number) => {
      this.putAnswerStmt.run(key, idx, answer, now);
      this.putScoreStmt.run(key, score, method, now);
    });
  }

  /** Open read-only if the file exists (dry runs must not create files); null otherwise. */
  static openIfExists(file: string): ElicitCache | null {
    return fs.existsSync(file) ? new ElicitCache(file, { readonly: true }) : null;
  }

  score(key: string): number | undefined {
    return this.getScoreStmt.get(key)?.score;
  }

  answers(key: string): Map<number, Answer> {
    return new Map(this.getAnswersStmt.all(key).map((r) => [r.idx, JSON.parse(r.answer) as Answer]));
  }

  /** Commit one answer now (its own transaction): from here on it is never requested again. */
  putAnswer(key: string, idx: number, a: Answer): void {
    this.putAnswerStmt.run(key, idx, JSON.stringify(a), Date.now());
  }

  putScore(key: string, score: number, method: string): void {
    this.putScoreStmt.run(key, score, method, Date.now());
  }

  /** The answer that completes a sample, committed together with the sample's score: one commit instead of two. */
  putLastAnswer(key: string, idx: number, a: Answer, score: number, method: string): void {
    this.lastAnswerTx(key, idx, JSON.stringify(a), score, method, Date.now());
  }

  /** The open database, for the Batch API's bookkeeping (batch/store.ts), which lives in the same file. */
  get database(): Database.Database {
    return this.db;
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}
