// `ual elicit --batch` as a user runs it: a child process against a real local batch server. 2,000 rows scored with
// no synchronous request; killed with SIGKILL while polling, after its upload, or as its batch is created, the
// rerun resumes the same batch (never a second one, nothing paid twice); the key reaches no file.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { elicit } from '../../src/uncertainty/elicit.js';
import { buildCli, startCli, type Ran } from '../helpers/cli.js';
import { filesUnder } from '../helpers/files.js';
import { startBatchServer, type Answer, type BatchServer } from './batch-server.js';

const KEY = 'sk-batch-cli-0a1b2c3d4e5f-TOPSECRET';
let dir: string;
let server: BatchServer | null = null;
let BIN: string;
let cleanup: () => void;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ual-batch-cli-'));
  ({ bin: BIN, cleanup } = buildCli('batch'));
});
afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
  cleanup();
});
afterEach(async () => { await server?.close(); server = null; });

const expected = (i: number) => (i * 17 + 3) % 100;
const good = (_b: unknown, item: number | null): Answer => ({ content: `{"score": ${expected(item!)}}` });

function dataset(name: string, n: number): string {
  const f = path.join(dir, name);
  fs.writeFileSync(f, Array.from({ length: n }, (_, i) =>
    JSON.stringify({ id: `r${i}`, instruction: `Task item-${i}: describe something`, input: '', output: `answer ${i}` })).join('\n') + '\n');
  return f;
}

const start = (args: string[]) => startCli(BIN, ['elicit', ...args], { OPENAI_API_KEY: KEY, OPENAI_BASE_URL: undefined });

function args(name: string, input: string, extra: string[] = []): { out: string; argv: string[] } {
  const out = path.join(dir, name, 'scored.jsonl');
  return {
    out,
    argv: ['--data', input, '--out', out, '--model', 'judge', '--base-url', server!.url, '--batch', '--batch-poll', '0.005',
      '--batch-poll-max', '0.02', '--retry-base', '0.01', '--progress-every', '0.05', '--json', ...extra],
  };
}

const summaryOf = (r: Ran) => JSON.parse(r.stdout.trimEnd().split('\n').at(-1)!);


function recorded(cache: string): Array<{ batch_id: string | null; input_file_id: string | null; harvested: number }> {
  const db = new Database(cache, { readonly: true });
  try {
    return db.prepare('SELECT batch_id, input_file_id, harvested FROM batches').all() as Array<{ batch_id: string | null; input_file_id: string | null; harvested: number }>;
  } finally {
    db.close();
  }
}

async function until(cond: () => boolean, what: string): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > 15_000) throw new Error(`timed out waiting for ${what}`);
    await new Promise((ok) => setTimeout(ok, 5));
  }
}

/** The key went to the server as a bearer token and nowhere else: no file under the run's directory holds it. */
function keyNowhere(runDir: string, runs: Ran[], inputs: boolean): void {
  expect(server!.log.every((l) => l.auth === `Bearer ${KEY}`)).toBe(true);
  const files = filesUnder(runDir);
  // the batch input files are there until their batch is harvested
  expect(files.some((f) => f.endsWith('.jsonl') && f.includes('.batches'))).toBe(inputs);
  for (const f of files) expect(fs.readFileSync(f).includes(KEY), f).toBe(false);
  for (const r of runs) expect(r.stdout + r.stderr).not.toContain(KEY);
}

describe('ual elicit --batch (child process)', () => {
  it('must show: 2,000 rows, all scored, 0 synchronous requests, the online path\'s exact output', async () => {
    server = await startBatchServer({ answer: good, progressPolls: 2 });
    const input = dataset('big.jsonl', 2000);
    const { out, argv } = args('big', input);
    const r = await start(argv).done;
    expect(r.code, r.stderr).toBe(0);
    expect(summaryOf(r)).toMatchObject({ ok: true, rows: 2000, scored: 2000, failed: 0, requests: 0, batch: { batches: 1, requests: 2000, failed: 0 } });
    expect(server.chats).toHaveLength(0);
    expect(server.paid.size).toBe(2000);
    expect([...server.paid.values()].every((n) => n === 1)).toBe(true);
    expect(r.stderr).toMatch(/elicit: batch 1000\/2000 requests done, 0 failed \| 1 batch in_progress \| \d+s \| ETA \d+s/);
    expect(r.stderr).toMatch(/elicit: batch 2000\/2000 requests done, 0 failed \| 1 batch completed/);

    // the online path, same answers: the same bytes
    const online = await elicit({
      input, out: path.join(dir, 'big-online', 'scored.jsonl'), method: 'verbalized', model: 'judge', baseURL: server.url, apiKey: KEY,
      concurrency: 32, timeoutMs: 5000, maxRetries: 2, backoff: { baseMs: 5, maxMs: 20 }, parseRetries: 3, samples: 5, topLogprobs: 5, answerTokens: 5,
    });
    expect(online.scored).toBe(2000);
    expect(fs.readFileSync(online.out!, 'utf8')).toBe(fs.readFileSync(out, 'utf8'));
  });

  it('SIGKILL while polling: the rerun polls the same batch (no second upload or batch), pays nothing twice; --batch-status shows it', async () => {
    server = await startBatchServer({ answer: good, hold: true });
    const s = server;
    const input = dataset('kill.jsonl', 40);
    const { out, argv } = args('kill', input);
    const cache = path.join(dir, 'kill', 'elicit-cache.sqlite');
    const first = start(argv);
    await until(() => s.log.filter((l) => l.path.startsWith('/batches/')).length >= 3, 'a few polls');
    first.child.kill('SIGKILL');
    const r1 = await first.done;
    expect(r1.signal).toBe('SIGKILL');
    expect(fs.existsSync(out)).toBe(false);
    const [batch] = [...s.batches.values()];
    expect(recorded(cache)).toEqual([{ batch_id: batch.id, input_file_id: batch.input_file_id, harvested: 0 }]);
    keyNowhere(path.join(dir, 'kill'), [r1], true);

    const status = await start(['--cache', cache, '--base-url', s.url, '--batch-status', '--json']).done;
    expect(status.code, status.stderr).toBe(0);
    expect(status.stderr).toContain(`${batch.id}  in_progress 20/40 done, 0 failed`);
    expect(summaryOf(status).batches).toMatchObject([{ batch_id: batch.id, status: 'in_progress', requests: 40, harvested: false }]);

    s.o.hold = false;
    const r2 = await start(argv).done;
    expect(r2.code, r2.stderr).toBe(0);
    expect(summaryOf(r2)).toMatchObject({ ok: true, scored: 40, requests: 0, batch: { batches: 0, requests: 0 } });
    expect(s.files.size - 1).toBe(1); // one upload (plus the batch's output file)
    expect(s.batches.size).toBe(1);
    expect(s.chats).toHaveLength(0);
    expect([...s.paid.values()]).toEqual(Array(40).fill(1));
    const rows = fs.readFileSync(out, 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l));
    expect(rows.map((x) => [x.id, x.uncertainty])).toEqual(Array.from({ length: 40 }, (_, i) => [`r${i}`, expected(i)]));

    // a third run sends nothing at all
    const n = s.log.length;
    const r3 = await start(argv).done;
    expect(summaryOf(r3)).toMatchObject({ ok: true, cached: 40, scored: 0, requests: 0 });
    expect(s.log.length).toBe(n);
    keyNowhere(path.join(dir, 'kill'), [r1, status, r2, r3], false);
  });

  it('SIGKILL as the batch is created (before its id came back) or right after the upload: one batch, paid once', async () => {
    for (const when of ['create', 'upload'] as const) {
      let kill = () => {};
      server = await startBatchServer({ answer: good, [when === 'create' ? 'onCreate' : 'onUpload']: () => kill() });
      const s = server;
      const { out, argv } = args(`kill-${when}`, dataset(`kill-${when}.jsonl`, 15));
      const first = start(argv);
      kill = () => { if (s.o.onCreate || s.o.onUpload) { first.child.kill('SIGKILL'); s.o.onCreate = s.o.onUpload = undefined; } };
      const r1 = await first.done;
      expect(r1.signal, when).toBe('SIGKILL');
      const r2 = await start(argv).done;
      expect(r2.code, r2.stderr).toBe(0);
      expect(summaryOf(r2), when).toMatchObject({ ok: true, scored: 15, requests: 0 });
      expect(s.batches.size, when).toBe(1); // found again by its metadata, not created twice
      const uploads = s.log.filter((l) => l.method === 'POST' && l.path === '/files').length;
      expect(uploads, when).toBe(when === 'create' ? 1 : 2); // an upload whose id was lost is redone: uploads cost nothing
      expect([...s.paid.values()], when).toEqual(Array(15).fill(1));
      expect(fs.readFileSync(out, 'utf8').trimEnd().split('\n')).toHaveLength(15);
      keyNowhere(path.join(dir, `kill-${when}`), [r1, r2], false);
      await s.close();
      server = null;
    }
  });
});
