// `ual elicit`: rate every training row's open-endedness (0–99) with a stronger LLM, cached and resumable.
// Parses flags, finds the API key, shows progress on stderr and prints the summary; the run lives in src/uncertainty.
import cliProgress from 'cli-progress';
import { fmtDuration } from './progress.js';
import { UalError, UsageError } from '../errors.js';
import { elicit, type ElicitProgress, type ElicitSummary } from '../uncertainty/elicit.js';
import { isMethodName, METHODS, type Elicitor } from '../uncertainty/methods/index.js';
import { selfElicitor } from '../pipeline/self-elicitor.js';
import { isTemplateName } from '../data/template.js';
import { DATA_FORMATS, isDataFormat } from '../data/formats.js';
import { numOpt, parseOptions, printJson, requireOpt, type Command, type OptionSpec } from './command.js';

const NAME = 'elicit';

const OPTIONS: OptionSpec = {
  data: { type: 'string' },
  in: { type: 'string' }, // alias of --data
  format: { type: 'string' },
  out: { type: 'string' },
  method: { type: 'string' },
  model: { type: 'string' },
  'model-dir': { type: 'string' },
  template: { type: 'string' },
  'base-url': { type: 'string' },
  'api-key-env': { type: 'string' },
  concurrency: { type: 'string' },
  rpm: { type: 'string' },
  tpm: { type: 'string' },
  timeout: { type: 'string' },
  'max-retries': { type: 'string' },
  'retry-base': { type: 'string' },
  'retry-max': { type: 'string' },
  'parse-retries': { type: 'string' },
  'prompt-file': { type: 'string' },
  samples: { type: 'string' },
  temperature: { type: 'string' },
  'max-tokens': { type: 'string' },
  'top-logprobs': { type: 'string' },
  'answer-tokens': { type: 'string' },
  cache: { type: 'string' },
  failed: { type: 'string' },
  'allow-failures': { type: 'boolean' },
  limit: { type: 'string' },
  'dry-run': { type: 'boolean' },
  'price-in': { type: 'string' },
  'price-out': { type: 'string' },
  'progress-every': { type: 'string' },
  json: { type: 'boolean' },
};

const USAGE = `usage: ual elicit --data DATA.jsonl --out SCORED.jsonl --model NAME [options]

Asks a stronger LLM (any OpenAI-compatible server) how open-ended each row is, 0-99, and writes every row,
in order, with "uncertainty" and "uncertainty_method" added. Answers are cached as they arrive: rerunning the
same command after a crash continues where it stopped and never pays for a row twice.

input and output
  --data FILE          (or --in) JSONL or JSON array: Alpaca, ShareGPT/Deita, OpenAI messages, GSM8K, MetaMathQA, prompt/response, text
  --format F           auto (default: each row by its shape) | ${DATA_FORMATS.join(' | ')}, as ual train reads it
  --out FILE           written atomically once every row is rated (a .json name writes a JSON array)
  --cache FILE         SQLite answer cache (default: elicit-cache.sqlite beside --out)
  --failed FILE        rows that failed after retries, with the reason (default: OUT.failed.jsonl, only if any)
  --allow-failures     write --out without the failed rows and exit 0
  --limit N            only the first N rows
  --dry-run            count rows and tokens, estimate the cost; send nothing

judge
  --method M           verbalized (default: the judge states a score) | sampling (disagreement of k answers)
                       | logprobs (entropy of the first answer tokens) | self (no server: the entropy of a local
                       checkpoint on the sample's responses, as a share of ln V, on 0-99)
  --model NAME         the judge model (required, except with --method self)
  --model-dir DIR      self: the checkpoint (HF layout with tokenizer.json)
  --template T         self: paper (default) | chat | plain, how the sample is laid out for the checkpoint
  --base-url URL       default $OPENAI_BASE_URL or https://api.openai.com/v1 (vLLM, Ollama, llama.cpp, LM Studio, OpenRouter...)
  --api-key-env VAR    the environment variable holding the API key (default OPENAI_API_KEY)
  --prompt-file FILE   verbalized: your own prompt; {{sample}} marks where the sample goes, else it is the system message
  --parse-retries N    verbalized: ask again this often when a reply has no readable score (default 3)
  --samples K          sampling: answers per row (default 5)
  --temperature T      default 0 (verbalized, logprobs), 1 (sampling)
  --max-tokens N       reply limit (default 64 verbalized, 256 sampling; 0 sends none, for models that refuse max_tokens)
  --top-logprobs N     logprobs: alternatives per token, 1..20 (default 5)
  --answer-tokens N    logprobs: leading answer tokens averaged (default 5)

pacing and retries
  --concurrency N      requests in flight (default 8)
  --rpm N, --tpm N     requests / tokens per minute limits (default none)
  --timeout S          seconds per request attempt (default 60)
  --max-retries N      retries per request on 429, 5xx, timeouts, dropped connections (default 6)
  --retry-base S       first backoff in seconds, doubling, with jitter (default 1); Retry-After is honoured
  --retry-max S        longest backoff in seconds (default 60)

reporting
  --price-in USD, --price-out USD   per million prompt / completion tokens, for the cost estimate
  --progress-every S   seconds between progress lines when stderr is not a terminal (default 10)
  --json               print the summary as one JSON object on the last line of stdout`;

function optNum(v: string | boolean | undefined, name: string, check: { int?: boolean; min?: number; max?: number } = {}): number | undefined {
  return v === undefined ? undefined : numOpt(NAME, name, v as string, undefined, check);
}

export function resolveApiKey(envName: string | undefined, baseURL: string, needed: boolean): string {
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
    throw new UalError('UAL_ELICIT_AUTH', 'no API key: OPENAI_API_KEY is not set', 'export OPENAI_API_KEY=... (or name another variable with --api-key-env)');
  }
  // Local servers (vLLM, Ollama, llama.cpp) usually need none; the SDK insists on a non-empty one.
  return 'no-key';
}

function fmtCount(n: number): string {
  return n >= 1e6 ? `${(n / 1e6).toFixed(1)}M` : n >= 1e4 ? `${(n / 1e3).toFixed(0)}k` : String(n);
}

function stats(p: ElicitProgress): { rps: string; eta: string; tokens: string; cost: string } {
  const secs = p.elapsedMs / 1000;
  const rated = p.done - p.skipped;
  const eta = rated > 0 ? ((p.total - p.done) * secs) / rated : Infinity;
  return {
    rps: secs > 0 ? (p.requests / secs).toFixed(1) : '0.0',
    eta: p.done >= p.total ? '0s' : fmtDuration(eta),
    tokens: fmtCount(p.promptTokens + p.completionTokens),
    cost: p.costUsd === null ? '' : ` | $${p.costUsd.toFixed(4)}`,
  };
}

/** A bar on a terminal; on a pipe or file, one plain line every few seconds instead of control characters. */
function progressReporter(everyS: number): { update(p: ElicitProgress): void; stop(p: ElicitProgress | null): void } {
  let last: ElicitProgress | null = null;
  if (process.stderr.isTTY) {
    const bar = new cliProgress.SingleBar({
      stream: process.stderr, hideCursor: true, fps: 5,
      format: 'elicit {bar} {value}/{total} rows | {rps} req/s | retries {retries} | tokens {tokens}{cost} | ETA {etaText}',
    }, cliProgress.Presets.shades_classic);
    let started = false;
    return {
      update(p) {
        if (p.phase !== 'rate') return;
        const s = stats(p);
        const payload = { rps: s.rps, tokens: s.tokens, cost: s.cost, etaText: s.eta, retries: p.retries };
        if (!started) { bar.start(p.total, p.done, payload); started = true; } else bar.update(p.done, payload);
      },
      stop() { if (started) bar.stop(); },
    };
  }
  const line = (p: ElicitProgress) => {
    const s = stats(p);
    const pct = p.total ? ((100 * p.done) / p.total).toFixed(1) : '100.0';
    process.stderr.write(`elicit: ${p.done}/${p.total} rows (${pct}%) | ${s.rps} req/s | retries ${p.retries} | ` +
      `failed ${p.failed} | tokens ${s.tokens}${s.cost} | ETA ${s.eta}\n`);
  };
  const timer = setInterval(() => { if (last && last.phase === 'rate') line(last); }, everyS * 1000);
  timer.unref();
  return {
    update(p) { last = p; },
    stop(p) { clearInterval(timer); if (p && p.phase !== 'check' && p.total > 0) line(p); },
  };
}

function report(s: ElicitSummary): string {
  if (s.dry_run) {
    const e = s.estimate!;
    const cost = e.cost_usd === null ? 'pass --price-in/--price-out for a cost estimate' : `estimated cost $${e.cost_usd.toFixed(4)}`;
    return `elicit (dry run, nothing sent): ${s.rows} rows, ${s.cached} already cached; ${e.rows} to rate with ` +
      `${s.method}: ~${e.requests} requests, ~${fmtCount(e.prompt_tokens)} prompt + ~${fmtCount(e.completion_tokens)} completion tokens; ${cost}`;
  }
  const cost = s.cost_usd === null ? '' : `, $${s.cost_usd.toFixed(4)}`;
  return `elicit: ${s.rows} rows: ${s.cached} cached, ${s.scored} scored, ${s.failed} failed; ${s.requests} requests, ` +
    `${s.retries} retries, ${s.reasks} re-asks; ${fmtCount(s.prompt_tokens + s.completion_tokens)} tokens${cost}; ` +
    `${s.elapsed_s.toFixed(1)} s` + (s.out ? `; wrote ${s.out}` : '') + (s.failed_file && s.failed ? `; failed rows in ${s.failed_file}` : '');
}

export const command: Command = {
  name: NAME,
  summary: 'rate each row\'s uncertainty (0-99) with a stronger LLM; cached, resumable',
  usage: USAGE,
  async run(argv) {
    const v = parseOptions(NAME, argv, OPTIONS);
    const method = (v.method as string | undefined) ?? 'verbalized';
    if (!isMethodName(method)) {
      throw new UsageError(`--method must be one of ${Object.keys(METHODS).join(', ')}, got "${method}"`);
    }
    if (v.data !== undefined && v.in !== undefined) throw new UsageError('give the input once: --data (or its alias --in)');
    const input = requireOpt(NAME, 'data', (v.data ?? v.in) as string | undefined);
    const format = (v.format as string | undefined) ?? 'auto';
    if (format !== 'auto' && !isDataFormat(format)) throw new UsageError(`--format must be auto or one of ${DATA_FORMATS.join(', ')}, got "${format}"`);
    const dryRun = !!v['dry-run'];
    const out = dryRun ? (v.out as string | undefined) : requireOpt(NAME, 'out', v.out as string | undefined);
    let model: string;
    let elicitor: Elicitor | undefined;
    if (method === 'self') {
      const dir = requireOpt(NAME, 'model-dir', v['model-dir'] as string | undefined);
      const template = (v.template as string | undefined) ?? 'paper';
      if (!isTemplateName(template)) throw new UsageError(`--template must be one of paper, chat, plain, got "${template}"`);
      ({ elicitor, modelId: model } = selfElicitor(dir, template));
    } else {
      model = requireOpt(NAME, 'model', v.model as string | undefined);
    }
    const baseURL = ((v['base-url'] as string | undefined) ?? process.env.OPENAI_BASE_URL ?? 'https://api.openai.com/v1').replace(/\/+$/, '');
    const apiKey = resolveApiKey(v['api-key-env'] as string | undefined, baseURL, !dryRun && method !== 'self');
    const progressEvery = numOpt(NAME, 'progress-every', v['progress-every'] as string | undefined, 10, { min: 0.01 });
    const progress = progressReporter(progressEvery);
    let lastProgress: ElicitProgress | null = null;
    let summary: ElicitSummary;
    try {
      summary = await elicit({
        input, out, method, model, baseURL, apiKey, dryRun, elicitor, format: format === 'auto' ? undefined : format,
        cache: v.cache as string | undefined,
        failed: v.failed as string | undefined,
        allowFailures: !!v['allow-failures'],
        limit: optNum(v.limit, 'limit', { int: true, min: 0 }),
        concurrency: numOpt(NAME, 'concurrency', v.concurrency as string | undefined, 8, { int: true, min: 1, max: 1024 }),
        rpm: optNum(v.rpm, 'rpm', { min: 1 }),
        tpm: optNum(v.tpm, 'tpm', { min: 1 }),
        timeoutMs: 1000 * numOpt(NAME, 'timeout', v.timeout as string | undefined, 60, { min: 0.001 }),
        maxRetries: numOpt(NAME, 'max-retries', v['max-retries'] as string | undefined, 6, { int: true, min: 0, max: 100 }),
        backoff: {
          baseMs: 1000 * numOpt(NAME, 'retry-base', v['retry-base'] as string | undefined, 1, { min: 0 }),
          maxMs: 1000 * numOpt(NAME, 'retry-max', v['retry-max'] as string | undefined, 60, { min: 0 }),
        },
        parseRetries: numOpt(NAME, 'parse-retries', v['parse-retries'] as string | undefined, 3, { int: true, min: 0, max: 20 }),
        promptFile: v['prompt-file'] as string | undefined,
        samples: numOpt(NAME, 'samples', v.samples as string | undefined, 5, { int: true, min: 2, max: 100 }),
        temperature: optNum(v.temperature, 'temperature', { min: 0, max: 2 }),
        maxTokens: optNum(v['max-tokens'], 'max-tokens', { int: true, min: 0 }),
        topLogprobs: numOpt(NAME, 'top-logprobs', v['top-logprobs'] as string | undefined, 5, { int: true, min: 1, max: 20 }),
        answerTokens: numOpt(NAME, 'answer-tokens', v['answer-tokens'] as string | undefined, 5, { int: true, min: 1, max: 100 }),
        prices: {
          inPerM: optNum(v['price-in'], 'price-in', { min: 0 }),
          outPerM: optNum(v['price-out'], 'price-out', { min: 0 }),
        },
        onProgress: (p) => { lastProgress = p; progress.update(p); },
      });
    } finally {
      progress.stop(lastProgress);
    }
    process.stderr.write(report(summary) + '\n');
    if (v.json) printJson(summary);
    if (summary.failed > 0 && !v['allow-failures']) {
      throw new UalError('UAL_ELICIT_FAILED', `${summary.failed} of ${summary.rows} rows failed after retries ` +
        `(listed with reasons in ${summary.failed_file}); ${out} was not written`,
        'rerun the same command to retry them (answers so far are cached), or pass --allow-failures to write the output without them');
    }
    return 0;
  },
};
