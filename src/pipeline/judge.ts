// `ual eval judge` as a library function: the evaluated outputs (an AlpacaEval predictions file, or generated now
// by a checkpoint), every (output, reference) pair judged both ways round by an OpenAI-compatible judge through the
// shared client and answer cache, per-item verdicts written atomically, the AlpacaEval-style win rate returned.
import path from 'node:path';
import { writeRows } from '../data/jsonl.js';
import { UalError, UsageError } from '../errors.js';
import { cutAtStop, generateAll, stopStrings } from '../eval/generate.js';
import { cachedAsk, judgeItems, summarizeJudge, JUDGE_PROMPT_ID, type AskJudge, type ItemJudgement, type JudgeItem, type JudgeMessage, type JudgeSummary } from '../eval/judge.js';
import { ANSWER_STOPS } from '../eval/math.js';
import { promptEncoder } from '../eval/prompts.js';
import { alignPredictions, readDifficulty, readPredictions, readReferences } from '../eval/rows.js';
import { BatchApi } from '../uncertainty/batch/api.js';
import { Batcher, type BatchProgress, type ChatFn } from '../uncertainty/batch/batcher.js';
import { BATCH_FLAGS, batchSettings, batchStatusReport, type BatchStatusReport } from '../uncertainty/batch/options.js';
import { BatchStore } from '../uncertainty/batch/store.js';
import { cacheBeside, cacheKey, ElicitCache, JUDGE_CACHE_FILE } from '../uncertainty/cache.js';
import { CLIENT_FLAGS, clientSettings, JudgeClient, type ClientSettings } from '../uncertainty/client.js';
import { writeFileAtomic } from '../util/atomic.js';
import { flags, type Values } from '../util/options.js';
import { generationFlags, loadWithCodec, type EvalProgress } from './evaluate.js';

export const JUDGE_FLAGS = flags({
  model: { flag: 'model', kind: 'string', arg: 'DIR', help: 'generate the evaluated outputs with this checkpoint' },
  predictions: { flag: 'predictions', kind: 'string', arg: 'FILE', exists: true, help: 'or judge given outputs (AlpacaEval format) in the order of --references' },
  references: { flag: 'references', kind: 'string', arg: 'FILE', required: true, exists: true, help: 'reference outputs (alpaca_eval/reference_*.json)' },
  judge: { flag: 'judge', kind: 'string', arg: 'NAME', required: true, group: 'judge server', help: 'the judge model' },
  ...CLIENT_FLAGS,
  ...BATCH_FLAGS,
  maxTokens: { flag: 'max-tokens', kind: 'int', min: 1, default: 16, group: 'judge server', help: 'reply limit of one verdict' },
  parseRetries: { flag: 'parse-retries', kind: 'int', min: 0, max: 20, default: 1, group: 'judge server', help: 'ask again this often when a reply names no verdict' },
  cache: { flag: 'cache', kind: 'string', arg: 'FILE', help: `verdict cache (default ${JUDGE_CACHE_FILE} beside --out)` },
  allowFailures: { flag: 'allow-failures', kind: 'bool', help: 'report the win rate over the judged instructions and exit 0 when some failed' },
  outputs: { flag: 'outputs', kind: 'string', arg: 'FILE', help: 'with --model: save the generated outputs (AlpacaEval format)' },
  limit: { flag: 'limit', kind: 'int', min: 1, help: 'only the first N references' },
  difficulty: { flag: 'difficulty', kind: 'string', arg: 'FILE', exists: true, help: 'instruction difficulties for the length-controlled fit (AlpacaEval\'s instruction_difficulty.csv, or a JSON array)' },
  out: { flag: 'out', kind: 'string', arg: 'FILE', help: 'one row per instruction: both verdicts, the preference, the error' },
  ...generationFlags(512),
});

export interface JudgeRunResult {
  summary: JudgeSummary & {
    task: 'judge'; judge: string; generator: string; references: string; requests: number; retries: number; cached: number;
    cache: string; out: string | null;
    /** with --batch: batches created, requests sent in them, those they did not answer (retried per --batch-retry) */
    batch?: { batches: number; requests: number; failed: number };
  };
  /** the first failed judgement's reason, when any failed */
  firstError: string | null;
}

/** --batch-status: the batches of the judge run whose cache is --cache (or beside --out). */
export function judgeBatchStatus(o: Values<typeof JUDGE_FLAGS>): Promise<BatchStatusReport> {
  return batchStatusReport(o.cache ?? cacheBeside(o.out, JUDGE_CACHE_FILE), 'judge', clientSettings(o, 'judge', true), 'judge');
}

/**
 * Judge every item: online, or (--batch) in passes whose requests go into batches, polled and harvested between
 * passes, until a pass sends nothing. `ask(chat)` builds the per-request asker around a chat function.
 */
async function judgeAll(items: JudgeItem[], ask: (chat: (key: string) => ChatFn) => AskJudge, client: JudgeClient, batcher: Batcher | null,
  onDone?: (done: number, total: number) => void): Promise<ItemJudgement[]> {
  const online = (b: Parameters<ChatFn>[0]) => client.chat(b);
  if (!batcher) return judgeItems(items, ask(() => online), onDone);
  for (;;) {
    await batcher.settle();
    const results = await judgeItems(items, ask((key) => batcher.session(key, online)), onDone);
    if (batcher.captured === 0) return results;
    await batcher.submit();
  }
}

function judgeBatcher(cache: ElicitCache, settings: ClientSettings, o: Values<typeof JUDGE_FLAGS>, onProgress?: EvalProgress): Batcher | null {
  const batch = batchSettings(o);
  if (!batch) return null;
  const api = new BatchApi({ ...settings, family: 'judge' });
  return new Batcher(new BatchStore(cache.database), api, {
    ...batch, run: 'judge', dir: `${cache.file}.batches`, maxRetries: settings.maxRetries, httpCode: 'UAL_JUDGE_HTTP',
    onProgress: onProgress && ((p: BatchProgress) => onProgress('batch', p.completed + p.failed, p.total)),
  });
}

/** The win rate of the model's outputs against the references. */
export async function judgeWinRate(o: Values<typeof JUDGE_FLAGS>, onProgress?: EvalProgress): Promise<JudgeRunResult> {
  const { references: refsFile, judge: judgeModel, model: modelDir, predictions } = o;
  if ((modelDir === undefined) === (predictions === undefined)) {
    throw new UsageError('ual eval judge: give exactly one of --model DIR (generate the outputs) or --predictions FILE (AlpacaEval model outputs)');
  }
  const settings = clientSettings(o, 'judge', true);
  const refs = await readReferences(refsFile, o.limit);

  // the evaluated outputs: given, or generated now
  let outputs: string[];
  let generator = 'model';
  if (predictions !== undefined) {
    const preds = await readPredictions(predictions, o.limit); // all of them unless --limit: extra rows are a mismatch too
    alignPredictions(predictions, preds, refsFile, refs.map((r) => ({ text: r.instruction, line: r.line })));
    outputs = preds.map((p) => p.output);
    generator = path.basename(predictions).replace(/\.[^.]*$/, '');
  } else {
    const { model, codec } = loadWithCodec(modelDir!, 'ual eval judge --model');
    generator = path.basename(path.resolve(modelDir!));
    const encode = promptEncoder(codec, o.template, o.prompt);
    const prompts = refs.map((r) => encode(r.instruction));
    const stops = ANSWER_STOPS;
    const res = generateAll(model, prompts, {
      maxNewTokens: o.maxNewTokens, batchSize: o.batchSize, temperature: o.temperature, seed: o.seed,
      stopIds: codec.eosIds, shouldStop: stopStrings(codec.decode, stops), onProgress: onProgress && ((done, total) => onProgress('generate', done, total)),
    });
    outputs = res.newIds.map((ids) => cutAtStop(codec.decode(ids), stops).trim());
    if (o.outputs) {
      writeFileAtomic(o.outputs, JSON.stringify(refs.map((r, i) => ({ instruction: r.instruction, output: outputs[i], generator })), null, 2) + '\n');
    }
  }
  const difficulty = o.difficulty === undefined ? undefined : readDifficulty(o.difficulty, refs.length, o.limit !== undefined);
  const items: JudgeItem[] = refs.map((r, i) => ({ instruction: r.instruction, output: outputs[i], reference: r.output, difficulty: difficulty?.[i] }));

  const out = o.out;
  const cachePath = o.cache ?? cacheBeside(out, JUDGE_CACHE_FILE);
  const temperature = 0;
  const maxTokens = o.maxTokens;
  const run = new AbortController();
  const client = new JudgeClient({ ...settings, family: 'judge', signal: run.signal });
  const cache = new ElicitCache(cachePath);
  const stats = { cached: 0, asked: 0, unparsed: 0 };
  let cachedAtStart: number | null = null;
  let passes = 0;
  let results: ItemJudgement[];
  let batcher: Batcher | null = null;
  try {
    batcher = judgeBatcher(cache, settings, o, onProgress);
    const key = (messages: JudgeMessage[]) =>
      cacheKey({ method: 'eval-judge', prompt: JUDGE_PROMPT_ID, model: judgeModel, params: { temperature, max_tokens: maxTokens }, sample: JSON.stringify(messages) });
    // one asker per request, so the batch path numbers each request's re-asks apart; what the first pass found
    // cached is what the cache held when the run started (later passes find the batches' answers there too)
    const ask = (chatFor: (key: string) => ChatFn): AskJudge => {
      if (passes++ === 1) cachedAtStart = stats.cached;
      return (messages, where) => {
        const chat = chatFor(key(messages));
        return cachedAsk({
          store: cache, stats, parseRetries: o.parseRetries, key,
          chat: async (m) => {
            const c = await chat({ model: judgeModel, messages: m, temperature, max_tokens: maxTokens });
            return { text: c.choices[0].message.content ?? '', promptTokens: c.usage?.prompt_tokens ?? 0, completionTokens: c.usage?.completion_tokens ?? 0 };
          },
        })(messages, where);
      };
    };
    results = await judgeAll(items, ask, client, batcher, onProgress && ((done, total) => onProgress('judge', done, total)));
  } catch (e) {
    run.abort(e); // a fatal error stops every request still in flight
    throw e;
  } finally {
    cache.close();
  }
  const s = summarizeJudge(items, results);
  if (out) {
    await writeRows(out, items.map((it, i) => ({
      instruction: it.instruction, output: it.output, reference: it.reference,
      verdict_model_first: results[i].verdicts[0], verdict_model_second: results[i].verdicts[1],
      preference: results[i].preference, error: results[i].error, ...(difficulty ? { difficulty: difficulty[i] } : {}),
    })));
  }
  return {
    summary: {
      task: 'judge', judge: judgeModel, generator, references: refsFile, ...s,
      requests: client.stats.requests, retries: client.stats.retries, cached: cachedAtStart ?? stats.cached, cache: cachePath, out: out ?? null,
      ...(batcher ? { batch: { batches: batcher.stats.batches, requests: batcher.stats.requests, failed: batcher.stats.failed } } : {}),
    },
    firstError: results.find((r) => r.error)?.error ?? null,
  };
}

/** Failed judgements stop the command (after its summary is out) unless --allow-failures. */
export function checkJudged(r: JudgeRunResult, allowFailures: boolean): void {
  const s = r.summary;
  if (s.failed > 0 && !allowFailures) {
    throw new UalError('UAL_JUDGE_FAILED', `${s.failed} of ${s.n + s.failed} instructions could not be judged (first: ${r.firstError ?? ''})`,
      'rerun the same command to retry them (verdicts so far are cached), or pass --allow-failures to report the rest');
  }
}
