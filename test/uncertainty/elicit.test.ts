// The elicitation run end to end, in process, against a real local HTTP judge that misbehaves on purpose:
// every row must end with the right score, in input order, every field kept; bad setups must stop at once.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DataError, UalError } from '../../src/errors.js';
import { elicit, type ElicitOptions } from '../../src/uncertainty/elicit.js';
import { firstTokenEntropy, toScore } from '../../src/uncertainty/measures.js';
import { closedPort, completion, logprobsOf, startJudge, type Judge, type Reply, type Seen } from './judge-server.js';

const KEY = 'sk-test-0123456789abcdef-SECRET';
let dir: string;
let judge: Judge | null = null;
beforeAll(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ual-elicit-')); });
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
afterEach(async () => { await judge?.close(); judge = null; });

const expected = (i: number) => (i * 37) % 100;

/** Rows in every supported format, each tagged item-i, with extra fields that must survive untouched. */
function row(i: number): Record<string, unknown> {
  const tag = `item-${i}`;
  switch (i % 5) {
    case 0: return { id: i, instruction: `Write a poem (${tag})`, input: '', output: 'Roses...' };
    case 1: return { id: i, conversations: [{ from: 'human', value: `Hi (${tag})` }, { from: 'gpt', value: 'Hello!' }], source: 'sharegpt' };
    case 2: return { id: i, messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: `2+2? (${tag})` }, { role: 'assistant', content: '4' }] };
    case 3: return { id: i, question: `Tom has 3 apples (${tag})`, answer: '3 #### 3', meta: { split: 'train', tags: ['a', 'b'] } };
    default: return { id: i, query: `Solve x (${tag})`, response: 'x = 1', type: 'MATH_FOBAR' };
  }
}

function writeRows(name: string, n: number, extra = (_i: number) => ''): string {
  const f = path.join(dir, name);
  fs.writeFileSync(f, Array.from({ length: n }, (_, i) => {
    const s = JSON.stringify(row(i));
    return extra(i) ? s.slice(0, -1) + extra(i) + '}' : s;
  }).join('\n') + '\n');
  return f;
}

function opts(input: string, out: string, extra: Partial<ElicitOptions> = {}): ElicitOptions {
  return {
    input, out, method: 'verbalized', model: 'judge-large', baseURL: judge!.url, apiKey: KEY,
    concurrency: 4, timeoutMs: 1000, maxRetries: 5, backoff: { baseMs: 10, maxMs: 50 }, parseRetries: 3,
    samples: 5, topLogprobs: 5, answerTokens: 5, cache: path.join(path.dirname(out), `${path.basename(out)}.sqlite`),
    ...extra,
  };
}

const good = (s: Seen): Reply => ({ json: completion(`{"score": ${expected(s.item!)}}`) });

function readOut(f: string): Array<Record<string, unknown>> {
  return fs.readFileSync(f, 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l));
}

async function rejection(p: Promise<unknown>): Promise<UalError> {
  try {
    await p;
  } catch (e) {
    return e as UalError;
  }
  throw new Error('expected a rejection');
}

describe('elicit against a misbehaving judge', () => {
  it('scores every row right, in order, fields kept, through 429s, 5xx, drops, garbage, timeouts and every reply format', async () => {
    judge = await startJudge((s) => {
      const i = s.item!;
      const v = expected(i);
      if (i === 11 && s.attempt === 0) return { status: 429, headers: { 'retry-after': '1' }, json: { error: { message: 'slow down' } } };
      if (i === 13 && s.attempt === 0) return { json: completion(`{"score": ${v}}`), stallMs: 2500 };
      switch (i % 10) {
        case 0: return s.attempt === 0 ? { status: 429, headers: { 'retry-after-ms': '20' }, json: { error: { message: 'Rate limit' } } } : good(s);
        case 1: return s.attempt === 0 ? { status: 500, json: { error: { message: 'boom' } } } : s.attempt === 1 ? { status: 503, text: 'overloaded' } : good(s);
        case 2: return s.attempt === 0 ? { destroy: 'before' } : good(s);
        case 3: return s.attempt === 0 ? { json: completion('Hard to say, it depends.') } : good(s);
        case 4: return s.attempt === 0 ? { ...good(s), delayMs: 2500 } : good(s);
        case 5: return { json: completion(`${v}`) };
        case 6: return { json: completion(`Score: ${v}`) };
        case 7: return { json: completion('```json\n{"score": ' + v + '}\n```') };
        case 8: return s.attempt === 0 ? { ...good(s), destroy: 'mid-body' } : { json: completion(`My rating: {"score": ${v}} - done.`) };
        default: return s.attempt === 0 ? { text: '<html>502 Bad Gateway</html>' } : good(s);
      }
    });
    // a big integer id must come out byte for byte (JSON.parse would round it)
    const input = writeRows('chaos.jsonl', 40, (i) => (i === 7 ? ',"big":12345678901234567890123' : ''));
    const out = path.join(dir, 'chaos.out.jsonl');
    const s = await elicit(opts(input, out));

    expect(s).toMatchObject({ ok: true, rows: 40, cached: 0, scored: 40, failed: 0, out });
    const rows = readOut(out);
    expect(rows.length).toBe(40);
    rows.forEach((r, i) => {
      const { uncertainty, uncertainty_method, big: _big, ...rest } = r;
      expect(rest).toEqual(row(i));
      expect(uncertainty).toBe(expected(i));
      expect(uncertainty_method).toBe('verbalized');
    });
    expect(fs.readFileSync(out, 'utf8').split('\n')[7]).toContain('"big":12345678901234567890123,');

    // the judge saw the whole sample, every turn
    const shareGpt = judge.log.find((x) => x.item === 1)!;
    expect(shareGpt.body.messages.at(-1)!.content).toContain('[assistant]\nHello!');
    expect(shareGpt.auth).toBe(`Bearer ${KEY}`);
    expect(shareGpt.body.model).toBe('judge-large');
    // the unreadable reply was followed by a correction, not a guess
    const reask = judge.log.find((x) => x.item === 3 && x.attempt === 1)!;
    expect(reask.body.messages.at(-1)!.content).toMatch(/could not be read/);
    expect(s.reasks).toBe(3);
    // Retry-After: 1 was honoured
    const r11 = judge.log.filter((x) => x.item === 11);
    expect(r11[1].t - r11[0].t).toBeGreaterThanOrEqual(990);
    // every row retried at most what its script demanded
    const perItem = new Map<number, number>();
    for (const x of judge.log) perItem.set(x.item!, (perItem.get(x.item!) ?? 0) + 1);
    for (let i = 0; i < 40; i++) {
      // item 11: 429 then its mode's 503; item 13: a stalled body, then its mode's second (good) reply
      const want = i === 13 ? 2 : [0, 2, 3, 4, 8, 9].includes(i % 10) ? 2 : i % 10 === 1 ? 3 : 1;
      expect(perItem.get(i), `item ${i}`).toBe(want);
    }
    expect(s.retries).toBe(judge.log.length - 40 - s.reasks);
    expect(s.prompt_tokens).toBe(100 * (judge.log.length - s.retries));

    // the rerun is free: nothing sent, same output
    const n = judge.log.length;
    const again = await elicit(opts(input, out));
    expect(judge.log.length).toBe(n);
    expect(again).toMatchObject({ cached: 40, scored: 0, requests: 0 });
    expect(readOut(out)).toEqual(rows);
  });

  it('asks an identical sample once, and honours --limit', async () => {
    judge = await startJudge(good);
    const f = path.join(dir, 'dup.jsonl');
    fs.writeFileSync(f, [row(1), { ...row(1), id: 'copy' }, row(2), row(3)].map((r) => JSON.stringify(r)).join('\n'));
    const out = path.join(dir, 'dup.out.jsonl');
    const s = await elicit(opts(f, out, { limit: 3 }));
    expect(judge.log.length).toBe(2);
    expect(s.rows).toBe(3);
    expect(readOut(out).map((r) => [r.id, r.uncertainty])).toEqual([[1, expected(1)], ['copy', expected(1)], [2, expected(2)]]);
  });

  it('a --prompt-file replaces the prompt and is part of the cache key', async () => {
    judge = await startJudge(good);
    const input = writeRows('pf.jsonl', 3);
    const out = path.join(dir, 'pf.out.jsonl');
    await elicit(opts(input, out));
    expect(judge.log.length).toBe(3);
    const pf = path.join(dir, 'prompt.txt');
    fs.writeFileSync(pf, 'Rate this sample 0-99 for open-endedness:\n{{sample}}\nAnswer {"score": N}.');
    await elicit(opts(input, out, { promptFile: pf }));
    expect(judge.log.length).toBe(6);
    expect(judge.log[3].body.messages).toHaveLength(1);
    expect(judge.log[3].body.messages[0].content).toMatch(/^Rate this sample 0-99[\s\S]*\[user\]\nWrite a poem \(item-0\)/);
    fs.writeFileSync(pf, 'A different prompt.');
    await elicit(opts(input, out, { promptFile: pf }));
    expect(judge.log.length).toBe(9);
    expect(judge.log[6].body.messages[0]).toEqual({ role: 'system', content: 'A different prompt.' });
  });

  it('lists rows that still fail, writes no output and keeps the good answers cached', async () => {
    judge = await startJudge((s) => (s.item === 2 ? { status: 500, json: { error: { message: `broken for ${KEY}` } } }
      : s.item === 4 ? { json: completion('no idea') } : good(s)));
    const input = writeRows('fail.jsonl', 6);
    const out = path.join(dir, 'fail.out.jsonl');
    const s = await elicit(opts(input, out, { maxRetries: 2 }));
    expect(s).toMatchObject({ ok: false, failed: 2, scored: 4, out: null, failed_file: `${out}.failed.jsonl` });
    expect(fs.existsSync(out)).toBe(false);
    const failed = readOut(`${out}.failed.jsonl`);
    expect(failed.map((r) => r.id)).toEqual([2, 4]);
    expect(failed[0].uncertainty_error).toMatch(/^line 3: \[UAL_ELICIT_HTTP\] gave up after 3 attempts; last: HTTP 500 broken for \[redacted\]/);
    expect(failed[1].uncertainty_error).toMatch(/\[UAL_ELICIT_PARSE\] no 0-99 score in 4 replies; last reply: "no idea"/);
    expect(JSON.stringify(failed)).not.toContain(KEY);
    expect(judge.log.filter((x) => x.item === 2).length).toBe(3);
    expect(judge.log.filter((x) => x.item === 4).length).toBe(4);

    // --allow-failures: the output without the failed rows; only they are asked again
    const n = judge.log.length;
    const s2 = await elicit(opts(input, out, { maxRetries: 0, parseRetries: 0, allowFailures: true }));
    expect(judge.log.length).toBe(n + 2);
    expect(s2).toMatchObject({ ok: false, failed: 2, cached: 4 });
    expect(readOut(out).map((r) => r.id)).toEqual([0, 1, 3, 5]);
  });

  it('sampling: agreement of k answers at temperature T', async () => {
    judge = await startJudge((s) => {
      const n = s.attempt;
      const content = s.item === 0 ? 'The answer is 42.' // all agree
        : s.item === 1 ? ['red', 'blue', 'green', 'pink', 'gold'][n % 5] // all differ
          : ['yes', 'yes', 'no', 'no', 'yes'][n % 5];
      return { json: completion(content) };
    });
    const input = writeRows('samp.jsonl', 3);
    const out = path.join(dir, 'samp.out.jsonl');
    await elicit(opts(input, out, { method: 'sampling', samples: 5, temperature: 0.9 }));
    expect(judge.log.length).toBe(15);
    expect(judge.log.every((x) => x.body.temperature === 0.9 && x.body.max_tokens === 256)).toBe(true);
    // the judge answers the prompt, without the sample's own answer
    expect(judge.log.find((x) => x.item === 2)!.body.messages.map((m) => m.role)).toEqual(['system', 'user']);
    const pYes = 3 / 5;
    const h = -(pYes * Math.log(pYes) + (1 - pYes) * Math.log(1 - pYes)) / Math.log(5);
    expect(readOut(out).map((r) => [r.uncertainty, r.uncertainty_method])).toEqual([[0, 'sampling'], [99, 'sampling'], [toScore(h), 'sampling']]);
  });

  it('logprobs: entropy of the first answer tokens', async () => {
    const sure = [[1]];
    const unsure = [[0.2, 0.2, 0.2, 0.2, 0.1], [0.5, 0.3]];
    judge = await startJudge((s) => ({ json: completion('x', { logprobs: logprobsOf(s.item === 0 ? sure : unsure) }) }));
    const input = writeRows('lp.jsonl', 2);
    const out = path.join(dir, 'lp.out.jsonl');
    await elicit(opts(input, out, { method: 'logprobs', topLogprobs: 5 }));
    expect(judge.log[0].body).toMatchObject({ logprobs: true, top_logprobs: 5, max_tokens: 5, temperature: 0 });
    const h = firstTokenEntropy(unsure.map((ps) => ({ logprobs: ps.map(Math.log) })));
    expect(readOut(out).map((r) => r.uncertainty)).toEqual([0, toScore(h)]);
  });

  it('logprobs: a server that returns none stops the run with UAL_ELICIT_UNSUPPORTED', async () => {
    judge = await startJudge(() => ({ json: completion('x') }));
    const input = writeRows('nolp.jsonl', 20);
    const e = await rejection(elicit(opts(input, path.join(dir, 'nolp.out.jsonl'), { method: 'logprobs' })));
    expect(e.code).toBe('UAL_ELICIT_UNSUPPORTED');
    expect(e.message).toMatch(/returned no top_logprobs for model judge-large/);
    expect(judge.log.length).toBeLessThanOrEqual(4);
  });

  it('self without its local elicitor is a usage error, and asks no server', async () => {
    judge = await startJudge(good);
    const e = await rejection(elicit(opts(writeRows('self.jsonl', 1), path.join(dir, 'self.out.jsonl'), { method: 'self' })));
    expect(e.code).toBe('UAL_USAGE');
    expect(judge.log.length).toBe(0);
  });

  it('respects --rpm', async () => {
    judge = await startJudge(good);
    const t0 = Date.now();
    await elicit(opts(writeRows('rpm.jsonl', 30), path.join(dir, 'rpm.out.jsonl'), { rpm: 1200, concurrency: 8 }));
    // 20/s with a burst of one second's worth: by any time t, at most 20 + 20 * t requests (slowness only helps)
    judge.log.forEach((x, j) => expect(j + 1).toBeLessThanOrEqual(20 + (20 * (x.t - t0)) / 1000 + 1));
    expect(judge.log[29].t - t0).toBeGreaterThanOrEqual(450);
  });

  it('respects --tpm, charging the tokens the server reports', async () => {
    judge = await startJudge((s) => ({ json: completion(`{"score": ${expected(s.item!)}}`, { usage: { p: 400, c: 100 } }) }));
    const t0 = Date.now();
    await elicit(opts(writeRows('tpm.jsonl', 40), path.join(dir, 'tpm.out.jsonl'), { tpm: 600_000, concurrency: 4 }));
    // 10k tokens/s, burst 10k, 500 tokens a request: by time t at most 10k + 10 t tokens, plus what is in flight
    judge.log.forEach((x, j) => expect(500 * j).toBeLessThanOrEqual(10_000 + 10 * (x.t - t0) + 4 * 500));
    expect(judge.log[39].t - t0).toBeGreaterThanOrEqual(500);
  });

  it('dry run: counts and estimates, sends nothing, writes nothing', async () => {
    judge = await startJudge(good);
    const input = writeRows('dry.jsonl', 10);
    const out = path.join(dir, 'dry', 'out.jsonl');
    const s = await elicit(opts(input, out, { dryRun: true, cache: undefined, prices: { inPerM: 2.5, outPerM: 10 } }));
    expect(judge.log.length).toBe(0);
    expect(fs.existsSync(path.dirname(out))).toBe(false);
    expect(s.estimate!.rows).toBe(10);
    expect(s.estimate!.requests).toBe(10);
    expect(s.estimate!.prompt_tokens).toBeGreaterThan(10 * 150);
    expect(s.estimate!.cost_usd).toBeCloseTo((s.estimate!.prompt_tokens * 2.5 + s.estimate!.completion_tokens * 10) / 1e6);
  });
});

describe('elicit refuses bad setups at once', () => {
  it('401: stops immediately with the message, no retry storm, key scrubbed', async () => {
    judge = await startJudge(() => ({ status: 401, json: { error: { message: `Incorrect API key provided: ${KEY}`, code: 'invalid_api_key' } } }));
    const input = writeRows('auth.jsonl', 50);
    const t0 = Date.now();
    const e = await rejection(elicit(opts(input, path.join(dir, 'auth.out.jsonl'))));
    expect(Date.now() - t0).toBeLessThan(3000);
    expect(e.code).toBe('UAL_ELICIT_AUTH');
    expect(e.message).toMatch(/refused the API key \(HTTP 401 Incorrect API key provided: \[redacted\]\)/);
    expect(e.message + e.hint).not.toContain(KEY);
    expect(judge.log.length).toBeLessThanOrEqual(4); // at most the requests already in flight
  });

  it('unreachable server: a clear error within the timeout, not a hang', async () => {
    judge = await startJudge(good);
    const port = await closedPort();
    const t0 = Date.now();
    const e = await rejection(elicit({ ...opts(writeRows('down.jsonl', 10), path.join(dir, 'down.out.jsonl')), baseURL: `http://127.0.0.1:${port}/v1`, timeoutMs: 5000 }));
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(e.code).toBe('UAL_ELICIT_HTTP');
    expect(e.message).toMatch(/cannot connect to http:\/\/127\.0\.0\.1:\d+\/v1 \(ECONNREFUSED\)/);
  });

  it('a server that never answers in time: rows fail after bounded retries, within the timeout budget', async () => {
    judge = await startJudge((s) => ({ ...good(s), delayMs: 2000 }));
    const t0 = Date.now();
    const s = await elicit(opts(writeRows('slow.jsonl', 2), path.join(dir, 'slow.out.jsonl'), { timeoutMs: 100, maxRetries: 1 }));
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(s.failed).toBe(2);
    expect(judge.log.length).toBe(4);
  });

  it('a server that fails every row: the run stops after a streak instead of grinding through all rows', async () => {
    judge = await startJudge(() => ({ status: 500, json: { error: { message: 'down' } } }));
    const e = await rejection(elicit(opts(writeRows('down500.jsonl', 100), path.join(dir, 'down500.out.jsonl'), { maxRetries: 1, concurrency: 2 })));
    expect(e.code).toBe('UAL_ELICIT_FAILED');
    expect(e.message).toMatch(/stopped: the last 20 rows all failed \(last: gave up after 2 attempts; last: HTTP 500 down\)/);
    expect(judge.log.length).toBeLessThanOrEqual(2 * 22);
  });

  it('404 (wrong model or URL) stops the run', async () => {
    judge = await startJudge(() => ({ status: 404, json: { error: { message: 'The model `nope` does not exist' } } }));
    const e = await rejection(elicit(opts(writeRows('404.jsonl', 20), path.join(dir, '404.out.jsonl'))));
    expect(e.code).toBe('UAL_ELICIT_HTTP');
    expect(e.hint).toMatch(/--model and --base-url/);
    expect(judge.log.length).toBeLessThanOrEqual(4);
  });

  it('a malformed JSONL line: DataError naming file:line before any request', async () => {
    judge = await startJudge(good);
    const f = path.join(dir, 'malformed.jsonl');
    fs.writeFileSync(f, `${JSON.stringify(row(0))}\n${JSON.stringify(row(1))}\n{"instruction": "oops",\n`);
    const e = await rejection(elicit(opts(f, path.join(dir, 'malformed.out.jsonl'))));
    expect(e).toBeInstanceOf(DataError);
    expect(e.message).toMatch(new RegExp(`^${f.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:3: not valid JSON`));
    expect(judge.log.length).toBe(0);
  });

  it('a row with no text: DataError naming file, line and field, before any request', async () => {
    judge = await startJudge(good);
    const f = path.join(dir, 'notext.jsonl');
    fs.writeFileSync(f, `${JSON.stringify(row(0))}\n{"id": 9, "question": "", "answer": ""}\n`);
    const e = await rejection(elicit(opts(f, path.join(dir, 'notext.out.jsonl'))));
    expect(e.code).toBe('UAL_DATA_BAD_ROW');
    expect(e.message).toMatch(/notext\.jsonl:2 field "question": has no text to rate/);
    expect(judge.log.length).toBe(0);
  });
});
