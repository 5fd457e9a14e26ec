// The judge client: one OpenAI-compatible Chat Completions call made robust. The SDK's own retries are off; we
// pace (--concurrency, --rpm, --tpm, shared cooldown after Retry-After), time out each attempt, retry what is
// worth retrying and stop the whole run at once on what is not (bad key, wrong model, nobody listening).
// Its flags, settings and API key are built here once for `ual elicit`, `ual eval judge` and `ual demo`.
import { setMaxListeners } from 'node:events';
import OpenAI, { APIConnectionError, APIConnectionTimeoutError, APIError } from 'openai';
import type { ChatCompletion, ChatCompletionCreateParamsNonStreaming } from 'openai/resources/chat/completions';
import { RowFailure, UalError, UsageError } from '../errors.js';
import { flags, type Values } from '../util/options.js';
import { approxChatTokens } from './estimate.js';
import { Semaphore, sleep, TokenBucket } from './limits.js';
import { backoffDelay, errorCode, parseRetryAfter, rootMessage, UNREACHABLE_CODES, type BackoffOptions } from './retry.js';

/** Who uses the client decides the codes of its errors: elicitation (UAL_ELICIT_*) or judging (UAL_JUDGE_*). */
export type ClientFamily = 'elicit' | 'judge';

const FAMILY = {
  elicit: { http: 'UAL_ELICIT_HTTP', auth: 'UAL_ELICIT_AUTH', modelFlag: '--model' },
  judge: { http: 'UAL_JUDGE_HTTP', auth: 'UAL_JUDGE_AUTH', modelFlag: '--judge' },
} as const;

/** How to reach and pace the server; what the flags below resolve to. */
export interface ClientSettings {
  baseURL: string;
  apiKey: string;
  concurrency: number;
  rpm?: number;
  tpm?: number;
  timeoutMs: number;
  maxRetries: number;
  backoff: BackoffOptions;
}

export interface ClientOptions extends ClientSettings {
  family: ClientFamily;
  /** the run's signal: aborting it wakes every sleeper and cancels every request */
  signal: AbortSignal;
  onChange?: () => void;
}

export const CLIENT_FLAGS = flags({
  baseUrl: { flag: 'base-url', kind: 'string', arg: 'URL', group: 'judge server', help: 'default $OPENAI_BASE_URL or https://api.openai.com/v1 (vLLM, Ollama, llama.cpp, LM Studio, OpenRouter...)' },
  apiKeyEnv: { flag: 'api-key-env', kind: 'string', arg: 'VAR', group: 'judge server', help: 'the environment variable holding the API key (default OPENAI_API_KEY; never logged)' },
  concurrency: { flag: 'concurrency', kind: 'int', min: 1, max: 1024, default: 8, group: 'pacing and retries', help: 'requests in flight' },
  rpm: { flag: 'rpm', kind: 'number', min: 1, group: 'pacing and retries', help: 'requests per minute at most (default no limit)' },
  tpm: { flag: 'tpm', kind: 'number', min: 1, group: 'pacing and retries', help: 'tokens per minute at most (default no limit)' },
  timeout: { flag: 'timeout', kind: 'number', arg: 'S', min: 0.001, default: 60, group: 'pacing and retries', help: 'seconds per request attempt' },
  maxRetries: { flag: 'max-retries', kind: 'int', min: 0, max: 100, default: 6, group: 'pacing and retries', help: 'retries per request on 429, 5xx, timeouts, dropped connections' },
  retryBase: { flag: 'retry-base', kind: 'number', arg: 'S', min: 0, default: 1, group: 'pacing and retries', help: 'first backoff in seconds, doubling, with jitter; Retry-After is honoured' },
  retryMax: { flag: 'retry-max', kind: 'number', arg: 'S', min: 0, default: 60, group: 'pacing and retries', help: 'longest backoff in seconds' },
});

export type ClientFlags = Values<typeof CLIENT_FLAGS>;

/**
 * The API key from the environment variable named by --api-key-env (default OPENAI_API_KEY). Local servers
 * (vLLM, Ollama, llama.cpp) usually need none; api.openai.com does. `needed` false: dry runs, local methods.
 */
export function resolveApiKey(envName: string | undefined, baseURL: string, needed: boolean, family: ClientFamily): string {
  if (envName !== undefined && !/^[A-Za-z_][A-Za-z0-9_]*$/.test(envName)) {
    // Never echo the value: people paste the key itself here.
    throw new UsageError('--api-key-env takes the NAME of an environment variable (e.g. OPENROUTER_API_KEY), not the key');
  }
  const name = envName ?? 'OPENAI_API_KEY';
  const key = process.env[name];
  if (key) return key;
  if (!needed) return '';
  if (envName !== undefined) throw new UsageError(`--api-key-env ${name}: that environment variable is not set`);
  if (/^https?:\/\/api\.openai\.com(\/|$)/.test(baseURL)) {
    throw new UalError(FAMILY[family].auth, 'no API key: OPENAI_API_KEY is not set', 'export OPENAI_API_KEY=... (or name another variable with --api-key-env)');
  }
  // the SDK insists on a non-empty key
  return 'no-key';
}

/** The client settings the flags describe; the key is looked up only when `needKey`. */
export function clientSettings(v: ClientFlags, family: ClientFamily, needKey: boolean): ClientSettings {
  const baseURL = (v.baseUrl ?? process.env.OPENAI_BASE_URL ?? 'https://api.openai.com/v1').replace(/\/+$/, '');
  return {
    baseURL, apiKey: resolveApiKey(v.apiKeyEnv, baseURL, needKey, family), concurrency: v.concurrency, rpm: v.rpm, tpm: v.tpm,
    timeoutMs: 1000 * v.timeout, maxRetries: v.maxRetries, backoff: { baseMs: 1000 * v.retryBase, maxMs: 1000 * v.retryMax },
  };
}

export interface ClientStats {
  requests: number;
  retries: number;
  promptTokens: number;
  completionTokens: number;
}

/** Replace every occurrence of the secret: server error bodies sometimes echo the key they rejected. */
export function scrubber(secret: string): (s: string) => string {
  if (secret.length < 4) return (s) => s;
  return (s) => s.split(secret).join('[redacted]');
}

type Attempt =
  | { ok: true; completion: ChatCompletion }
  | { ok: false; message: string; retryAfterMs: number | null };

/** A reply that is a chat completion with at least one message (servers send other things on a bad day). */
export function isCompletion(x: unknown): x is ChatCompletion {
  const c = x as ChatCompletion | null;
  return !!c && typeof c === 'object' && Array.isArray(c.choices) && c.choices.length > 0 && !!c.choices[0]?.message;
}

function snippet(s: string, n = 200): string {
  const t = s.replace(/\s+/g, ' ').trim();
  return t.length > n ? t.slice(0, n) + '…' : t;
}

/** Consecutive non-retryable rejections, with no success yet, after which the setup (not the rows) is wrong. */
const REJECTS_BEFORE_FATAL = 3;

export class JudgeClient {
  readonly stats: ClientStats = { requests: 0, retries: 0, promptTokens: 0, completionTokens: 0 };
  readonly scrub: (s: string) => string;
  private sdk: OpenAI;
  private slots: Semaphore;
  private rpm?: TokenBucket;
  private tpm?: TokenBucket;
  private pauseUntil = 0;
  private responded = false;
  private successes = 0;
  private rejects = 0;

  constructor(private o: ClientOptions) {
    this.scrub = scrubber(o.apiKey);
    // every waiting or in-flight request listens for the run's abort: that is by design, not a leak
    setMaxListeners(0, o.signal);
    // maxRetries 0: retries are ours (jitter, shared cooldown, run-wide stop). The SDK timeout is a backstop
    // only; our own timer also covers reading the body, which the SDK's does not.
    this.sdk = new OpenAI({ baseURL: o.baseURL, apiKey: o.apiKey, maxRetries: 0, timeout: o.timeoutMs * 2 + 1000, logLevel: 'off' });
    this.slots = new Semaphore(o.concurrency);
    if (o.rpm) this.rpm = new TokenBucket(o.rpm);
    if (o.tpm) this.tpm = new TokenBucket(o.tpm);
  }

  /**
   * One chat completion, retried until it succeeds, fails for good (RowFailure) or must stop the run (UalError).
   * The concurrency slot is held through backoff sleeps, so a struggling server sees fewer requests, not more.
   */
  async chat(body: ChatCompletionCreateParamsNonStreaming): Promise<ChatCompletion> {
    // Only the --tpm budget needs an estimate; skip the byte counting otherwise.
    const est = this.tpm ? approxChatTokens(body.messages as Array<{ content: string }>) + (body.max_tokens ?? 256) * (body.n ?? 1) : 0;
    await this.slots.acquire();
    try {
      for (let attempt = 0; ; attempt++) {
        await this.pace(est);
        const r = await this.attempt(body, est);
        if (r.ok) return r.completion;
        if (attempt >= this.o.maxRetries) {
          throw new RowFailure(FAMILY[this.o.family].http, `gave up after ${attempt + 1} attempts; last: ${r.message}`);
        }
        const wait = backoffDelay(attempt, this.o.backoff, r.retryAfterMs);
        // The server's Retry-After concerns all of our requests, not just this one: everyone waits.
        if (r.retryAfterMs !== null) this.pauseUntil = Math.max(this.pauseUntil, Date.now() + wait);
        this.stats.retries++;
        this.o.onChange?.();
        await sleep(wait, this.o.signal);
      }
    } finally {
      this.slots.release();
    }
  }

  /**
   * The server answered this run's requests another way (a batch): a request it now rejects is about that request,
   * not about the key, model or URL, so it fails its row instead of stopping the run.
   */
  vouch(): void {
    this.successes = Math.max(1, this.successes);
  }

  private async pace(est: number): Promise<void> {
    while (Date.now() < this.pauseUntil) await sleep(this.pauseUntil - Date.now(), this.o.signal);
    await this.rpm?.take(1, this.o.signal);
    await this.tpm?.take(est, this.o.signal);
  }

  private async attempt(body: ChatCompletionCreateParamsNonStreaming, est: number): Promise<Attempt> {
    const signal = this.o.signal;
    if (signal.aborted) throw signal.reason;
    const ac = new AbortController();
    let timedOut = false;
    const onRunAbort = () => ac.abort();
    signal.addEventListener('abort', onRunAbort, { once: true });
    const timer = setTimeout(() => { timedOut = true; ac.abort(); }, this.o.timeoutMs);
    this.stats.requests++;
    try {
      const completion: unknown = await this.sdk.chat.completions.create(body, { signal: ac.signal });
      this.responded = true;
      if (!isCompletion(completion)) {
        const text = typeof completion === 'string' ? completion : JSON.stringify(completion) ?? '';
        return { ok: false, message: `the reply is not a chat completion: ${this.scrub(snippet(text))}`, retryAfterMs: null };
      }
      const used = (completion.usage?.prompt_tokens ?? 0) + (completion.usage?.completion_tokens ?? 0);
      this.stats.promptTokens += completion.usage?.prompt_tokens ?? 0;
      this.stats.completionTokens += completion.usage?.completion_tokens ?? 0;
      if (used > 0) this.tpm?.adjust(used - est);
      this.successes++;
      this.rejects = 0;
      return { ok: true, completion };
    } catch (e) {
      if (signal.aborted) throw signal.reason;
      if (timedOut) return { ok: false, message: `no reply within ${this.o.timeoutMs / 1000} s (--timeout)`, retryAfterMs: null };
      return this.classify(e);
    } finally {
      clearTimeout(timer);
      signal.removeEventListener('abort', onRunAbort);
    }
  }

  private classify(e: unknown): Attempt {
    const url = this.o.baseURL;
    const { http, auth, modelFlag } = FAMILY[this.o.family];
    if (e instanceof APIError && typeof e.status === 'number') {
      this.responded = true;
      const s = e.status;
      const msg = this.scrub(snippet(e.message, 300));
      if (s === 401 || s === 403) {
        throw new UalError(auth, `the server at ${url} refused the API key (HTTP ${msg})`,
          'set a valid key in $OPENAI_API_KEY (or the variable named by --api-key-env) that may use this model');
      }
      if (s === 404) {
        throw new UalError(http, `the server at ${url} answered 404 (HTTP ${msg})`,
          `check ${modelFlag} and --base-url (an OpenAI-compatible base URL usually ends in /v1)`);
      }
      if (s === 429 && e.code === 'insufficient_quota') {
        throw new UalError(http, `the account behind the API key is out of quota (HTTP ${msg})`,
          'add credit or use another key; answers received so far are cached');
      }
      if (s === 408 || s === 409 || s === 429 || s >= 500) {
        return { ok: false, message: `HTTP ${msg}`, retryAfterMs: parseRetryAfter((h) => e.headers?.get(h)) };
      }
      // Any other 4xx is about this request; but if nothing has ever succeeded, it is about the setup.
      if (this.successes === 0 && ++this.rejects >= REJECTS_BEFORE_FATAL) {
        throw new UalError(http, `the server at ${url} rejects every request (HTTP ${msg})`,
          `check ${modelFlag}, --base-url and the method's options (e.g. --max-tokens 0 for models that refuse max_tokens)`);
      }
      throw new RowFailure(http, `the server rejected the request (HTTP ${msg})`);
    }
    if (e instanceof APIConnectionTimeoutError) {
      return { ok: false, message: `no reply within ${this.o.timeoutMs / 1000} s (--timeout)`, retryAfterMs: null };
    }
    const code = errorCode(e);
    if (e instanceof APIConnectionError) {
      if (code && UNREACHABLE_CODES.has(code) && !this.responded) {
        throw new UalError(http, `cannot connect to ${url} (${code})`,
          'is the server running? check --base-url (no request reached a server)');
      }
      return { ok: false, message: `connection failed (${this.scrub(code ?? rootMessage(e))})`, retryAfterMs: null };
    }
    // The SDK reads the body outside its error wrapping: a connection cut mid-body or a broken body lands here.
    if (e instanceof SyntaxError) return { ok: false, message: 'the reply body is not valid JSON', retryAfterMs: null };
    if (e instanceof TypeError || (e instanceof Error && e.name === 'AbortError')) {
      return { ok: false, message: `connection dropped (${this.scrub(rootMessage(e))})`, retryAfterMs: null };
    }
    throw e;
  }
}
