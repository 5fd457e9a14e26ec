// The elicitation run as a library function (the CLI and the bench call it): three streaming passes over the
// input (check every row and count, rate what the cache lacks, join input with the cache into the output), so
// memory stays flat however many rows there are, and a crash at any point loses nothing already paid for.
import fs from 'node:fs';
import { toConversation, type DataFormat, type Message } from '../data/formats.js';
import { AtomicRowWriter, type JsonRow } from '../data/jsonl.js';
import { newReadStats, readRowsWithFormat } from '../data/readers.js';
import { setFields } from '../data/rowfields.js';
import { RowFailure, UalError } from '../errors.js';
import { cacheBeside, cacheKey, ElicitCache, ELICIT_CACHE_FILE, type Answer } from './cache.js';
import { BatchApi } from './batch/api.js';
import { BATCH_PRICE, Batcher, Pending, type BatchProgress, type BatchSettings, type ChatFn } from './batch/batcher.js';
import { BatchStore } from './batch/store.js';
import { JudgeClient, type ClientSettings } from './client.js';
import { costUsd, type Prices } from './estimate.js';
import { Semaphore } from './limits.js';
import { METHODS, type Elicitor, type MethodContext, type MethodName, type MethodOptions } from './methods/index.js';
import { canonicalSample, ratedTurns } from './rated.js';

/** the judge client's settings, plus what the run needs */
export interface ElicitOptions extends MethodOptions, ClientSettings {
  input: string;
  /** every row's format (--format); when absent each row is read by its own shape, as training reads it */
  format?: DataFormat;
  /** required unless dryRun */
  out?: string;
  /** default: elicit-cache.sqlite beside --out (shared by runs in that directory; keys keep them apart) */
  cache?: string;
  /** default: <out>.failed.jsonl, written only when rows failed */
  failed?: string;
  method: MethodName;
  limit?: number;
  dryRun?: boolean;
  allowFailures?: boolean;
  prices?: Prices;
  onProgress?: (p: ElicitProgress) => void;
  /** a method supplied by a higher layer (--method self: a local checkpoint from pipeline/), used instead of METHODS */
  elicitor?: Elicitor;
  /** send the requests through the provider's Batch API (half the price, up to 24 h) instead of one by one */
  batch?: BatchSettings;
}

export interface ElicitProgress {
  phase: 'check' | 'rate' | 'batch' | 'write';
  total: number;
  done: number;
  /** rows found in the cache while rating (they finish instantly; ETAs should not count them) */
  skipped: number;
  failed: number;
  requests: number;
  retries: number;
  reasks: number;
  promptTokens: number;
  completionTokens: number;
  costUsd: number | null;
  /** since rating started */
  elapsedMs: number;
  /** with --batch: the batches being polled (phase 'batch') */
  batch?: BatchProgress;
  /** with --batch: the tokens batches answered (not in the counts above, which are the online requests'; billed at the batch price) */
  batchTokens?: { promptTokens: number; completionTokens: number };
}

export interface ElicitSummary {
  ok: boolean;
  dry_run: boolean;
  method: string;
  model: string;
  rows: number;
  /** rows whose score was already in the cache when the run started */
  cached: number;
  /** rows scored by this run */
  scored: number;
  failed: number;
  requests: number;
  retries: number;
  reasks: number;
  prompt_tokens: number;
  completion_tokens: number;
  cost_usd: number | null;
  /** dry run: what rating the uncached rows would take (approximate token counts) */
  estimate?: { rows: number; requests: number; prompt_tokens: number; completion_tokens: number; cost_usd: number | null };
  out: string | null;
  cache: string;
  failed_file: string | null;
  elapsed_s: number;
  /** with --batch: batches created, requests sent in them, and those they did not answer (retried per --batch-retry) */
  batch?: { batches: number; requests: number; failed: number; prompt_tokens: number; completion_tokens: number };
}

function keyOf(m: Elicitor, model: string, turns: Message[]): string {
  return cacheKey({ method: m.name, prompt: m.promptId, model, params: m.params, sample: canonicalSample(turns) });
}

/** What the judge rates of a row, parsed by the data layer's one row parser (a bad row is its DataError). */
function sampleOf(r: JsonRow, format: DataFormat | undefined): Message[] {
  return ratedTurns(toConversation(r.row, format, r.file, r.line).messages);
}

/**
 * The input's rows with what the judge rates of each, read as training reads them (same format detection, same
 * errors), so a file elicit accepts is one train accepts, prompt-only rows aside. Every pass reads through here.
 */
async function* samples(o: ElicitOptions): AsyncGenerator<{ r: JsonRow; turns: Message[] }> {
  for await (const r of readRowsWithFormat(o.input, { format: o.format, limit: o.limit }, newReadStats())) {
    yield { r, turns: sampleOf(r, o.format) };
  }
}

/** The cache key of a row under these options (tests and tools use it to look rows up in the cache). */
export function rowCacheKey(o: ElicitOptions, row: JsonRow): string {
  return keyOf(o.elicitor ?? METHODS[o.method](o), o.model, sampleOf(row, o.format));
}

export async function elicit(o: ElicitOptions): Promise<ElicitSummary> {
  const t0 = Date.now();
  const method = o.elicitor ?? METHODS[o.method](o);
  if (!o.dryRun && !o.out) throw new UalError('UAL_USAGE', '--out is required (unless --dry-run)');
  const cachePath = o.cache ?? cacheBeside(o.out ?? o.input, ELICIT_CACHE_FILE);
  const prices = o.prices ?? {};

  const p: ElicitProgress = {
    phase: 'check', total: 0, done: 0, skipped: 0, failed: 0, requests: 0, retries: 0, reasks: 0, promptTokens: 0,
    completionTokens: 0, costUsd: costUsd(0, 0, prices), elapsedMs: 0,
  };
  let tRate = Date.now();
  const emit = () => { p.elapsedMs = Date.now() - tRate; o.onProgress?.(p); };

  // Pass 1: read and check every row before a cent is spent; count what the cache already holds.
  const cache = o.dryRun ? ElicitCache.openIfExists(cachePath) : new ElicitCache(cachePath);
  try {
    let rows = 0;
    let cached = 0;
    const est = { rows: 0, requests: 0, prompt_tokens: 0, completion_tokens: 0 };
    for await (const { turns } of samples(o)) {
      rows++;
      if (cache?.score(keyOf(method, o.model, turns)) !== undefined) { cached++; continue; }
      const e = method.estimate(turns);
      est.rows++;
      est.requests += e.requests;
      est.prompt_tokens += e.promptTokens;
      est.completion_tokens += e.completionTokens;
    }
    p.total = rows;
    emit();
    const summary: ElicitSummary = {
      ok: true, dry_run: !!o.dryRun, method: method.name, model: o.model, rows, cached, scored: 0, failed: 0,
      requests: 0, retries: 0, reasks: 0, prompt_tokens: 0, completion_tokens: 0, cost_usd: costUsd(0, 0, prices),
      out: null, cache: cachePath, failed_file: null, elapsed_s: 0,
    };
    if (o.dryRun) {
      const cost = costUsd(est.prompt_tokens, est.completion_tokens, prices);
      summary.estimate = { ...est, cost_usd: cost === null || !o.batch ? cost : cost * BATCH_PRICE };
      summary.elapsed_s = (Date.now() - t0) / 1000;
      return summary;
    }
    const c = cache as ElicitCache;

    // Pass 2: rate every row the cache lacks, committing each answer as it arrives.
    p.phase = 'rate';
    tRate = Date.now();
    const failures = new Map<string, string>();
    if (est.rows > 0 && o.batch) summary.batch = await rateBatched(o, o.batch, method, c, p, emit, failures);
    else if (est.rows > 0) await rateAll(o, method, c, p, emit, failures);
    else p.done = p.skipped = rows;
    summary.failed = p.failed;
    summary.scored = rows - cached - p.failed;
    summary.requests = p.requests;
    summary.retries = p.retries;
    summary.reasks = p.reasks;
    summary.prompt_tokens = p.promptTokens + (summary.batch?.prompt_tokens ?? 0);
    summary.completion_tokens = p.completionTokens + (summary.batch?.completion_tokens ?? 0);
    summary.cost_usd = p.costUsd;
    summary.ok = p.failed === 0;

    // Pass 3: input joined with the cache, in input order, into temp files renamed into place at the end.
    p.phase = 'write';
    emit();
    const out = summary.ok || o.allowFailures ? new AtomicRowWriter(o.out as string) : null;
    const failedPath = o.failed ?? `${o.out}.failed.jsonl`;
    const failedOut = p.failed > 0 || o.failed ? new AtomicRowWriter(failedPath, 'jsonl') : null;
    try {
      for await (const { r, turns } of samples(o)) {
        const key = keyOf(method, o.model, turns);
        const score = c.score(key);
        if (score !== undefined) await out?.write(setFields(r, { uncertainty: score, uncertainty_method: method.name }));
        else await failedOut?.write(setFields(r, { uncertainty_error: `line ${r.line}: ${failures.get(key) ?? 'not rated'}` }));
      }
      await out?.commit();
      await failedOut?.commit();
    } catch (e) {
      await out?.abort();
      await failedOut?.abort();
      throw e;
    }
    if (!failedOut) fs.rmSync(failedPath, { force: true }); // a stale list from an earlier run would mislead
    summary.out = out ? (o.out as string) : null;
    summary.failed_file = failedOut ? failedPath : null;
    summary.elapsed_s = (Date.now() - t0) / 1000;
    return summary;
  } finally {
    cache?.close();
  }
}

/**
 * The Batch API path: passes of rateAll whose requests go into batches (Pending) until a pass has nothing left to
 * send; between passes the batches are created, polled and harvested. The store shares the cache's file.
 */
async function rateBatched(o: ElicitOptions, settings: BatchSettings, method: Elicitor, cache: ElicitCache, p: ElicitProgress,
  emit: () => void, failures: Map<string, string>): Promise<NonNullable<ElicitSummary['batch']>> {
  const api = new BatchApi({ baseURL: o.baseURL, apiKey: o.apiKey, family: 'elicit', timeoutMs: o.timeoutMs, maxRetries: o.maxRetries, backoff: o.backoff });
  const batcher = new Batcher(new BatchStore(cache.database), api, {
    ...settings, run: 'elicit', dir: `${cache.file}.batches`, maxRetries: o.maxRetries, httpCode: 'UAL_ELICIT_HTTP',
    onProgress: (b) => { p.phase = 'batch'; p.batch = b; emit(); },
  });
  p.batchTokens = batcher.stats;
  for (;;) {
    await batcher.settle();
    p.phase = 'rate';
    await rateAll(o, method, cache, p, emit, failures, (tag, online) => batcher.session(tag, online));
    if (batcher.captured === 0) break;
    await batcher.submit();
  }
  const s = batcher.stats;
  return { batches: s.batches, requests: s.requests, failed: s.failed, prompt_tokens: s.promptTokens, completion_tokens: s.completionTokens };
}

/**
 * Rate every row the cache lacks. `route` (the batch path) gives each row's requests their chat function; a row
 * it leaves Pending is neither done nor failed: the next pass rates it.
 */
async function rateAll(o: ElicitOptions, method: Elicitor, cache: ElicitCache, p: ElicitProgress, emit: () => void,
  failures: Map<string, string>, route?: (tag: string, online: ChatFn) => ChatFn): Promise<void> {
  const run = new AbortController();
  let fatal: unknown = null;
  const client = new JudgeClient({
    baseURL: o.baseURL, apiKey: o.apiKey, concurrency: o.concurrency, rpm: o.rpm, tpm: o.tpm, timeoutMs: o.timeoutMs,
    maxRetries: o.maxRetries, backoff: o.backoff, family: 'elicit', signal: run.signal,
    onChange: () => { sync(); emit(); },
  });
  // a pass of the batch path adds to what the passes before it counted
  const base = { requests: p.requests, retries: p.retries, promptTokens: p.promptTokens, completionTokens: p.completionTokens };
  p.done = p.skipped = p.failed = 0;
  const sync = () => {
    p.requests = base.requests + client.stats.requests;
    p.retries = base.retries + client.stats.retries;
    p.promptTokens = base.promptTokens + client.stats.promptTokens;
    p.completionTokens = base.completionTokens + client.stats.completionTokens;
    const b = p.batchTokens;
    const online = costUsd(p.promptTokens, p.completionTokens, o.prices ?? {});
    const batched = b ? costUsd(b.promptTokens, b.completionTokens, o.prices ?? {}) : 0;
    p.costUsd = online === null ? null : online + BATCH_PRICE * (batched ?? 0);
  };
  const ctx: MethodContext = {
    chat: (b) => client.chat(b),
    scrub: client.scrub,
    reasked: () => { p.reasks++; emit(); },
    baseURL: o.baseURL,
  };
  // A long streak of failed rows means the server, not the rows, is broken: stop instead of grinding through
  // every remaining row's retries. Everything answered so far stays cached.
  const streakLimit = Math.max(20, 2 * o.concurrency);
  let streak = 0;
  const stop = (e: unknown) => {
    if (fatal) return;
    fatal = e;
    run.abort(e);
  };

  // Rows in flight are bounded, so reading the input waits for the judge (memory stays flat).
  const slots = new Semaphore(o.concurrency);
  const waiting = new Map<string, number>(); // key in flight -> rows (duplicates included) waiting on it
  const tasks = new Set<Promise<void>>();

  const rateOne = async (key: string, turns: Message[]): Promise<void> => {
    let pending = false;
    try {
      const have = cache.answers(key);
      const idxs = Array.from({ length: method.answersPerSample }, (_, i) => i);
      const final = () => method.score(idxs.map((i) => have.get(i) as Answer));
      const missing = idxs.filter((i) => !have.has(i));
      if (missing.length === 0) { cache.putScore(key, final(), method.name); return; }
      const results = await Promise.allSettled(missing.map(async (i) => {
        const a: Answer = await method.answer(turns, i, route ? { ...ctx, chat: route(`${key}:${i}`, ctx.chat) } : ctx);
        if (route) client.vouch();
        if (fatal) return; // the run is stopping and the cache may be closing; the answer is lost, not wrong
        have.set(i, a);
        if (have.size === idxs.length) cache.putLastAnswer(key, i, a, final(), method.name);
        else cache.putAnswer(key, i, a);
      }));
      const bad = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected').map((r) => r.reason);
      if (bad.length) throw bad.find((e) => !(e instanceof RowFailure) && !(e instanceof Pending)) ?? bad.find((e) => e instanceof RowFailure) ?? bad[0];
      streak = 0;
    } catch (e) {
      if (fatal) return;
      if (e instanceof Pending) { pending = true; return; }
      if (e instanceof RowFailure) {
        failures.set(key, `[${e.code}] ${client.scrub(e.message)}`);
        p.failed += waiting.get(key) ?? 1;
        if (++streak >= streakLimit) {
          stop(new UalError('UAL_ELICIT_FAILED', `stopped: the last ${streak} rows all failed (last: ${client.scrub(e.message)})`,
            'answers received so far are cached; fix the server or options, then rerun the same command'));
        }
      } else stop(e);
    } finally {
      if (!pending) p.done += waiting.get(key) ?? 1;
      waiting.delete(key);
      sync();
      emit();
    }
  };

  for await (const { turns } of samples(o)) {
    if (fatal) break;
    const key = keyOf(method, o.model, turns);
    const n = waiting.get(key);
    if (n !== undefined) { waiting.set(key, n + 1); continue; } // the same sample is already being rated
    if (cache.score(key) !== undefined || failures.has(key)) {
      if (failures.has(key)) p.failed++;
      else p.skipped++;
      p.done++;
      continue;
    }
    await slots.acquire();
    if (fatal) { slots.release(); break; }
    waiting.set(key, 1);
    const t: Promise<void> = rateOne(key, turns).finally(() => { slots.release(); tasks.delete(t); });
    tasks.add(t);
  }
  await Promise.all(tasks);
  sync();
  if (fatal) {
    if (fatal instanceof UalError) fatal.message = client.scrub(fatal.message);
    throw fatal;
  }
}
