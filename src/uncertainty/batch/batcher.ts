// The Batch API path for elicitation and judging. The caller runs its usual per-row code (the same methods, the same
// prompts, the same strict parsers) in passes; each chat request it makes is answered from the batch store when a
// batch answered it, or else written into a batch JSONL file and the row left pending. Between passes the files are
// uploaded and batched, and every batch is polled to its end and harvested into the store. State lives in SQLite
// only, so a killed run's next pass resumes its batches by id and a finished run's next pass sends nothing.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { ChatCompletion, ChatCompletionCreateParamsNonStreaming } from 'openai/resources/chat/completions';
import { RowFailure, UalError } from '../../errors.js';
import { isCompletion } from '../client.js';
import { costUsd, type Prices } from '../estimate.js';
import { sleep } from '../limits.js';
import { backoffDelay, type BackoffOptions } from '../retry.js';
import { TERMINAL, type Batch, type BatchApi } from './api.js';
import { BatchStore, type BatchRow } from './store.js';

export type ChatFn = (body: ChatCompletionCreateParamsNonStreaming) => Promise<ChatCompletion>;

export const BATCH_RETRY = ['online', 'batch'] as const;
export type BatchRetry = (typeof BATCH_RETRY)[number];

/** The provider's limits per batch (OpenAI: 50,000 requests, 200 MB) and how to poll. */
export interface BatchSettings {
  /** where requests that a batch did not answer go: the online client, or a follow-up batch */
  retry: BatchRetry;
  maxRequests: number;
  maxBytes: number;
  /** first wait between polls, doubling (with jitter) up to maxMs */
  poll: BackoffOptions;
}

export const BATCH_DEFAULTS = { maxRequests: 50_000, maxBytes: 200 * 1024 * 1024 } as const;

/** The Batch API's discount on the online price. */
export const BATCH_PRICE = 0.5;

/** A row whose request waits for a batch: not a failure, the next pass answers it. */
export class Pending extends Error {
  constructor() { super('waiting for a batch'); this.name = 'Pending'; }
}

export interface BatchProgress {
  /** batches being polled */
  batches: number;
  /** their requests */
  total: number;
  completed: number;
  failed: number;
  /** the least advanced status among them */
  status: string;
  elapsedMs: number;
  /** seconds, from the completion rate so far; Infinity while nothing completed */
  etaS: number;
}

export interface BatchStats {
  batches: number;
  /** requests sent in batches by this run */
  requests: number;
  /** requests a batch answered with an error or not at all */
  failed: number;
  promptTokens: number;
  completionTokens: number;
}

/** A custom id per request: the row (tag), which of its requests (seq) and the request itself. */
export function customId(tag: string, seq: number, body: unknown): string {
  return 'ual-' + crypto.createHash('sha256').update(JSON.stringify([tag, seq, body])).digest('hex').slice(0, 40);
}

interface OpenFile { row: Pick<BatchRow, 'local' | 'file'>; fd: number; requests: number; bytes: number }

export interface BatcherOptions extends BatchSettings {
  /** elicit | judge: whose batches these are (one cache may hold both) */
  run: string;
  /** where the JSONL files are written */
  dir: string;
  /** retries of a request that failed inside batches (--batch-retry batch), then it fails for good */
  maxRetries: number;
  httpCode: 'UAL_ELICIT_HTTP' | 'UAL_JUDGE_HTTP';
  signal?: AbortSignal;
  onProgress?: (p: BatchProgress) => void;
}

export class Batcher {
  readonly stats: BatchStats = { batches: 0, requests: 0, failed: 0, promptTokens: 0, completionTokens: 0 };
  /** passes done: requests first made after a pass are follow-ups (re-asks), routed like failed ones */
  pass = 0;
  /** requests written in the current pass */
  captured = 0;
  private files: OpenFile[] = [];

  constructor(private store: BatchStore, private api: BatchApi, private o: BatcherOptions) {}

  /**
   * The chat function for one row (tag): its n-th request is answered from the store when a batch answered it,
   * sent through `online` when it failed in a batch (--batch-retry online), else written into a batch (Pending).
   */
  session(tag: string, online: ChatFn): ChatFn {
    let seq = 0;
    return async (body) => {
      const id = customId(tag, seq++, body);
      const r = this.store.request(id);
      if (r?.state === 'done') return JSON.parse(r.response as string) as ChatCompletion;
      if (r?.state === 'wait') throw new Pending();
      const followUp = r?.state === 'failed' || this.pass > 0;
      if (followUp && this.o.retry === 'online') {
        const c = await online(body);
        this.store.answered(id, JSON.stringify(c));
        return c;
      }
      if (r && r.attempts > this.o.maxRetries) {
        throw new RowFailure(this.o.httpCode, `failed in ${r.attempts} batches; last: ${r.error}`);
      }
      this.capture(id, body);
      throw new Pending();
    };
  }

  private capture(id: string, body: ChatCompletionCreateParamsNonStreaming): void {
    const line = JSON.stringify({ custom_id: id, method: 'POST', url: '/v1/chat/completions', body }) + '\n';
    const bytes = Buffer.byteLength(line);
    if (bytes > this.o.maxBytes) {
      throw new UalError('UAL_USAGE', `one request is ${bytes} bytes, over the batch file limit of ${this.o.maxBytes} (--batch-max-bytes)`,
        'raise --batch-max-bytes to the provider\'s limit, or drop --batch for rows this long');
    }
    let f = this.files.at(-1);
    if (!f || f.requests + 1 > this.o.maxRequests || f.bytes + bytes > this.o.maxBytes) {
      const local = `${this.o.run}-${Date.now().toString(36)}-${crypto.randomBytes(4).toString('hex')}`;
      const file = path.join(this.o.dir, `${local}.jsonl`);
      fs.mkdirSync(this.o.dir, { recursive: true });
      this.store.addBatch({ local, run: this.o.run, file, requests: 0, bytes: 0 });
      f = { row: { local, file }, fd: fs.openSync(file, 'w'), requests: 0, bytes: 0 };
      this.files.push(f);
    }
    fs.writeSync(f.fd, line);
    f.requests++;
    f.bytes += bytes;
    this.store.queue(id, f.row.local);
    this.captured++;
  }

  /** Upload and batch what the pass wrote; each id is committed the moment the provider returns it. */
  async submit(): Promise<void> {
    const files = this.files;
    this.files = [];
    for (const f of files) {
      fs.fsyncSync(f.fd);
      fs.closeSync(f.fd);
      this.store.update(f.row.local, { requests: f.requests, bytes: f.bytes });
    }
    for (const f of files) await this.start(f.row.local, f.row.file, null);
    this.stats.requests += this.captured;
    this.captured = 0;
    this.pass++;
  }

  /** Upload (unless done before) and create the batch (unless a killed run did: its metadata finds it). */
  private async start(local: string, file: string, inputFileId: string | null): Promise<void> {
    let fileId = inputFileId;
    if (fileId === null) {
      fileId = await this.api.upload(file);
      this.store.update(local, { input_file_id: fileId });
    } else {
      const made = await this.api.findCreated(local, fileId);
      if (made) { this.record(local, made); return; }
    }
    this.record(local, await this.api.create(fileId, local));
    this.stats.batches++;
  }

  private record(local: string, b: Batch): void {
    this.store.update(local, { batch_id: b.id, status: b.status, completed: b.request_counts?.completed ?? 0, failed: b.request_counts?.failed ?? 0 });
  }

  /**
   * Bring every batch of this run to its end: forget the ones a killed run never uploaded, create the ones it
   * uploaded but may not have created, then poll them all (with backoff) and harvest each as it ends.
   */
  async settle(): Promise<void> {
    for (const b of this.store.batches(this.o.run)) {
      if (b.harvested) continue;
      if (b.input_file_id === null) {
        this.store.dropLocal(b.local);
        fs.rmSync(b.file, { force: true });
      }
      else if (b.batch_id === null) await this.start(b.local, b.file, b.input_file_id);
    }
    const t0 = Date.now();
    for (let poll = 0; ; poll++) {
      const open = this.store.batches(this.o.run).filter((b) => !b.harvested && b.batch_id !== null);
      if (open.length === 0) return;
      let total = 0, completed = 0, failed = 0;
      const statuses: string[] = [];
      for (const row of open) {
        const b = await this.api.retrieve(row.batch_id as string);
        this.record(row.local, b);
        if (TERMINAL.has(b.status)) await this.harvest(row.local, b);
        total += b.request_counts?.total || row.requests;
        completed += b.request_counts?.completed ?? 0;
        failed += b.request_counts?.failed ?? 0;
        statuses.push(b.status);
      }
      const elapsedMs = Date.now() - t0;
      const done = completed + failed;
      this.o.onProgress?.({
        batches: open.length, total, completed, failed, status: leastAdvanced(statuses), elapsedMs,
        etaS: done >= total ? 0 : done > 0 ? ((total - done) * elapsedMs) / done / 1000 : Infinity,
      });
      if (statuses.every((s) => TERMINAL.has(s))) continue;
      await sleep(backoffDelay(poll, this.o.poll, null), this.o.signal);
    }
  }

  /** Read an ended batch's output and error files into the store; a request in neither failed with the batch. */
  private async harvest(local: string, b: Batch): Promise<void> {
    const results: Array<{ id: string; body?: string; error?: string }> = [];
    const read = (line: string) => {
      let r: { custom_id?: string; response?: { status_code?: number; body?: unknown } | null; error?: { code?: string; message?: string } | null };
      try {
        r = JSON.parse(line);
      } catch {
        return; // a line we cannot read is a request left unanswered below, never a guess
      }
      if (typeof r.custom_id !== 'string') return;
      const status = r.response?.status_code;
      if (status === 200 && isCompletion(r.response?.body)) { results.push({ id: r.custom_id, body: JSON.stringify(r.response!.body) }); return; }
      const body = r.response?.body as { error?: { message?: string } } | undefined;
      const why = r.error ? `${r.error.code ?? 'error'}: ${r.error.message ?? ''}`
        : `HTTP ${status ?? '?'}${body?.error?.message ? `: ${body.error.message}` : ''}`;
      results.push({ id: r.custom_id, error: this.api.scrub(why.slice(0, 300)) });
    };
    if (b.output_file_id) await this.api.lines(b.output_file_id, read);
    if (b.error_file_id) await this.api.lines(b.error_file_id, read);
    const ended = b.status === 'failed'
      ? `the batch failed validation (${b.errors?.data?.map((e) => e.message).join('; ') ?? 'no reason given'})`
      : `no answer: the batch ended ${b.status}`;
    this.store.transaction(() => {
      for (const r of results) {
        const have = this.store.request(r.id);
        if (have?.local !== local || have.state !== 'wait') continue; // not ours, or settled already
        if (r.body !== undefined) {
          this.store.answered(r.id, r.body);
          const u = (JSON.parse(r.body) as ChatCompletion).usage;
          this.stats.promptTokens += u?.prompt_tokens ?? 0;
          this.stats.completionTokens += u?.completion_tokens ?? 0;
        } else {
          this.store.failed(r.id, r.error as string);
          this.stats.failed++;
        }
      }
      for (const id of this.store.waiting(local)) { this.store.failed(id, this.api.scrub(ended)); this.stats.failed++; }
      this.store.update(local, { harvested: 1 });
    });
    // its requests are answered or failed in the store now: the input file (as large as the data) has done its job
    const row = this.store.batches(this.o.run).find((x) => x.local === local);
    if (row) fs.rmSync(row.file, { force: true });
  }
}

const ORDER = ['local', 'validating', 'in_progress', 'finalizing', 'cancelling', 'completed', 'expired', 'cancelled', 'failed'];

function leastAdvanced(statuses: string[]): string {
  return statuses.reduce((a, s) => (ORDER.indexOf(s) < ORDER.indexOf(a) ? s : a), statuses[0] ?? 'completed');
}

/** The cost of tokens sent in batches: the online price, halved. */
export function batchCostUsd(promptTokens: number, completionTokens: number, p: Prices): number | null {
  const c = costUsd(promptTokens, completionTokens, p);
  return c === null ? null : c * BATCH_PRICE;
}

/** The state of a run's batches (--batch-status): as recorded, refreshed from the provider where it can be. */
export async function batchStatus(store: BatchStore, api: BatchApi | null, run?: string): Promise<BatchRow[]> {
  const rows = store.batches(run);
  for (const r of rows) {
    if (!api || r.harvested || r.batch_id === null) continue;
    const b = await api.retrieve(r.batch_id);
    store.update(r.local, { status: b.status, completed: b.request_counts?.completed ?? 0, failed: b.request_counts?.failed ?? 0 });
    Object.assign(r, { status: b.status, completed: b.request_counts?.completed ?? 0, failed: b.request_counts?.failed ?? 0 });
  }
  return rows;
}
