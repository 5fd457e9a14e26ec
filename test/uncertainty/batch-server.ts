// A real OpenAI-compatible Batch API for tests: node:http on 127.0.0.1 serving /v1/files (multipart upload, list,
// content) and /v1/batches (create, retrieve, list, cancel) plus /v1/chat/completions. A batch walks validating ->
// in_progress -> (completed | expired | cancelled | failed) one step per poll; every request is answered by the
// test's script and counted per custom id (what the user would pay for); the server can restart on the same port.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { itemOf, type Seen } from './judge-server.js';

type Body = Seen['body'];

/** How one request is answered: a reply text, or an error line in the error file. */
export type Answer = { content: string } | { error: { status: number; code: string; message: string } };

export interface BatchPlan {
  /** where the batch ends: completed (default), expired / cancelled (only `partial` of its requests answered), failed (validation) */
  end?: 'completed' | 'expired' | 'cancelled' | 'failed';
  /** share of requests answered before an expiry or cancellation */
  partial?: number;
}

export interface ServerBatch {
  id: string;
  input_file_id: string;
  status: string;
  metadata: Record<string, string> | null;
  lines: Array<{ custom_id: string; body: Body }>;
  polls: number;
  output_file_id?: string;
  error_file_id?: string;
  plan: BatchPlan;
  request_counts: { total: number; completed: number; failed: number };
}

export interface BatchServerOptions {
  /** the answer to a request (batched or not) */
  answer: (body: Body, item: number | null) => Answer;
  /** each new batch's fate, by creation order (0, 1, ...) */
  plan?: (n: number) => BatchPlan;
  /** polls a batch stays in_progress before it ends (default 1) */
  progressPolls?: number;
  /** while true, batches stay in_progress however often they are polled */
  hold?: boolean;
  /** called once the server stored an upload / created a batch, before it replies (a test kills its child here) */
  onUpload?: () => void | Promise<void>;
  onCreate?: () => void | Promise<void>;
}

export interface BatchServer {
  url: string;
  o: BatchServerOptions;
  files: Map<string, { filename: string; purpose: string; data: string }>;
  batches: Map<string, ServerBatch>;
  /** times each custom id was answered inside a batch: what was paid for */
  paid: Map<string, number>;
  /** synchronous /v1/chat/completions calls */
  chats: Body[];
  /** every request's method and path, and its Authorization header */
  log: Array<{ method: string; path: string; auth: string | undefined }>;
  restart(downMs: number): Promise<void>;
  close(): Promise<void>;
}

export async function startBatchServer(o: BatchServerOptions): Promise<BatchServer> {
  const files = new Map<string, { filename: string; purpose: string; data: string }>();
  const batches = new Map<string, ServerBatch>();
  const paid = new Map<string, number>();
  const chats: Body[] = [];
  const log: BatchServer['log'] = [];
  let ids = 0;
  const newId = (p: string) => `${p}-${++ids}`;

  const completionOf = (content: string) => ({
    id: newId('chatcmpl'), object: 'chat.completion', created: 0, model: 'judge',
    choices: [{ index: 0, message: { role: 'assistant', content }, logprobs: null, finish_reason: 'stop' }],
    usage: { prompt_tokens: 100, completion_tokens: 5, total_tokens: 105 },
  });
  const fileObj = (id: string) => ({ id, object: 'file', bytes: files.get(id)!.data.length, created_at: 0, filename: files.get(id)!.filename, purpose: files.get(id)!.purpose, status: 'processed' });
  const batchObj = (b: ServerBatch) => ({
    id: b.id, object: 'batch', endpoint: '/v1/chat/completions', input_file_id: b.input_file_id, completion_window: '24h',
    status: b.status, created_at: 0, metadata: b.metadata, output_file_id: b.output_file_id ?? null, error_file_id: b.error_file_id ?? null,
    request_counts: b.request_counts, errors: b.status === 'failed' ? { object: 'list', data: [{ code: 'invalid_request', message: 'bad input file', line: 1 }] } : null,
  });

  /** Run the batch's requests (those `share` allows) and write its output and error files. */
  const finish = (b: ServerBatch, end: string, share: number) => {
    const out: string[] = [];
    const err: string[] = [];
    const answerable = Math.floor(b.lines.length * share);
    b.lines.forEach((l, i) => {
      if (i >= answerable) {
        if (end === 'expired') err.push(JSON.stringify({ id: newId('batch_req'), custom_id: l.custom_id, response: null, error: { code: 'batch_expired', message: 'This request could not be executed before the completion window expired.' } }));
        return;
      }
      const a = o.answer(l.body, itemOf(l.body));
      if ('content' in a) {
        paid.set(l.custom_id, (paid.get(l.custom_id) ?? 0) + 1);
        out.push(JSON.stringify({ id: newId('batch_req'), custom_id: l.custom_id, response: { status_code: 200, request_id: 'r', body: completionOf(a.content) }, error: null }));
      } else {
        err.push(JSON.stringify({ id: newId('batch_req'), custom_id: l.custom_id, response: { status_code: a.error.status, request_id: 'r', body: { error: { message: a.error.message, code: a.error.code } } }, error: null }));
      }
    });
    if (out.length) { b.output_file_id = newId('file'); files.set(b.output_file_id, { filename: 'output.jsonl', purpose: 'batch_output', data: out.join('\n') + '\n' }); }
    if (err.length) { b.error_file_id = newId('file'); files.set(b.error_file_id, { filename: 'errors.jsonl', purpose: 'batch_output', data: err.join('\n') + '\n' }); }
    b.request_counts = { total: b.lines.length, completed: out.length, failed: b.lines.length - out.length };
    b.status = end;
  };

  const advance = (b: ServerBatch) => {
    b.polls++;
    if (b.status === 'validating') {
      if (b.plan.end === 'failed') { b.status = 'failed'; b.request_counts = { total: 0, completed: 0, failed: 0 }; } else b.status = 'in_progress';
      return;
    }
    if (b.status === 'cancelling') { finish(b, 'cancelled', b.plan.partial ?? 0); return; }
    if (b.status !== 'in_progress') return;
    if (o.hold || b.polls <= 1 + (o.progressPolls ?? 1)) {
      b.request_counts = { total: b.lines.length, completed: Math.floor(b.lines.length / 2), failed: 0 };
      return;
    }
    const end = b.plan.end ?? 'completed';
    if (end === 'cancelled') { b.status = 'cancelling'; return; }
    finish(b, end, end === 'completed' ? 1 : b.plan.partial ?? 0);
  };

  const handler = async (req: http.IncomingMessage, res: http.ServerResponse) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const raw = Buffer.concat(chunks);
    const url = new URL(req.url ?? '/', 'http://x');
    const p = url.pathname.replace(/^\/v1/, '');
    log.push({ method: req.method ?? '', path: p, auth: req.headers.authorization });
    const send = (status: number, body: unknown) => {
      const s = typeof body === 'string' ? body : JSON.stringify(body);
      res.writeHead(status, { 'content-type': typeof body === 'string' ? 'application/octet-stream' : 'application/json', 'content-length': Buffer.byteLength(s) });
      res.end(s);
    };
    const list = (data: unknown[]) => send(200, { object: 'list', data, has_more: false, first_id: null, last_id: null });
    let m: RegExpExecArray | null;
    if (req.method === 'POST' && p === '/chat/completions') {
      const body = JSON.parse(raw.toString('utf8')) as Body;
      chats.push(body);
      const a = o.answer(body, itemOf(body));
      return 'content' in a ? send(200, completionOf(a.content)) : send(a.error.status, { error: { message: a.error.message, code: a.error.code } });
    }
    if (req.method === 'POST' && p === '/files') {
      const form = await new Response(raw, { headers: { 'content-type': req.headers['content-type'] ?? '' } }).formData();
      const file = form.get('file') as File;
      const id = newId('file');
      files.set(id, { filename: file.name, purpose: String(form.get('purpose')), data: await file.text() });
      await o.onUpload?.();
      return send(200, fileObj(id));
    }
    if (req.method === 'GET' && p === '/files') return list([...files.keys()].map(fileObj));
    if (req.method === 'GET' && (m = /^\/files\/([^/]+)\/content$/.exec(p))) {
      const f = files.get(m[1]);
      return f ? send(200, f.data) : send(404, { error: { message: 'no such file' } });
    }
    if (req.method === 'POST' && p === '/batches') {
      const body = JSON.parse(raw.toString('utf8')) as { input_file_id: string; endpoint: string; completion_window: string; metadata?: Record<string, string> };
      const f = files.get(body.input_file_id);
      if (!f || f.purpose !== 'batch' || body.endpoint !== '/v1/chat/completions' || body.completion_window !== '24h') return send(400, { error: { message: 'bad batch' } });
      const lines = f.data.trimEnd().split('\n').map((l) => JSON.parse(l) as { custom_id: string; method: string; url: string; body: Body });
      if (lines.some((l) => l.method !== 'POST' || l.url !== '/v1/chat/completions') || new Set(lines.map((l) => l.custom_id)).size !== lines.length) {
        return send(400, { error: { message: 'bad lines or duplicate custom_id' } });
      }
      const b: ServerBatch = {
        id: newId('batch'), input_file_id: body.input_file_id, status: 'validating', metadata: body.metadata ?? null, polls: 0,
        lines: lines.map((l) => ({ custom_id: l.custom_id, body: l.body })), plan: o.plan?.(batches.size) ?? {},
        request_counts: { total: lines.length, completed: 0, failed: 0 },
      };
      batches.set(b.id, b);
      await o.onCreate?.();
      return send(200, batchObj(b));
    }
    if (req.method === 'GET' && p === '/batches') return list([...batches.values()].reverse().map(batchObj));
    if (req.method === 'GET' && (m = /^\/batches\/([^/]+)$/.exec(p))) {
      const b = batches.get(m[1]);
      if (!b) return send(404, { error: { message: 'no such batch' } });
      advance(b);
      return send(200, batchObj(b));
    }
    if (req.method === 'POST' && (m = /^\/batches\/([^/]+)\/cancel$/.exec(p))) {
      const b = batches.get(m[1]);
      if (!b) return send(404, { error: { message: 'no such batch' } });
      if (!['completed', 'expired', 'failed', 'cancelled'].includes(b.status)) b.status = 'cancelling';
      return send(200, batchObj(b));
    }
    send(404, { error: { message: `no route ${req.method} ${p}` } });
  };

  let server: http.Server;
  let port = 0;
  const listen = async () => {
    server = http.createServer((req, res) => { handler(req, res).catch((e) => { res.writeHead(500); res.end(String(e)); }); });
    await new Promise<void>((ok) => server.listen(port, '127.0.0.1', ok));
    port = (server.address() as AddressInfo).port;
  };
  const stop = () => new Promise<void>((ok) => { server.closeAllConnections(); server.close(() => ok()); });
  await listen();
  return {
    url: `http://127.0.0.1:${port}/v1`, o, files, batches, paid, chats, log,
    async restart(downMs) { await stop(); await new Promise((ok) => setTimeout(ok, downMs)); await listen(); },
    close: stop,
  };
}
