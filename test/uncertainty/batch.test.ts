// The Batch API path in process, against a real local batch server: every row scored once and paid once, through
// partial failures, expiry, cancellation, a failed validation, a server restart mid-poll and split batches; a
// rerun sends nothing; the output equals the online path's for the same answers; the key stays off the disk.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { elicit, type ElicitOptions } from '../../src/uncertainty/elicit.js';
import type { BatchSettings } from '../../src/uncertainty/batch/batcher.js';
import { filesUnder } from '../helpers/files.js';
import { startBatchServer, type Answer, type BatchServer, type BatchServerOptions } from './batch-server.js';

const KEY = 'sk-batch-test-5e4d3c2b1a-SECRET';
let dir: string;
let server: BatchServer | null = null;
beforeAll(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ual-batch-')); });
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
afterEach(async () => { await server?.close(); server = null; });

const expected = (i: number) => (i * 31 + 7) % 100;
const good = (_b: unknown, item: number | null): Answer => ({ content: `{"score": ${expected(item!)}}` });

function dataset(name: string, n: number): string {
  const f = path.join(dir, name);
  fs.writeFileSync(f, Array.from({ length: n }, (_, i) =>
    JSON.stringify({ id: i, instruction: `Task item-${i}: describe something`, input: '', output: `answer ${i}` })).join('\n') + '\n');
  return f;
}

const BATCH: BatchSettings = { retry: 'online', maxRequests: 50_000, maxBytes: 200 * 1024 * 1024, poll: { baseMs: 2, maxMs: 10 } };

function opts(name: string, input: string, extra: Partial<ElicitOptions> = {}): ElicitOptions {
  const out = path.join(dir, name, 'scored.jsonl');
  return {
    input, out, method: 'verbalized', model: 'judge', baseURL: server!.url, apiKey: KEY, concurrency: 4, timeoutMs: 2000,
    maxRetries: 3, backoff: { baseMs: 5, maxMs: 20 }, parseRetries: 2, samples: 3, topLogprobs: 5, answerTokens: 5,
    batch: BATCH, ...extra,
  };
}

const readOut = (f: string) => fs.readFileSync(f, 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l) as { id: number; uncertainty: number });


async function serve(o: Partial<BatchServerOptions> = {}): Promise<BatchServer> {
  server = await startBatchServer({ answer: good, ...o });
  return server;
}

describe('elicit --batch', () => {
  it('scores every row from one batch: no synchronous request, each custom id paid once; a rerun sends nothing', async () => {
    const s = await serve();
    const o = opts('basic', dataset('basic.jsonl', 50), { prices: { inPerM: 2, outPerM: 8 } });
    const r = await elicit(o);
    expect(r).toMatchObject({ ok: true, rows: 50, scored: 50, failed: 0, requests: 0, batch: { batches: 1, requests: 50, failed: 0 } });
    expect(r.prompt_tokens).toBe(5000);
    expect(r.completion_tokens).toBe(250);
    expect(r.cost_usd).toBeCloseTo(((5000 * 2 + 250 * 8) / 1e6) / 2, 12); // the batch price: half
    expect(readOut(o.out!).map((x) => [x.id, x.uncertainty])).toEqual(Array.from({ length: 50 }, (_, i) => [i, expected(i)]));
    expect(s.chats).toHaveLength(0);
    expect(s.batches.size).toBe(1);
    expect([...s.paid.values()]).toEqual(Array(50).fill(1));
    expect(fs.readdirSync(`${r.cache}.batches`)).toEqual([]); // the input file went once its batch was harvested
    const calls = s.log.length;
    const again = await elicit(o);
    expect(again).toMatchObject({ ok: true, cached: 50, scored: 0, requests: 0 });
    expect(s.log.length).toBe(calls);
    for (const f of filesUnder(path.join(dir, 'basic'))) expect(fs.readFileSync(f).includes(KEY), f).toBe(false);
    expect(s.log.every((l) => l.auth === `Bearer ${KEY}`)).toBe(true);
  });

  it('--dry-run with --batch estimates at the batch price and sends nothing', async () => {
    const s = await serve();
    const input = dataset('dry.jsonl', 10);
    const prices = { inPerM: 3, outPerM: 15 };
    const online = await elicit(opts('dry', input, { dryRun: true, batch: undefined, prices }));
    const batched = await elicit(opts('dry', input, { dryRun: true, prices }));
    expect(online.estimate!.cost_usd).toBeCloseTo((online.estimate!.prompt_tokens * 3 + online.estimate!.completion_tokens * 15) / 1e6, 12);
    expect(batched.estimate!.cost_usd).toBeCloseTo(online.estimate!.cost_usd! / 2, 12);
    expect(s.log).toHaveLength(0);
  });

  it('partial failures and re-asks go online (--batch-retry online); output equals the online path for the same answers', async () => {
    // item 3: an error line; item 4: unreadable in the batch, readable when re-asked; item 5: 500 online too at first
    const answer = (b: { messages: Array<{ content: string }> }, item: number | null): Answer => {
      const reasked = b.messages.length > 2;
      if (item === 3 && !reasked && s.chats.length === 0) return { error: { status: 500, code: 'server_error', message: 'boom' } };
      if (item === 4 && !reasked) return { content: 'It depends.' };
      return good(b, item);
    };
    const s = await serve({ answer });
    const input = dataset('mixed.jsonl', 12);
    const o = opts('mixed', input);
    const r = await elicit(o);
    expect(r).toMatchObject({ ok: true, scored: 12, failed: 0, requests: 2, reasks: 1, batch: { batches: 1, requests: 12, failed: 1 } });
    expect(s.chats.map((b) => b.messages.length)).toEqual([2, 4]); // item 3 as it was; item 4 with the re-ask
    expect([...s.paid.values()].every((n) => n === 1)).toBe(true);

    // the online path over the same answers writes the same bytes
    const online = await elicit(opts('mixed-online', input, { batch: undefined }));
    expect(online).toMatchObject({ ok: true, scored: 12 });
    expect(fs.readFileSync(online.out!, 'utf8')).toBe(fs.readFileSync(o.out!, 'utf8'));
  });

  it('rows the server rejects for good, in the batch and online, fail alone: the rest is scored, the run is not stopped', async () => {
    const bad = new Set([1, 4, 6, 7]);
    const s = await serve({ answer: (b, item) => (bad.has(item!) ? { error: { status: 400, code: 'context_length_exceeded', message: 'too long' } } : good(b, item)) });
    const r = await elicit(opts('rejected', dataset('rejected.jsonl', 10), { allowFailures: true }));
    expect(r).toMatchObject({ ok: false, scored: 6, failed: 4, requests: 4, batch: { requests: 10, failed: 4 } });
    expect(s.chats).toHaveLength(4); // each asked online once: a 400 is not retried
    expect(fs.readFileSync(r.failed_file!, 'utf8')).toMatch(/"id":1,.*"uncertainty_error":"line 2: \[UAL_ELICIT_HTTP\] the server rejected the request \(HTTP 400 too long\)"/);
  });

  it('--batch-retry batch: failed requests and re-asks go into follow-up batches; a request failing every batch fails its row', async () => {
    const answer = (b: { messages: Array<{ content: string }> }, item: number | null): Answer => {
      if (item === 2) return { error: { status: 400, code: 'invalid', message: 'always bad' } };
      if (item === 5 && b.messages.length === 2) return { content: 'no idea' };
      return good(b, item);
    };
    const s = await serve({ answer, plan: (n) => (n === 0 ? { end: 'completed' } : {}) });
    const o = opts('follow', dataset('follow.jsonl', 8), { batch: { ...BATCH, retry: 'batch' }, maxRetries: 1, allowFailures: true });
    const r = await elicit(o);
    expect(r).toMatchObject({ ok: false, scored: 7, failed: 1, requests: 0, batch: { batches: 2, requests: 8 + 2, failed: 2 } });
    expect(s.chats).toHaveLength(0);
    // batch 1: all 8; batch 2: item 2 again (its one retry) and item 5's re-ask
    expect([...s.batches.values()].map((b) => b.lines.length)).toEqual([8, 2]);
    expect(fs.readFileSync(r.failed_file!, 'utf8')).toMatch(/"id":2,.*failed in 2 batches; last: HTTP 400: always bad/);
    expect(readOut(o.out!).map((x) => x.id)).toEqual([0, 1, 3, 4, 5, 6, 7]);
  });

  it('expired, cancelled and failed batches: what they answered is kept and paid once, the rest is retried online', async () => {
    for (const [end, partial, chats] of [['expired', 0.5, 5], ['cancelled', 0.3, 7], ['failed', 0, 10]] as const) {
      const s = await serve({ plan: () => ({ end, partial }) });
      const r = await elicit(opts(`end-${end}`, dataset(`end-${end}.jsonl`, 10)));
      expect(r, end).toMatchObject({ ok: true, scored: 10, requests: chats, batch: { batches: 1, requests: 10, failed: chats } });
      expect(s.chats, end).toHaveLength(chats);
      const online = new Set(s.chats.map((b) => b.messages[1].content));
      expect(online.size, end).toBe(chats); // each unanswered row asked online once, none twice
      expect([...s.paid.values()].every((n) => n === 1), end).toBe(true);
      await s.close();
      server = null;
    }
  });

  it('survives a server restart mid-poll; splits over the request-count and file-size limits', async () => {
    const s = await serve({ progressPolls: 3 });
    let restarted = false;
    const o = opts('split', dataset('split.jsonl', 23), {
      batch: { ...BATCH, maxRequests: 10, maxBytes: 4 * 1024 }, maxRetries: 8, backoff: { baseMs: 10, maxMs: 40 },
      onProgress: (p) => {
        if (p.phase === 'batch' && !restarted) { restarted = true; void s.restart(30); }
      },
    });
    const r = await elicit(o);
    expect(restarted).toBe(true);
    expect(r).toMatchObject({ ok: true, scored: 23, requests: 0 });
    const sizes = [...s.batches.values()].map((b) => b.lines.length);
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(23);
    expect(Math.max(...sizes)).toBeLessThanOrEqual(10);
    expect(sizes.length).toBeGreaterThanOrEqual(3);
    for (const b of s.batches.values()) expect(s.files.get(b.input_file_id)!.data.length).toBeLessThanOrEqual(4 * 1024);
    expect([...s.paid.values()]).toEqual(Array(23).fill(1));
  });

  it('--method sampling: the k answers of a row are k requests with k custom ids', async () => {
    const s = await serve({ answer: (_b, item) => ({ content: `word${item} again` }) });
    const r = await elicit(opts('sampling', dataset('sampling.jsonl', 4), { method: 'sampling' }));
    expect(r).toMatchObject({ ok: true, scored: 4, requests: 0, batch: { requests: 12 } });
    expect(s.paid.size).toBe(12);
    expect(readOut(r.out!).map((x) => x.uncertainty)).toEqual([0, 0, 0, 0]); // identical answers: no disagreement
  });
});
