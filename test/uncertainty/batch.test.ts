// The Batch API path in process, against a real local batch server: every row scored once and paid once, through
// partial failures, expiry, cancellation, a failed validation, a server restart mid-poll and split batches; a
// rerun sends nothing; the output equals the online path's for the same answers; the key stays off the disk.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { elicit, type ElicitOptions } from '../../src/uncertainty/elicit.js';
import type { BatchSettings } from '../../src/uncertainty/batch/batcher.js';
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

/** Every file under `d`, recursively. */
function allFiles(d: string): string[] {
  return fs.readdirSync(d, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? allFiles(path.join(d, e.name)) : [path.join(d, e.name)]));
}

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
    const calls = s.log.length;
    const again = await elicit(o);
    expect(again).toMatchObject({ ok: true, cached: 50, scored: 0, requests: 0 });
    expect(s.log.length).toBe(calls);
    for (const f of allFiles(path.join(dir, 'basic'))) expect(fs.readFileSync(f).includes(KEY), f).toBe(false);
    expect(s.log.every((l) => l.auth === `Bearer ${KEY}`)).toBe(true);
  });
});
