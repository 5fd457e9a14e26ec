// `ual elicit` as a user runs it: a child process (compiled JS) against a real local judge. Killed with SIGKILL
// mid-run, rerun, run again: completes, never re-asks a committed answer, third run sends nothing; the API key
// reaches the server as a bearer token and nowhere else; bad input and bad keys give clear errors and exit codes.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { readJsonRows } from '../../src/data/jsonl.js';
import { rowCacheKey, type ElicitOptions } from '../../src/uncertainty/elicit.js';
import { completion, startJudge, type Judge, type Seen } from './judge-server.js';
import { buildCli, startCli } from '../helpers/cli.js';

const KEY = 'sk-cli-test-9f8e7d6c5b4a-TOPSECRET';
let dir: string;
let judge: Judge | null = null;
let BIN: string;
let cleanup: () => void;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ual-elicit-cli-'));
  ({ bin: BIN, cleanup } = buildCli('elicit'));
});
afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
  cleanup();
});
afterEach(async () => { await judge?.close(); judge = null; });

const cliEnv = (env: Record<string, string | undefined>) => ({ OPENAI_API_KEY: KEY, OPENAI_BASE_URL: undefined, ...env });
const start = (args: string[], env: Record<string, string | undefined> = {}) => startCli(BIN, ['elicit', ...args], cliEnv(env));
const run = (args: string[], env?: Record<string, string | undefined>) => start(args, env ?? {}).done;

const expected = (i: number) => (i * 13 + 5) % 100;

function dataset(name: string, n: number): string {
  const f = path.join(dir, name);
  fs.writeFileSync(f, Array.from({ length: n }, (_, i) =>
    JSON.stringify({ id: `r${i}`, instruction: `Task item-${i}: describe something`, input: '', output: `answer ${i}` })).join('\n') + '\n');
  return f;
}

/** Only the right bearer token gets an answer. */
function judgeScript(delayMs: number) {
  return (s: Seen) => (s.auth !== `Bearer ${KEY}`
    ? { status: 401, json: { error: { message: 'bad key' } } }
    : { json: completion(`{"score": ${expected(s.item!)}}`), delayMs });
}

describe('ual elicit (child process)', () => {
  it('survives SIGKILL: the rerun completes without re-asking committed answers; a third run sends nothing; the key leaks nowhere', async () => {
    judge = await startJudge(judgeScript(25));
    const N = 60;
    const input = dataset('kill.jsonl', N);
    const out = path.join(dir, 'kill', 'scored.jsonl');
    const cache = path.join(dir, 'kill', 'elicit-cache.sqlite');
    const args = ['--data', input, '--out', out, '--model', 'judge', '--base-url', judge.url, '--concurrency', '2',
      '--timeout', '2', '--retry-base', '0.01', '--progress-every', '0.05'];

    // Run 1: killed hard once some answers are in.
    const first = start(args);
    const t0 = Date.now();
    while (judge.log.length < 14 && Date.now() - t0 < 20_000) await new Promise((ok) => setTimeout(ok, 5));
    first.child.kill('SIGKILL');
    const r1 = await first.done;
    expect(r1.signal).toBe('SIGKILL');
    expect(fs.existsSync(out)).toBe(false); // no half-written output
    const run1 = judge.log.length;

    // What the killed run had committed, read straight from its cache.
    const db = new Database(cache, { readonly: true });
    const committed = new Set((db.prepare('SELECT key FROM scores').all() as Array<{ key: string }>).map((r) => r.key));
    db.close();
    const o = { method: 'verbalized', model: 'judge', samples: 5, topLogprobs: 5, answerTokens: 5, parseRetries: 3 } as ElicitOptions;
    const keyOfItem = new Map<number, string>();
    for await (const r of readJsonRows(input)) keyOfItem.set(Number((r.row.id as string).slice(1)), rowCacheKey(o, r));
    const committedItems = [...keyOfItem].filter(([, k]) => committed.has(k)).map(([i]) => i);
    expect(committedItems.length).toBeGreaterThanOrEqual(8);
    expect(committedItems.length).toBeLessThan(N);

    // Run 2: same command, completes; no committed row is asked again.
    const r2 = await run(args);
    expect(r2.code, r2.stderr).toBe(0);
    const asked2 = judge.log.slice(run1).map((s) => s.item!);
    for (const i of committedItems) expect(asked2, `item ${i} was committed before the kill`).not.toContain(i);
    expect(new Set(asked2).size).toBe(asked2.length);
    expect(asked2.length).toBe(N - committedItems.length);
    const rows = fs.readFileSync(out, 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l));
    expect(rows.map((r) => [r.id, r.uncertainty, r.uncertainty_method, r.output]))
      .toEqual(Array.from({ length: N }, (_, i) => [`r${i}`, expected(i), 'verbalized', `answer ${i}`]));
    expect(r2.stderr).toMatch(/elicit: \d+\/60 rows \(\d+\.\d%\) \| [\d.]+ req\/s \| retries 0 \| failed 0 \| tokens \d+ \| ETA/);
    expect(r2.stderr).not.toMatch(/\x1b\[/); // not a terminal: plain lines, no control codes

    // Run 3: nothing left to ask.
    const n2 = judge.log.length;
    const r3 = await run([...args, '--json']);
    expect(r3.code, r3.stderr).toBe(0);
    expect(judge.log.length).toBe(n2);
    const summary = JSON.parse(r3.stdout.trimEnd().split('\n').at(-1)!);
    expect(summary).toMatchObject({ ok: true, rows: N, cached: N, scored: 0, requests: 0, out });

    // The key went to the server as a bearer token, and nowhere else.
    expect(judge.log.every((s) => s.auth === `Bearer ${KEY}`)).toBe(true);
    const files = fs.readdirSync(path.dirname(out)).map((f) => path.join(path.dirname(out), f));
    expect(files.some((f) => f.endsWith('elicit-cache.sqlite'))).toBe(true);
    for (const f of files) expect(fs.readFileSync(f).includes(KEY), f).toBe(false);
    for (const r of [r1, r2, r3]) expect(r.stdout + r.stderr).not.toContain(KEY);
  });

  it('a 401 stops at once with the message and exit code 1, key not shown', async () => {
    judge = await startJudge(judgeScript(0));
    const input = dataset('auth.jsonl', 40);
    const r = await run(['--data', input, '--out', path.join(dir, 'auth.out.jsonl'), '--model', 'judge', '--base-url', judge.url], { OPENAI_API_KEY: 'sk-wrong-key-123456' });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/ual elicit: error \[UAL_ELICIT_AUTH\] the server at http:\/\/127\.0\.0\.1:\d+\/v1 refused the API key \(HTTP 401 bad key\)/);
    expect(r.stderr).toMatch(/hint: set a valid key in \$OPENAI_API_KEY/);
    expect(r.stderr).not.toContain('sk-wrong-key-123456');
    expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
    expect(judge.log.length).toBeLessThanOrEqual(8);
  });

  it('bad input: a malformed line names file:line; no request is sent', async () => {
    judge = await startJudge(judgeScript(0));
    const f = path.join(dir, 'bad.jsonl');
    fs.writeFileSync(f, '{"text": "item-0 fine"}\n{"text": "item-1 broken\n');
    const r = await run(['--in', f, '--out', path.join(dir, 'bad.out.jsonl'), '--model', 'judge', '--base-url', judge.url]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`error [UAL_DATA_BAD_ROW] ${f}:2: not valid JSON`);
    expect(judge.log.length).toBe(0);
  });

  it('failed rows: exit 1 with the list, --json summary last; --allow-failures exits 0', async () => {
    judge = await startJudge((s) => (s.item === 1 ? { status: 500, json: { error: { message: 'down' } } } : judgeScript(0)(s)));
    const input = dataset('fail.jsonl', 3);
    const out = path.join(dir, 'fail.out.jsonl');
    const base = ['--data', input, '--out', out, '--model', 'judge', '--base-url', judge.url, '--max-retries', '1', '--retry-base', '0.01', '--json'];
    const r = await run(base);
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stdout.trimEnd().split('\n').at(-1)!)).toMatchObject({ ok: false, failed: 1, scored: 2, out: null });
    expect(r.stderr).toMatch(/error \[UAL_ELICIT_FAILED\] 1 of 3 rows failed after retries \(listed with reasons in .*fail\.out\.jsonl\.failed\.jsonl\)/);
    expect(r.stderr).toMatch(/hint: rerun the same command/);
    const r2 = await run([...base, '--allow-failures']);
    expect(r2.code).toBe(0);
    expect(fs.readFileSync(out, 'utf8').trimEnd().split('\n')).toHaveLength(2);
  });

  it('--dry-run estimates tokens and cost without a key or a request; usage errors exit 2', async () => {
    judge = await startJudge(judgeScript(0));
    fs.mkdirSync(path.join(dir, 'dry'));
    const input = dataset('dry/dry.jsonl', 25);
    const r = await run(['--data', input, '--model', 'judge', '--base-url', judge.url, '--dry-run', '--price-in', '3', '--price-out', '15', '--json'],
      { OPENAI_API_KEY: undefined });
    expect(r.code, r.stderr).toBe(0);
    expect(judge.log.length).toBe(0);
    expect(r.stderr).toMatch(/dry run, nothing sent\): 25 rows, 0 already cached; 25 to rate with verbalized: ~25 requests/);
    const s = JSON.parse(r.stdout.trim());
    // ~4 bytes a token over the fixed prompts, so the counts are exact; $3 / $15 per million tokens
    expect(s.estimate).toMatchObject({ rows: 25, requests: 25, prompt_tokens: 5615, completion_tokens: 200 });
    expect(s.estimate.cost_usd).toBeCloseTo((5615 * 3 + 200 * 15) / 1e6, 12);
    expect(fs.readdirSync(path.join(dir, 'dry'))).toEqual(['dry.jsonl']);

    const missing = await run(['--data', input, '--out', path.join(dir, 'x.jsonl')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/--model is required/);
    const pasted = await run(['--data', input, '--out', path.join(dir, 'x.jsonl'), '--model', 'm', '--api-key-env', 'sk-pasted-key-000']);
    expect(pasted.code).toBe(2);
    expect(pasted.stderr).not.toContain('sk-pasted-key-000');
    const self = await run(['--data', input, '--out', path.join(dir, 'x.jsonl'), '--method', 'self']);
    expect(self.code).toBe(2);
    expect(self.stderr).toMatch(/--model-dir is required/);

    // --format reads every row as train --format does; an unknown one is a usage error
    const forced = await run(['--data', input, '--model', 'judge', '--dry-run', '--format', 'gsm8k'], { OPENAI_API_KEY: undefined });
    expect(forced.code).toBe(1);
    expect(forced.stderr).toContain(`error [UAL_DATA_BAD_ROW] ${input}:1 field "question": is missing`);
    const bogus = await run(['--data', input, '--model', 'judge', '--dry-run', '--format', 'csv'], { OPENAI_API_KEY: undefined });
    expect(bogus.code).toBe(2);
    expect(bogus.stderr).toMatch(/--format must be one of auto, alpaca, sharegpt, .*, got "csv"/);
  });
});
