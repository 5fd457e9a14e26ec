// Throughput and memory bench for elicitation: a local judge with a fixed latency, a generated JSONL dataset
// streamed through the real run (cache, retries, output). Shows whether we reach the concurrency-bound rate
// (concurrency / latency) and whether memory stays flat with the row count. `ual bench elicit` runs it.
import fs from 'node:fs';
import { spawn } from 'node:child_process';
import OpenAI from 'openai';
import os from 'node:os';
import path from 'node:path';
import { toConversation } from '../data/formats.js';
import { elicit } from './elicit.js';
import { builtinPrompt } from './prompt.js';

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
  /** a bare SDK loop at the same concurrency against the same judge: what this machine allows right now */
  baselineRps: number;
  /** the bare SDK loop's CPU per request: the difference to cpuMsPerRequest is what the pipeline adds */
  baselineCpuMsPerRequest: number;
  rssMbStart: number;
  rssMbPeak: number;
  rssMbEnd: number;
  heapMbPeak: number;
  /** client CPU (user + system) per request while rating: what limits throughput on a busy machine */
  cpuMsPerRequest: number;
  elapsedS: number;
}

// The judge runs in its own process, as a real one would: in-process it would steal the client's event loop and
// CPU, and its memory would blur the client's RSS.
const SERVER = `
const http = require('node:http');
const latency = Number(process.argv[1]);
const REPLY = JSON.stringify({ id: 'bench', object: 'chat.completion', created: 0, model: 'bench',
  choices: [{ index: 0, message: { role: 'assistant', content: '{"score": 42}' }, logprobs: null, finish_reason: 'stop' }],
  usage: { prompt_tokens: 180, completion_tokens: 6, total_tokens: 186 } });
const server = http.createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    const send = () => res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(REPLY) }).end(REPLY);
    if (latency > 0) setTimeout(send, latency); else send();
  });
});
server.keepAliveTimeout = 30000;
server.listen(0, '127.0.0.1', () => process.stdout.write(server.address().port + '\\n'));
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
`;

async function startServer(latencyMs: number): Promise<{ url: string; close(): Promise<void> }> {
  // stdin stays open as a lifeline: if the bench dies, the server sees EOF and exits too
  const child = spawn(process.execPath, ['-e', SERVER, String(latencyMs)], { stdio: ['pipe', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve, reject) => {
    let buf = '';
    child.stdout!.on('data', (c: Buffer) => {
      buf += c.toString();
      if (buf.includes('\n')) resolve(Number(buf.trim()));
    });
    child.on('exit', (code) => reject(new Error(`bench judge exited early (${code})`)));
  });
  return {
    url: `http://127.0.0.1:${port}/v1`,
    close: () => new Promise<void>((ok) => {
      if (child.exitCode !== null) return ok();
      child.on('exit', () => ok());
      child.stdin!.end();
    }),
  };
}

/** Requests per second of the SDK alone (no cache, no dataset), to tell our overhead from a busy machine's. */
async function baseline(url: string, concurrency: number, n: number): Promise<{ rps: number; cpuMs: number }> {
  const sdk = new OpenAI({ baseURL: url, apiKey: 'bench-key', maxRetries: 0, logLevel: 'off' });
  // the same request the verbalized method sends for a bench row
  const messages = builtinPrompt().build(toConversation(benchRow(1), undefined, 'bench', 1).messages);
  let next = 0;
  const t0 = Date.now();
  const cpu0 = process.cpuUsage();
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next++ < n) {
      await sdk.chat.completions.create({ model: 'bench', messages, temperature: 0, max_tokens: 64 });
    }
  }));
  const cpu = process.cpuUsage(cpu0);
  return { rps: n / ((Date.now() - t0) / 1000), cpuMs: (cpu.user + cpu.system) / 1000 / n };
}

function benchRow(i: number): Record<string, unknown> {
  return { id: i, instruction: `Explain topic number ${i} to a curious student.`, input: '',
    output: `Topic ${i} is about how things work; here is a short, friendly explanation of it.` };
}

/** Write the dataset in slices so generating 100k rows does not itself inflate memory. */
function writeDataset(file: string, rows: number): void {
  const fd = fs.openSync(file, 'w');
  try {
    for (let start = 0; start < rows; start += 5000) {
      const lines: string[] = [];
      for (let i = start; i < Math.min(rows, start + 5000); i++) lines.push(JSON.stringify(benchRow(i)));
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
    let cpuRate = process.cpuUsage();
    let cpuMs = 0;
    const t0 = Date.now();
    const s = await elicit({
      input, out: path.join(dir, 'scored.jsonl'), cache: path.join(dir, 'cache.sqlite'), method: 'verbalized',
      model: 'bench', baseURL: server.url, apiKey: 'bench-key', concurrency: opts.concurrency, timeoutMs: 30_000,
      maxRetries: 3, backoff: { baseMs: 100, maxMs: 1000 }, parseRetries: 1, samples: 5, topLogprobs: 5, answerTokens: 5,
      onProgress: (p) => {
        if (p.phase === 'rate' && !tRate) { tRate = Date.now(); cpuRate = process.cpuUsage(); }
        if (p.phase === 'write' && !tWrite) {
          tWrite = Date.now();
          const c = process.cpuUsage(cpuRate);
          cpuMs = (c.user + c.system) / 1000;
        }
      },
    });
    clearInterval(sampler);
    const rssEnd = process.memoryUsage().rss;
    if (s.failed > 0 || s.scored !== opts.rows) throw new Error(`bench run incomplete: ${JSON.stringify(s)}`);
    // after the run, so both see a warm JIT and warm connections
    const base = opts.latencyMs > 0 ? await baseline(server.url, opts.concurrency, Math.min(opts.rows, 1600)) : { rps: 0, cpuMs: 0 };
    const rps = s.requests / ((tWrite - tRate) / 1000);
    const boundRps = opts.latencyMs > 0 ? opts.concurrency / (opts.latencyMs / 1000) : Infinity;
    return {
      rows: opts.rows, requests: s.requests, rps, boundRps, ratio: Number.isFinite(boundRps) ? rps / boundRps : 0,
      baselineRps: base.rps, baselineCpuMsPerRequest: Math.round(base.cpuMs * 1000) / 1000,
      rssMbStart: mb(rssStart), rssMbPeak: mb(Math.max(rssPeak, rssEnd)), rssMbEnd: mb(rssEnd), heapMbPeak: mb(heapPeak),
      cpuMsPerRequest: Math.round((cpuMs / s.requests) * 1000) / 1000,
      elapsedS: (Date.now() - t0) / 1000,
    };
  } finally {
    await server.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * The two published numbers: throughput at concurrency 32 against 200 ms latency (target >= 95% of 160 req/s),
 * and RSS over 100k rows at 0 ms latency.
 */
export const PUBLISHED_ELICIT_CASES: readonly BenchElicitOptions[] = [
  { rows: 3200, concurrency: 32, latencyMs: 200 },
  { rows: 100_000, concurrency: 64, latencyMs: 0 },
];
