// `ual eval judge --batch` as a user runs it, against a real local batch server: both orders of every pair sent in
// one batch, an unreadable verdict re-asked online, the same win rate and verdict file as the online path, each
// request paid once, a rerun sends nothing, and the key stays off the disk.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { buildCli, runCli, type Ran } from '../helpers/cli.js';
import { filesUnder } from '../helpers/files.js';
import { startBatchServer, type Answer, type BatchServer } from '../uncertainty/batch-server.js';
import { tmpDir } from './helpers.js';
import { fairVerdict, ITEMS, judgeFiles } from './judge-fixture.js';

const KEY = 'sk-judge-batch-test-abcdef987654';
let bin: string;
let cleanup: () => void;
let dir: string;
let server: BatchServer | null = null;

beforeAll(() => {
  ({ bin, cleanup } = buildCli('judge-batch'));
  dir = tmpDir('judge-batch');
});
afterAll(() => {
  cleanup?.();
  fs.rmSync(dir, { recursive: true, force: true });
});
afterEach(async () => { await server?.close(); server = null; });

const ual = (args: string[]) => runCli(bin, ['eval', 'judge', ...args], { OPENAI_API_KEY: KEY, OPENAI_BASE_URL: undefined });
const lastJson = (r: Ran) => JSON.parse(r.stdout.trim().split('\n').pop()!);

/** The fair judge of the fixture, except that item 3's first reply is unreadable. */
function judgeScript(): (b: { messages: Array<{ role: string; content: string }> }, item: number | null) => Answer {
  let item3 = 0;
  return (b, item) => ({ content: item === 3 && item3++ === 0 ? 'Hmm, both have merits.' : fairVerdict(b) });
}

describe('ual eval judge --batch', () => {
  test('one batch of both orders; the re-ask online; the online path\'s numbers and verdicts; paid once; the rerun sends nothing', async () => {
    const { refs, preds } = judgeFiles(dir, ITEMS, 'batch');
    const base = (name: string, url: string) => ['--predictions', preds, '--references', refs, '--judge', 'judge-model', '--base-url', url,
      '--retry-base', '0.01', '--out', path.join(dir, name, 'verdicts.jsonl'), '--json'];

    server = await startBatchServer({ answer: judgeScript() });
    const online = await ual(base('online', server.url));
    expect(online.code, online.stderr).toBe(0);
    await server.close();

    server = await startBatchServer({ answer: judgeScript() });
    const s = server;
    const args = [...base('batch', s.url), '--batch', '--batch-poll', '0.005', '--batch-poll-max', '0.02'];
    const r = await ual(args);
    expect(r.code, r.stderr).toBe(0);
    const j = lastJson(r);
    expect(j).toMatchObject({ n: 5, wins: 2, ties: 2, losses: 1, failed: 0, requests: 1, cached: 0, batch: { batches: 1, requests: 10, failed: 0 } });
    expect(j.win_rate).toBeCloseTo(60, 6);
    const { requests: _r, cached: _c, cache: _k, out: _o, batch: _b, retries: _t, ...numbers } = j;
    const { requests: _r2, cached: _c2, cache: _k2, out: _o2, retries: _t2, ...onlineNumbers } = lastJson(online);
    expect(numbers).toEqual(onlineNumbers);
    expect(fs.readFileSync(path.join(dir, 'batch', 'verdicts.jsonl'), 'utf8')).toBe(fs.readFileSync(path.join(dir, 'online', 'verdicts.jsonl'), 'utf8'));
    expect(s.chats).toHaveLength(1); // item 3's re-ask (--batch-retry online)
    expect([...s.paid.values()]).toEqual(Array(10).fill(1));
    expect(r.stderr).toMatch(/10 requests in 1 new batches \(0 unanswered\), 1 online requests/);

    const n = s.log.length;
    const again = await ual(args);
    expect(again.code, again.stderr).toBe(0);
    expect(lastJson(again)).toMatchObject({ win_rate: j.win_rate, requests: 0, cached: 10, batch: { batches: 0, requests: 0 } });
    expect(s.log.length).toBe(n);

    const status = await ual([...args, '--batch-status']);
    expect(status.code, status.stderr).toBe(0);
    expect(lastJson(status).batches).toMatchObject([{ run: 'judge', status: 'completed', requests: 10, completed: 10, harvested: true }]);

    expect(s.log.every((l) => l.auth === `Bearer ${KEY}`)).toBe(true);
    for (const f of filesUnder(path.join(dir, 'batch'))) expect(fs.readFileSync(f).includes(KEY), f).toBe(false);
    for (const x of [r, again, status]) expect(x.stdout + x.stderr).not.toContain(KEY);
  });
});
