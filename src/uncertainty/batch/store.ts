// The Batch API's bookkeeping, in the answer cache's own SQLite file: every batch (local id, input file id, batch
// id, state) and every request in one (custom id, answer or error), each committed the moment it is known, so a
// run killed at any point resumes by batch id and never pays for a request twice.
import type Database from 'better-sqlite3';

/** A batch's life: written locally, uploaded (file id), created (batch id), then harvested once it ended. */
export interface BatchRow {
  /** ours: also sent as the batch's metadata, so a batch created by a killed run is found again */
  local: string;
  /** what the batch is for (elicit, judge) */
  run: string;
  /** the JSONL file sent */
  file: string;
  requests: number;
  bytes: number;
  input_file_id: string | null;
  batch_id: string | null;
  /** the provider's status (validating, in_progress, completed, expired, cancelled, failed...), or 'local' */
  status: string;
  completed: number;
  failed: number;
  /** 1 once its output and error files are read into the requests */
  harvested: number;
  created_ms: number;
}

/** A request: waiting in a batch, answered (the completion's JSON), or failed (why); attempts counts the batches it failed in. */
export interface RequestRow {
  custom_id: string;
  local: string | null;
  state: 'wait' | 'done' | 'failed';
  attempts: number;
  response: string | null;
  error: string | null;
}

export class BatchStore {
  private getReq: Database.Statement<[string], RequestRow>;
  private putReq: Database.Statement<[string, string | null, string, number, string | null, string | null]>;

  constructor(private db: Database.Database) {
    db.exec(`
      CREATE TABLE IF NOT EXISTS batches (local TEXT PRIMARY KEY, run TEXT NOT NULL, file TEXT NOT NULL,
        requests INTEGER NOT NULL, bytes INTEGER NOT NULL, input_file_id TEXT, batch_id TEXT, status TEXT NOT NULL,
        completed INTEGER NOT NULL DEFAULT 0, failed INTEGER NOT NULL DEFAULT 0, harvested INTEGER NOT NULL DEFAULT 0,
        created_ms INTEGER NOT NULL);
      CREATE TABLE IF NOT EXISTS batch_requests (custom_id TEXT PRIMARY KEY, local TEXT, state TEXT NOT NULL,
        attempts INTEGER NOT NULL, response TEXT, error TEXT) WITHOUT ROWID;
      CREATE INDEX IF NOT EXISTS batch_requests_local ON batch_requests (local, state);`);
    this.getReq = db.prepare('SELECT * FROM batch_requests WHERE custom_id = ?');
    this.putReq = db.prepare('INSERT OR REPLACE INTO batch_requests (custom_id, local, state, attempts, response, error) VALUES (?, ?, ?, ?, ?, ?)');
  }

  request(id: string): RequestRow | undefined {
    return this.getReq.get(id);
  }

  /** A request written into the local batch `local` (before that batch is uploaded). */
  queue(id: string, local: string): void {
    const r = this.request(id);
    this.putReq.run(id, local, 'wait', r?.attempts ?? 0, null, r?.error ?? null);
  }

  answered(id: string, response: string): void {
    const r = this.request(id);
    this.putReq.run(id, r?.local ?? null, 'done', r?.attempts ?? 0, response, null);
  }

  failed(id: string, error: string): void {
    const r = this.request(id);
    this.putReq.run(id, r?.local ?? null, 'failed', (r?.attempts ?? 0) + 1, null, error);
  }

  /** Many results at once (a downloaded output file): one commit. */
  transaction(f: () => void): void {
    this.db.transaction(f)();
  }

  addBatch(b: Pick<BatchRow, 'local' | 'run' | 'file' | 'requests' | 'bytes'>): void {
    this.db.prepare('INSERT INTO batches (local, run, file, requests, bytes, status, created_ms) VALUES (?, ?, ?, ?, ?, ?, ?)')
      .run(b.local, b.run, b.file, b.requests, b.bytes, 'local', Date.now());
  }

  update(local: string, fields: Partial<Pick<BatchRow, 'requests' | 'bytes' | 'input_file_id' | 'batch_id' | 'status' | 'completed' | 'failed' | 'harvested'>>): void {
    const keys = Object.keys(fields) as Array<keyof typeof fields>;
    if (keys.length === 0) return;
    this.db.prepare(`UPDATE batches SET ${keys.map((k) => `${k} = ?`).join(', ')} WHERE local = ?`).run(...keys.map((k) => fields[k] ?? null), local);
  }

  batches(run?: string): BatchRow[] {
    return run === undefined
      ? this.db.prepare('SELECT * FROM batches ORDER BY created_ms, local').all() as BatchRow[]
      : this.db.prepare('SELECT * FROM batches WHERE run = ? ORDER BY created_ms, local').all(run) as BatchRow[];
  }

  /** The requests of a batch that got no answer and no error line (an expired, cancelled or failed batch). */
  waiting(local: string): string[] {
    return (this.db.prepare("SELECT custom_id FROM batch_requests WHERE local = ? AND state = 'wait'").all(local) as Array<{ custom_id: string }>)
      .map((r) => r.custom_id);
  }

  /**
   * Forget a batch that never reached the provider (the run was killed before its file was uploaded): its requests
   * are asked again by the next pass; those that had failed before keep their failure count.
   */
  dropLocal(local: string): void {
    this.transaction(() => {
      this.db.prepare("DELETE FROM batch_requests WHERE local = ? AND state = 'wait' AND attempts = 0").run(local);
      this.db.prepare("UPDATE batch_requests SET state = 'failed' WHERE local = ? AND state = 'wait'").run(local);
      this.db.prepare('DELETE FROM batches WHERE local = ?').run(local);
    });
  }
}
