// Throughput and memory bench for elicitation: a local judge with a fixed latency, a generated JSONL dataset
// streamed through the real run (cache, retries, output). Shows whether we reach the concurrency-bound rate
// (concurrency / latency) and whether memory stays flat with the row count. `ual bench elicit` calls benchElicit.
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { elicit } from './elicit.js';

export interface BenchElicitOptions {
  rows: number;
  concurrency: number;
  latencyMs: number;
}

export interface BenchElicitResult {
  rows: number;
  requests: number;
  /** requests per second while rating */
  rps: number;
  /** concurrency / latency: the best any client can do (Infinity at 0 ms latency) */
  boundRps: number;
  /** rps / boundRps (0 when the bound is infinite) */
  ratio: number;
  rssMbStart: number;
  rssMbPeak: number;
  rssMbEnd: number;
  heapMbPeak: number;
  elapsedS: number;
}

const REPLY = JSON.stringify({
  id: 'bench', object: 'chat.completion', created: 0, model: 'bench',
  choices: [{ index: 0, message: { role: 'assistant', content: '{"score": 42}' }, logprobs: null, finish_reason: 'stop' }],
  usage: { prompt_tokens: 180, completion_tokens: 6, total_tokens: 186 },
});

async function startServer(latencyMs: number): Promise<{ url: string; close(): Promise<void> }> {
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const send = () => res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(REPLY) }).end(REPLY);
      if (latencyMs > 0) setTimeout(send, latencyMs);
      else send();
    });
  });
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/v1`,
    close: () => new Promise<void>((ok) => { server.closeAllConnections(); server.close(() => ok()); }),
  };
}

/** Write the dataset in slices so generating 100k rows does not itself inflate memory. */
function writeDataset(file: string, rows: number): void {
  const fd = fs.openSync(file, 'w');
  try {
    for (let start = 0; start < rows; start += 5000) {
      const lines: string[] = [];
      for (let i = start; i < Math.min(rows, start + 5000); i++) {
        lines.push(JSON.stringify({ id: i, instruction: `Explain topic number ${i} to a curious student.`, input: '',
          output: `Topic ${i} is about how things work; here is a short, friendly explanation of it.` }));
      }
      fs.writeSync(fd, lines.join('\n') + '\n');
    }
  } finally {
    fs.closeSync(fd);
  }
}

const mb = (b: number) => Math.round((b / 2 ** 20) * 10) / 10;

export async function benchElicit(opts: BenchElicitOptions): Promise<BenchElicitResult> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ual-bench-elicit-'));
  const server = await startServer(opts.latencyMs);
  try {
    const input = path.join(dir, 'data.jsonl');
    writeDataset(input, opts.rows);
    const rssStart = process.memoryUsage().rss;
    let rssPeak = rssStart;
    let heapPeak = process.memoryUsage().heapUsed;
    const sampler = setInterval(() => {
      const m = process.memoryUsage();
      rssPeak = Math.max(rssPeak, m.rss);
      heapPeak = Math.max(heapPeak, m.heapUsed);
    }, 50);
    let tRate = 0;
    let tWrite = 0;
    const t0 = Date.now();
    const s = await elicit({
      input, out: path.join(dir, 'scored.jsonl'), cache: path.join(dir, 'cache.sqlite'), method: 'verbalized',
      model: 'bench', baseURL: server.url, apiKey: 'bench-key', concurrency: opts.concurrency, timeoutMs: 30_000,
      maxRetries: 3, backoff: { baseMs: 100, maxMs: 1000 }, parseRetries: 1, samples: 5, topLogprobs: 5, answerTokens: 5,
      onProgress: (p) => {
        if (p.phase === 'rate' && !tRate) tRate = Date.now();
        if (p.phase === 'write' && !tWrite) tWrite = Date.now();
      },
    });
    clearInterval(sampler);
    const rssEnd = process.memoryUsage().rss;
    if (s.failed > 0 || s.scored !== opts.rows) throw new Error(`bench run incomplete: ${JSON.stringify(s)}`);
    const rps = s.requests / ((tWrite - tRate) / 1000);
    const boundRps = opts.latencyMs > 0 ? opts.concurrency / (opts.latencyMs / 1000) : Infinity;
    return {
      rows: opts.rows, requests: s.requests, rps, boundRps, ratio: Number.isFinite(boundRps) ? rps / boundRps : 0,
      rssMbStart: mb(rssStart), rssMbPeak: mb(Math.max(rssPeak, rssEnd)), rssMbEnd: mb(rssEnd), heapMbPeak: mb(heapPeak),
      elapsedS: (Date.now() - t0) / 1000,
    };
  } finally {
    await server.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * The two published numbers: throughput at concurrency 32 against 200 ms latency (target >= 95% of 160 req/s),
 * and RSS over 100k rows at 0 ms latency. Flags: --rows, --concurrency, --latency-ms run one custom case.
 */
export async function benchElicitMain(argv: string[]): Promise<void> {
  const flag = (name: string) => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 ? Number(argv[i + 1]) : undefined;
  };
  const cases: BenchElicitOptions[] = flag('rows') !== undefined
    ? [{ rows: flag('rows')!, concurrency: flag('concurrency') ?? 32, latencyMs: flag('latency-ms') ?? 200 }]
    : [{ rows: 3200, concurrency: 32, latencyMs: 200 }, { rows: 100_000, concurrency: 64, latencyMs: 0 }];
  for (const c of cases) {
    const r = await benchElicit(c);
    const bound = Number.isFinite(r.boundRps) ? `, bound ${r.boundRps.toFixed(0)} req/s, ${(100 * r.ratio).toFixed(1)}% of bound` : '';
    process.stdout.write(`elicit bench: ${c.rows} rows, concurrency ${c.concurrency}, latency ${c.latencyMs} ms: ` +
      `${r.rps.toFixed(1)} req/s${bound}; RSS start ${r.rssMbStart} MB, peak ${r.rssMbPeak} MB, end ${r.rssMbEnd} MB ` +
      `(heap peak ${r.heapMbPeak} MB); ${r.elapsedS.toFixed(1)} s\n`);
    process.stdout.write(JSON.stringify({ bench: 'elicit', ...c, ...r, boundRps: Number.isFinite(r.boundRps) ? r.boundRps : null }) + '\n');
  }
}

// `node dist/uncertainty/bench.js [--rows N --concurrency C --latency-ms L]` runs it directly.
if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  benchElicitMain(process.argv.slice(2)).catch((e) => { process.stderr.write(`${(e as Error).stack}\n`); process.exitCode = 1; });
}
