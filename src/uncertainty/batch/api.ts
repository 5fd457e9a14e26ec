// The provider's Files and Batches endpoints (OpenAI Batch API, also served by vLLM and others) through the SDK,
// each call retried over 429s, 5xx and dropped connections (a server restarting while we poll is not an error),
// stopped at once on what no retry fixes (a refused key, a server without the Batch API).
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { Readable } from 'node:stream';
import OpenAI, { APIConnectionError, APIError, toFile } from 'openai';
import type { Batch } from 'openai/resources/batches';
import { UalError } from '../../errors.js';
import type { ClientFamily } from '../client.js';
import { scrubber } from '../client.js';
import { sleep } from '../limits.js';
import { backoffDelay, errorCode, parseRetryAfter, rootMessage, type BackoffOptions } from '../retry.js';

export type { Batch };

export interface BatchApiOptions {
  baseURL: string;
  apiKey: string;
  family: ClientFamily;
  timeoutMs: number;
  /** consecutive failed attempts of one call before the run stops */
  maxRetries: number;
  backoff: BackoffOptions;
  signal?: AbortSignal;
}

const CODES = { elicit: { http: 'UAL_ELICIT_HTTP', auth: 'UAL_ELICIT_AUTH' }, judge: { http: 'UAL_JUDGE_HTTP', auth: 'UAL_JUDGE_AUTH' } } as const;

/** Statuses after which a batch changes no more. */
export const TERMINAL = new Set(['completed', 'expired', 'cancelled', 'failed']);

export class BatchApi {
  readonly scrub: (s: string) => string;
  /** calls that reached the server (uploads, creations, polls, downloads) */
  calls = 0;
  private sdk: OpenAI;

  constructor(private o: BatchApiOptions) {
    this.scrub = scrubber(o.apiKey);
    this.sdk = new OpenAI({ baseURL: o.baseURL, apiKey: o.apiKey, maxRetries: 0, timeout: o.timeoutMs, logLevel: 'off' });
  }

  /** Upload a batch input file (streamed from disk; the key is only ever in the request's header). */
  async upload(file: string): Promise<string> {
    const f = await this.call('upload', async () => this.sdk.files.create({ file: await toFile(fs.createReadStream(file), path.basename(file)), purpose: 'batch' }));
    return f.id;
  }

  create(inputFileId: string, local: string): Promise<Batch> {
    return this.call('create', () => this.sdk.batches.create({
      input_file_id: inputFileId, endpoint: '/v1/chat/completions', completion_window: '24h', metadata: { ual_batch: local },
    }));
  }

  retrieve(id: string): Promise<Batch> {
    return this.call('poll', () => this.sdk.batches.retrieve(id));
  }

  /** The batch a killed run created from our local batch, if it did: the metadata names it. */
  async findCreated(local: string, inputFileId: string): Promise<Batch | null> {
    return this.call('list', async () => {
      for await (const b of this.sdk.batches.list({ limit: 100 })) {
        if (b.metadata?.ual_batch === local && b.input_file_id === inputFileId) return b;
      }
      return null;
    });
  }

  /** Each line of an output or error file, streamed (a file of a million lines is not held in memory). */
  async lines(fileId: string, each: (line: string) => void): Promise<void> {
    await this.call('download', async () => {
      const res = await this.sdk.files.content(fileId);
      if (!res.body) return;
      const rl = readline.createInterface({ input: Readable.fromWeb(res.body as import('node:stream/web').ReadableStream), crlfDelay: Infinity });
      const got: string[] = [];
      for await (const line of rl) if (line.trim()) got.push(line);
      // only a file read to its end counts: a download cut midway is retried whole
      for (const l of got) each(l);
    });
  }

  private async call<T>(what: string, f: () => Promise<T>): Promise<T> {
    const { http, auth } = CODES[this.o.family];
    const url = this.o.baseURL;
    for (let attempt = 0; ; attempt++) {
      if (this.o.signal?.aborted) throw this.o.signal.reason;
      let retryAfter: number | null = null;
      let why: string;
      try {
        this.calls++;
        return await f();
      } catch (e) {
        if (e instanceof APIError && typeof e.status === 'number') {
          const msg = this.scrub(e.message.replace(/\s+/g, ' ').slice(0, 300));
          if (e.status === 401 || e.status === 403) {
            throw new UalError(auth, `the server at ${url} refused the API key (${what}: HTTP ${msg})`,
              'set a valid key in $OPENAI_API_KEY (or the variable named by --api-key-env) that may use the Batch API');
          }
          if (e.status === 404 && (what === 'upload' || what === 'create')) {
            throw new UalError(http, `the server at ${url} has no Batch API (${what}: HTTP ${msg})`,
              'drop --batch (the online path works with any OpenAI-compatible server), or check --base-url');
          }
          if (!(e.status === 408 || e.status === 409 || e.status === 429 || e.status >= 500)) {
            throw new UalError(http, `the Batch API at ${url} rejected the ${what} (HTTP ${msg})`,
              'check --model / --judge and --base-url; batches recorded so far are resumed by rerunning the same command');
          }
          retryAfter = parseRetryAfter((h) => e.headers?.get(h));
          why = `HTTP ${msg}`;
        } else if (e instanceof APIConnectionError || e instanceof TypeError || e instanceof SyntaxError) {
          why = `connection failed (${this.scrub(errorCode(e) ?? rootMessage(e))})`;
        } else throw e;
      }
      if (attempt >= this.o.maxRetries) {
        throw new UalError(http, `the Batch API at ${url} failed ${attempt + 1} times in a row (${what}; last: ${why})`,
          'batches recorded so far are resumed by rerunning the same command once the server is back');
      }
      await sleep(backoffDelay(attempt, this.o.backoff, retryAfter), this.o.signal);
    }
  }
}
