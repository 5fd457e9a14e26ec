// `ual elicit` as a library function: its flags, resolved into a run of src/uncertainty/elicit.ts — the method
// (a judge server, or `self`: a local checkpoint), the judge client with its key, the cache — for the CLI and the
// demo alike; and the rule that failed rows fail the command.
import { DATA_FORMATS } from '../data/formats.js';
import { UalError, UsageError } from '../errors.js';
import { TEMPLATES } from '../data/template.js';
import { BATCH_FLAGS, batchSettings, batchStatusReport, type BatchStatusReport } from '../uncertainty/batch/options.js';
import { cacheBeside, ELICIT_CACHE_FILE } from '../uncertainty/cache.js';
import { CLIENT_FLAGS, clientSettings } from '../uncertainty/client.js';
import { elicit, type ElicitProgress, type ElicitSummary } from '../uncertainty/elicit.js';
import { METHODS, type Elicitor, type MethodName } from '../uncertainty/methods/index.js';
import { flags, need, type Values } from '../util/options.js';
import { selfElicitor } from './self-elicitor.js';

const NAME = 'elicit';
const IO = 'input and output';
const JUDGE = 'judge';

export const ELICIT_FLAGS = flags({
  data: { flag: 'data', kind: 'string', arg: 'FILE', group: IO, help: 'JSONL or JSON array: Alpaca, ShareGPT/Deita, OpenAI messages, GSM8K, MetaMathQA, prompt/response, text' },
  in: { flag: 'in', kind: 'string', arg: 'FILE', group: IO, help: 'the same as --data' },
  format: { flag: 'format', kind: ['auto', ...DATA_FORMATS], default: 'auto', group: IO, help: 'auto: each row by its shape; or every row read as this format, as ual train reads it' },
  out: { flag: 'out', kind: 'string', arg: 'FILE', group: IO, help: 'written atomically once every row is rated (a .json name writes a JSON array)' },
  cache: { flag: 'cache', kind: 'string', arg: 'FILE', group: IO, help: `SQLite answer cache (default: ${ELICIT_CACHE_FILE} beside --out)` },
  failed: { flag: 'failed', kind: 'string', arg: 'FILE', group: IO, help: 'rows that failed after retries, with the reason (default: OUT.failed.jsonl, only if any)' },
  allowFailures: { flag: 'allow-failures', kind: 'bool', group: IO, help: 'write --out without the failed rows and exit 0' },
  limit: { flag: 'limit', kind: 'int', min: 0, group: IO, help: 'only the first N rows' },
  dryRun: { flag: 'dry-run', kind: 'bool', group: IO, help: 'count rows and tokens, estimate the cost; send nothing (no --out needed)' },
  method: {
    flag: 'method', kind: Object.keys(METHODS) as MethodName[], default: 'verbalized', group: JUDGE,
    help: 'verbalized: the judge states a score | sampling: disagreement of k answers\n| logprobs: entropy of the first answer tokens | self: no server, the entropy of a local\ncheckpoint on the sample\'s responses, as a share of ln V, on 0-99',
  },
  model: { flag: 'model', kind: 'string', arg: 'NAME', group: JUDGE, help: 'the judge model (required, except with --method self)' },
  modelDir: { flag: 'model-dir', kind: 'string', arg: 'DIR', group: JUDGE, help: 'self: the checkpoint (HF layout with tokenizer.json)' },
  template: { flag: 'template', kind: TEMPLATES, default: 'paper', group: JUDGE, help: 'self: how the sample is laid out for the checkpoint' },
  promptFile: { flag: 'prompt-file', kind: 'string', arg: 'FILE', group: JUDGE, help: 'verbalized: your own prompt; {{sample}} marks where the sample goes, else it is the system message' },
  parseRetries: { flag: 'parse-retries', kind: 'int', min: 0, max: 20, default: 3, group: JUDGE, help: 'verbalized: ask again this often when a reply has no readable score' },
  samples: { flag: 'samples', kind: 'int', min: 2, max: 100, default: 5, group: JUDGE, help: 'sampling: answers per row' },
  temperature: { flag: 'temperature', kind: 'number', min: 0, max: 2, arg: 'T', group: JUDGE, help: 'default 0 (verbalized, logprobs), 1 (sampling)' },
  maxTokens: { flag: 'max-tokens', kind: 'int', min: 0, group: JUDGE, help: 'reply limit (default 64 verbalized, 256 sampling; 0 sends none, for models that refuse max_tokens)' },
  topLogprobs: { flag: 'top-logprobs', kind: 'int', min: 1, max: 20, default: 5, group: JUDGE, help: 'logprobs: alternatives per token' },
  answerTokens: { flag: 'answer-tokens', kind: 'int', min: 1, max: 100, default: 5, group: JUDGE, help: 'logprobs: leading answer tokens averaged' },
  ...CLIENT_FLAGS,
  ...BATCH_FLAGS,
  priceIn: { flag: 'price-in', kind: 'number', min: 0, arg: 'USD', group: 'reporting', help: 'per million prompt tokens, for the cost estimate' },
  priceOut: { flag: 'price-out', kind: 'number', min: 0, arg: 'USD', group: 'reporting', help: 'per million completion tokens, for the cost estimate' },
});

export type ElicitValues = Values<typeof ELICIT_FLAGS>;

/** Rate every row (or, with --dry-run, estimate what that would take). */
export async function elicitScores(o: ElicitValues, onProgress?: (p: ElicitProgress) => void): Promise<ElicitSummary> {
  if (o.data !== undefined && o.in !== undefined) throw new UsageError('give the input once: --data (or its alias --in)');
  const input = need(NAME, ELICIT_FLAGS.data, o.data ?? o.in);
  const out = o.dryRun ? o.out : need(NAME, ELICIT_FLAGS.out, o.out);
  let model: string;
  let elicitor: Elicitor | undefined;
  if (o.method === 'self') {
    if (o.batch) throw new UsageError('--batch sends requests to a judge server; --method self runs a local checkpoint');
    ({ elicitor, modelId: model } = selfElicitor(need(NAME, ELICIT_FLAGS.modelDir, o.modelDir), o.template));
  } else {
    model = need(NAME, ELICIT_FLAGS.model, o.model);
  }
  return elicit({
    input, out, method: o.method, model, elicitor, format: o.format === 'auto' ? undefined : o.format, dryRun: o.dryRun, cache: o.cache, failed: o.failed, allowFailures: o.allowFailures,
    limit: o.limit, ...clientSettings(o, 'elicit', !o.dryRun && o.method !== 'self'),
    parseRetries: o.parseRetries, promptFile: o.promptFile, samples: o.samples, temperature: o.temperature, maxTokens: o.maxTokens,
    topLogprobs: o.topLogprobs, answerTokens: o.answerTokens, prices: { inPerM: o.priceIn, outPerM: o.priceOut }, onProgress,
    batch: o.method === 'self' ? undefined : batchSettings(o),
  });
}

/** --batch-status: the batches of the elicitation run whose cache is --cache (or beside --out). */
export function elicitBatchStatus(o: ElicitValues): Promise<BatchStatusReport> {
  const cache = o.cache ?? cacheBeside(o.out ?? o.data ?? o.in, ELICIT_CACHE_FILE);
  return batchStatusReport(cache, 'elicit', clientSettings(o, 'elicit', true), 'elicit');
}

/** Failed rows stop the command (after its summary is out) unless --allow-failures: the output was not written. */
export function checkElicited(s: ElicitSummary, o: Pick<ElicitValues, 'out' | 'allowFailures'>): void {
  if (s.failed > 0 && !o.allowFailures) {
    throw new UalError('UAL_ELICIT_FAILED', `${s.failed} of ${s.rows} rows failed after retries ` +
      `(listed with reasons in ${s.failed_file}); ${o.out} was not written`,
      'rerun the same command to retry them (answers so far are cached), or pass --allow-failures to write the output without them');
  }
}
