// A real OpenAI-compatible judge for tests: node:http on 127.0.0.1 (ephemeral port), scripted per request, with
// a log of everything it was asked. It can answer 429 + Retry-After, 5xx, garbage, slowly, or cut the connection.
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Reply {
  status?: number;
  headers?: Record<string, string>;
  /** a JSON body */
  json?: unknown;
  /** a raw body (sent as text/plain unless headers say otherwise) */
  text?: string;
  delayMs?: number;
  /** cut the connection: before any byte, or after the headers and half the body */
  destroy?: 'before' | 'mid-body';
  /** send the headers and half the body, then wait this long before the rest */
  stallMs?: number;
}

export interface Seen {
  n: number;
  t: number;
  auth: string | undefined;
  body: {
    model: string;
    messages: Array<{ role: string; content: string }>;
    temperature?: number;
    max_tokens?: number;
    logprobs?: boolean;
    top_logprobs?: number;
  };
  /** the "item-N" tag of the sample in the request, if any */
  item: number | null;
  /** how many requests for this item came before this one */
  attempt: number;
}

export interface Judge {
  url: string;
  port: number;
  log: Seen[];
  close(): Promise<void>;
}

export function itemOf(body: Seen['body']): number | null {
  const text = body.messages.map((m) => m.content).join('\n');
  const m = /item-(\d+)/.exec(text);
  return m ? Number(m[1]) : null;
}

export async function startJudge(script: (req: Seen) => Reply | Promise<Reply>): Promise<Judge> {
  const log: Seen[] = [];
  const perItem = new Map<number | null, number>();
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', async () => {
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Seen['body'];
      const item = itemOf(body);
      const attempt = perItem.get(item) ?? 0;
      perItem.set(item, attempt + 1);
      const seen: Seen = { n: log.length, t: Date.now(), auth: req.headers.authorization, body, item, attempt };
      log.push(seen);
      const r = await script(seen);
      if (r.delayMs) await new Promise((ok) => setTimeout(ok, r.delayMs));
      if (r.destroy === 'before') { req.socket.destroy(); return; }
      const payload = r.json !== undefined ? JSON.stringify(r.json) : (r.text ?? '');
      const type = r.json !== undefined ? 'application/json' : 'text/plain';
      if (res.destroyed) return;
      res.writeHead(r.status ?? 200, { 'content-type': type, 'content-length': Buffer.byteLength(payload), ...r.headers });
      if (r.destroy === 'mid-body') {
        res.write(payload.slice(0, Math.floor(payload.length / 2)));
        setTimeout(() => req.socket.destroy(), 5);
        return;
      }
      if (r.stallMs) {
        res.write(payload.slice(0, Math.floor(payload.length / 2)));
        await new Promise((ok) => setTimeout(ok, r.stallMs));
        if (!res.destroyed) res.end(payload.slice(Math.floor(payload.length / 2)));
        return;
      }
      res.end(payload);
    });
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/v1`,
    port,
    log,
    close: () => new Promise<void>((ok) => { server.closeAllConnections(); server.close(() => ok()); }),
  };
}

/** A chat completion body as OpenAI sends it. */
export function completion(content: string, extra: { logprobs?: unknown; finish?: string; usage?: { p: number; c: number } } = {}): unknown {
  return {
    id: 'chatcmpl-test', object: 'chat.completion', created: 0, model: 'judge',
    choices: [{ index: 0, message: { role: 'assistant', content }, logprobs: extra.logprobs ?? null, finish_reason: extra.finish ?? 'stop' }],
    usage: { prompt_tokens: extra.usage?.p ?? 100, completion_tokens: extra.usage?.c ?? 5, total_tokens: (extra.usage?.p ?? 100) + (extra.usage?.c ?? 5) },
  };
}

/** logprobs.content for tokens whose top alternatives have the given probabilities. */
export function logprobsOf(positions: number[][]): unknown {
  return {
    content: positions.map((ps, i) => ({
      token: `t${i}`, logprob: Math.log(ps[0]), bytes: null,
      top_logprobs: ps.map((p, j) => ({ token: `t${i}_${j}`, logprob: Math.log(p), bytes: null })),
    })),
  };
}

/** A closed port on 127.0.0.1: connecting is refused at once. */
export async function closedPort(): Promise<number> {
  const s = http.createServer();
  await new Promise<void>((ok) => s.listen(0, '127.0.0.1', ok));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((ok) => s.close(() => ok()));
  return port;
}
