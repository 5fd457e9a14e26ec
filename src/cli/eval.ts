// `ual eval gsm8k|metamath|mc|judge|ppl|calibration`: one command per measurement, each printing a summary on
// stderr and, with --json, one JSON object on the last stdout line; per-row files are written atomically.
import fs from 'node:fs';
import path from 'node:path';
import { AtomicRowWriter } from '../data/jsonl.js';
import { UalError, UsageError } from '../errors.js';
import { MATCH_MODES, type MatchMode } from '../eval/extract.js';
import { cutAtStop, generateAll, stopStrings } from '../eval/generate.js';
import { ANSWER_STOPS, evalMath, type MathTask } from '../eval/math.js';
import { scoreMc } from '../eval/mc.js';
import { cachedAsk, judgeItems, summarizeJudge, JUDGE_PROMPT_ID, type JudgeItem } from '../eval/judge.js';
import { reliabilitySvg, scoreTokens } from '../eval/calibration.js';
import { isPromptStyle, promptEncoder, PROMPT_STYLES, type PromptStyle } from '../eval/prompts.js';
import { alignPredictions, readMathShots, readMcRows, readPredictions, readReferences, readScoredRows } from '../eval/rows.js';
import { isTemplateName, TEMPLATES, type TemplateName } from '../data/template.js';
import { loadCodec, type TextCodec } from '../eval/text.js';
import { hasTokenizer, Tokenizer } from '../data/tokenizer.js';
import { loadModel, positionLimit, type CausalLM } from '../models/index.js';
import { cacheKey, ElicitCache } from '../uncertainty/cache.js';
import { JudgeClient } from '../uncertainty/client.js';
import { writeFileAtomic } from '../util/atomic.js';
import { numOpt, parseOptions, printJson, requireOpt, type Command, type OptionSpec, type OptionValues } from './command.js';
import { progress } from './progress.js';

const USAGE = `usage: ual eval <task> [options]

  gsm8k | metamath   accuracy on GSM8K {question, answer} or MetaMathQA {query, response} rows
      --data FILE (--model DIR | --predictions FILE) [--match strict|flexible|lenient] [--limit N] [--out ROWS]
      --predictions FILE   rows {question, output} in the order of --data (a different question is an error)
      --model DIR          generate: --max-new-tokens N (256) --batch-size N (8) --temperature T (0 = greedy) --seed N
                           --template paper|chat|plain (as in training; default paper) | qa (harness "Question: ..
                           Answer:") | metamath (MetaMath's eval prompt); or --prompt "…{question}…" of your own;
                           zero-shot unless --shots N --fewshot FILE (e.g. gsm8k/train.jsonl, never the test file)
      --match              strict: only "#### N", "The answer is N", \\boxed{N}, a final "A: N";
                           flexible (default): those, else the last number; lenient: the gold answer anywhere
      --out FILE           one row per question {question, output, extracted, gold, correct}
      --json               {"accuracy", "n", "correct", "ci95": [lo, hi] (Wilson), ...}

  mc    --model DIR --data FILE [--shots N --fewshot FILE] [--prompt "Question: {question}\\nAnswer:"] [--limit N]
        multiple choice by log-likelihood (lm-evaluation-harness): acc, and acc_norm (per character of the choice);
        rows {question, choices, answer}; ARC {choices: {text, label}, answerKey}, HellaSwag {ctx, endings, label},
        TruthfulQA {question, mc1_targets} read too. --out FILE writes per-row log-likelihoods.

  judge (--model DIR | --predictions FILE) --references FILE --judge NAME [--base-url URL] [--limit N]
        AlpacaEval-style win rate against reference outputs (alpaca_eval/reference_*.json), judged both ways round;
        ties count half. --out FILE per-item verdicts; --outputs FILE saves the model's outputs (AlpacaEval format).
        judge client: --api-key-env VAR --concurrency N (8) --rpm N --tpm N --timeout S (60) --max-retries N (6)
        --retry-base S (1) --retry-max S (60) --max-tokens N (16) --cache FILE (judge-cache.sqlite beside --out)
        --parse-retries N (1) --allow-failures; generation as above (--max-new-tokens 512, --template, --prompt)

  ppl | calibration   --model DIR --data FILE [--on response|all] [--template paper|chat|plain] [--max-len N] [--limit N]
        perplexity and next-token calibration on held-out rows (any dataset format, or {input_ids, labels}),
        templated and masked exactly as ual train does; --on response (default) scores the answers' tokens only,
        --on all every token; --max-len splits longer rows into windows; calibration: ECE over 15 bins,
        --svg FILE writes the reliability diagram, --out FILE the full result (bins) as JSON

  common: --batch-size N   sequences per forward (scoring: 16; generation: 8)   --json   last stdout line is JSON`;

const OPTIONS: OptionSpec = {
  data: { type: 'string' }, model: { type: 'string' }, predictions: { type: 'string' }, match: { type: 'string' },
  limit: { type: 'string' }, out: { type: 'string' }, json: { type: 'boolean' }, 'max-new-tokens': { type: 'string' },
  'batch-size': { type: 'string' }, temperature: { type: 'string' }, seed: { type: 'string' }, shots: { type: 'string' },
  fewshot: { type: 'string' }, template: { type: 'string' }, prompt: { type: 'string' }, references: { type: 'string' },
  judge: { type: 'string' }, 'base-url': { type: 'string' }, 'api-key-env': { type: 'string' }, concurrency: { type: 'string' },
  rpm: { type: 'string' }, tpm: { type: 'string' }, timeout: { type: 'string' }, 'max-retries': { type: 'string' },
  'retry-base': { type: 'string' }, 'retry-max': { type: 'string' }, 'max-tokens': { type: 'string' }, cache: { type: 'string' },
  'parse-retries': { type: 'string' }, 'allow-failures': { type: 'boolean' }, outputs: { type: 'string' },
  on: { type: 'string' }, 'max-len': { type: 'string' }, svg: { type: 'string' },
};

/** Which options each task takes: anything else is a usage error rather than silently ignored. */
const GEN = ['max-new-tokens', 'batch-size', 'temperature', 'seed', 'template', 'prompt'];
const ALLOWED: Record<string, string[]> = {
  gsm8k: ['data', 'model', 'predictions', 'match', 'limit', 'out', 'json', 'shots', 'fewshot', ...GEN],
  mc: ['data', 'model', 'limit', 'out', 'json', 'shots', 'fewshot', 'prompt', 'batch-size'],
  judge: ['model', 'predictions', 'references', 'judge', 'base-url', 'api-key-env', 'concurrency', 'rpm', 'tpm', 'timeout',
    'max-retries', 'retry-base', 'retry-max', 'max-tokens', 'cache', 'parse-retries', 'allow-failures', 'outputs', 'limit',
    'out', 'json', ...GEN],
  ppl: ['data', 'model', 'on', 'template', 'max-len', 'limit', 'batch-size', 'json'],
  calibration: ['data', 'model', 'on', 'template', 'max-len', 'limit', 'batch-size', 'json', 'svg', 'out'],
};
ALLOWED.metamath = ALLOWED.gsm8k;

type Num = (name: string, dflt?: number, check?: { int?: boolean; min?: number; max?: number }) => number | undefined;

function numbers(task: string, o: OptionValues): Num {
  return (name, dflt, check = {}) => (o[name] === undefined && dflt === undefined ? undefined
    : numOpt(`eval ${task}`, name, o[name] as string | undefined, dflt, check));
}

/** --template for generation: a training template or an eval-only format (qa, metamath). */
function promptStyle(cmd: string, o: OptionValues): PromptStyle {
  const t = (o.template as string | undefined) ?? 'paper';
  if (!isPromptStyle(t)) throw new UsageError(`ual ${cmd}: --template must be one of ${PROMPT_STYLES.join(', ')}, got "${t}"`);
  if (o.prompt !== undefined && o.template !== undefined) throw new UsageError(`ual ${cmd}: give --template or --prompt, not both`);
  return t;
}

function loadWithCodec(dir: string, why: string): { model: CausalLM; codec: TextCodec } {
  const model = loadModel(dir);
  return { model, codec: loadCodec(dir, why) };
}

function bar(label: string): { update: (done: number, total: number) => void; stop: () => void } {
  let p: ReturnType<typeof progress> | null = null;
  return {
    update(done, total) {
      p ??= progress(label, total, '');
      p.update(done, {});
    },
    stop() { p?.stop(); },
  };
}

async function runMath(task: MathTask, o: OptionValues, num: Num): Promise<number> {
  const cmd = `eval ${task}`;
  const data = requireOpt(cmd, 'data', o.data as string | undefined);
  const match = (o.match as string | undefined) ?? 'flexible';
  if (!MATCH_MODES.includes(match as MatchMode)) throw new UsageError(`ual ${cmd}: --match must be strict, flexible or lenient, got "${match}"`);
  const modelDir = o.model as string | undefined;
  const predictions = o.predictions as string | undefined;
  if ((modelDir === undefined) === (predictions === undefined)) {
    throw new UsageError(`ual ${cmd}: give exactly one of --model DIR (generate answers) or --predictions FILE (score given answers)`);
  }
  if (predictions !== undefined) {
    const genOnly = [...GEN, 'shots', 'fewshot'].filter((k) => o[k] !== undefined);
    if (genOnly.length) throw new UsageError(`ual ${cmd}: --${genOnly[0]} applies to --model (generation), not to --predictions`);
  }
  const shots = num('shots', 0, { int: true, min: 0 })!;
  if (shots > 0 && o.fewshot === undefined) {
    throw new UsageError(`ual ${cmd}: --shots ${shots} needs --fewshot FILE to take the examples from`, 'e.g. --fewshot ../shared/data/gsm8k/train.jsonl (never the evaluated file)');
  }
  const style = promptStyle(cmd, o);
  const gen = modelDir === undefined ? null : loadWithCodec(modelDir, `ual ${cmd} --model`);
  const b = bar(task);
  let r;
  try {
    r = await evalMath({
      task, data, match: match as MatchMode, limit: num('limit', undefined, { int: true, min: 1 }), out: o.out as string | undefined,
      predictions,
      generate: gen === null ? undefined : {
        ...gen, prompt: promptEncoder(gen.codec, style, o.prompt as string | undefined),
        shots: shots > 0 ? await readMathShots(o.fewshot as string, shots) : [],
        maxNewTokens: num('max-new-tokens', 256, { int: true, min: 1 })!, batchSize: num('batch-size', 8, { int: true, min: 1 }),
        temperature: num('temperature', 0, { min: 0 }), seed: num('seed', 0, { int: true, min: 0 }),
      },
      onProgress: b.update,
    });
  } finally {
    b.stop();
  }
  const [lo, hi] = r.ci95;
  process.stderr.write(`${task}: ${(100 * r.accuracy).toFixed(2)}% (${r.correct}/${r.n}, 95% CI ${(100 * lo).toFixed(1)}–${(100 * hi).toFixed(1)}%), ` +
    `match ${r.match}, ${r.no_answer} without an answer` + (r.generation ? `; generated ${r.generation.new_tokens} tokens at ${r.generation.tokens_per_s} tokens/s` : '') +
    (r.out ? `; rows in ${r.out}` : '') + '\n');
  if (o.json) printJson(r);
  return 0;
}

async function runMc(o: OptionValues, num: Num): Promise<number> {
  const data = requireOpt('eval mc', 'data', o.data as string | undefined);
  const { model, codec } = loadWithCodec(requireOpt('eval mc', 'model', o.model as string | undefined), 'ual eval mc');
  const shots = num('shots', 0, { int: true, min: 0 })!;
  if (shots > 0 && o.fewshot === undefined) throw new UsageError('ual eval mc: --shots needs --fewshot FILE to take the examples from');
  const rows = await readMcRows(data, num('limit', undefined, { int: true, min: 1 }));
  const fewshot = shots > 0 ? await readMcRows(o.fewshot as string, shots) : [];
  const b = bar('mc');
  let r;
  try {
    r = scoreMc(model, codec, rows, {
      template: o.prompt as string | undefined, fewshot, batchSize: num('batch-size', 16, { int: true, min: 1 }),
      maxLength: positionLimit(model.config, 'eval').context, onProgress: b.update,
    });
  } finally {
    b.stop();
  }
  if (o.out) {
    const w = new AtomicRowWriter(o.out as string);
    try {
      for (const row of r.rows) await w.write(JSON.stringify(row));
      await w.commit();
    } catch (e) {
      await w.abort();
      throw e;
    }
  }
  process.stderr.write(`mc: acc ${(100 * r.acc).toFixed(2)}%, acc_norm ${(100 * r.acc_norm).toFixed(2)}% on ${r.n} questions` +
    (o.out ? `; rows in ${o.out}` : '') + '\n');
  const { rows: _rows, ...summary } = r;
  if (o.json) printJson({ task: 'mc', ...summary, shots, out: (o.out as string | undefined) ?? null });
  return 0;
}

async function runTokens(task: 'ppl' | 'calibration', o: OptionValues, num: Num): Promise<number> {
  const cmd = `eval ${task}`;
  const data = requireOpt(cmd, 'data', o.data as string | undefined);
  const dir = requireOpt(cmd, 'model', o.model as string | undefined);
  const on = (o.on as string | undefined) ?? 'response';
  if (on !== 'response' && on !== 'all') throw new UsageError(`ual ${cmd}: --on must be response or all, got "${on}"`);
  const template = trainingTemplate(cmd, o);
  const model = loadModel(dir);
  const tokenizer = hasTokenizer(dir) ? Tokenizer.load(dir) : null;
  const seqs = await readScoredRows(data, { tokenizer, template, on, vocabSize: model.config.vocabSize, limit: num('limit', undefined, { int: true, min: 1 }) });
  const { max, context } = positionLimit(model.config, 'eval');
  const maxLen = num('max-len', Math.min(context, 1024), { int: true, min: 2 })!;
  if (maxLen > max) throw new UsageError(`ual ${cmd}: --max-len ${maxLen} exceeds the model's ${max} positions`);
  const b = bar(task);
  let r;
  try {
    r = scoreTokens(model, seqs, { maxLen, batchSize: num('batch-size', 16, { int: true, min: 1 }), onProgress: b.update });
  } finally {
    b.stop();
  }
  if (r.tokens === 0) {
    throw new UalError('UAL_DATA_BAD_FILE', `${data}: no target tokens to score`, on === 'response' ? 'the rows have no answer tokens: try --on all' : 'give longer rows');
  }
  if (task === 'ppl') {
    process.stderr.write(`ppl: ${r.ppl.toFixed(3)} (NLL ${r.nll.toFixed(4)} nats/token over ${r.tokens} tokens in ${r.rows} rows)\n`);
    if (o.json) printJson({ task, rows: r.rows, tokens: r.tokens, nll: r.nll, ppl: r.ppl, on });
    return 0;
  }
  const svg = o.svg as string | undefined;
  if (svg) writeFileAtomic(svg, reliabilitySvg(r, `Reliability: ${path.basename(path.resolve(dir))} on ${path.basename(data)}`));
  const result = { task, ...r, on, svg: svg ?? null, out: (o.out as string | undefined) ?? null };
  if (o.out) writeFileAtomic(o.out as string, JSON.stringify(result, null, 2) + '\n');
  process.stderr.write(`calibration: ECE ${r.ece.toFixed(4)} (15 bins), top-1 accuracy ${(100 * r.accuracy).toFixed(2)}%, ` +
    `mean confidence ${(100 * r.avg_confidence).toFixed(2)}%, ppl ${r.ppl.toFixed(3)} over ${r.tokens} tokens` + (svg ? `; diagram in ${svg}` : '') + '\n');
  if (o.json) printJson({ ...result, bins: undefined });
  return 0;
}

/** --template for scoring rows: the training template they were (or will be) trained with. */
function trainingTemplate(cmd: string, o: OptionValues): TemplateName {
  const t = (o.template as string | undefined) ?? 'paper';
  if (!isTemplateName(t)) throw new UsageError(`ual ${cmd}: --template must be one of ${TEMPLATES.join(', ')}, got "${t}"`);
  return t;
}

function resolveApiKey(envName: string | undefined, baseURL: string): string {
  if (envName !== undefined && !/^[A-Za-z_][A-Za-z0-9_]*$/.test(envName)) {
    throw new UsageError('ual eval judge: --api-key-env takes the NAME of an environment variable, not the key itself');
  }
  const key = process.env[envName ?? 'OPENAI_API_KEY'];
  if (key) return key;
  if (envName !== undefined) throw new UsageError(`ual eval judge: --api-key-env ${envName}: that environment variable is not set`);
  if (/^https?:\/\/api\.openai\.com(\/|$)/.test(baseURL)) {
    throw new UalError('UAL_ELICIT_AUTH', 'no API key: OPENAI_API_KEY is not set', 'export OPENAI_API_KEY=... (or name another variable with --api-key-env)');
  }
  return 'no-key'; // local servers need none; the SDK insists on a non-empty one
}

async function writeRows(file: string, rows: unknown[]): Promise<void> {
  const w = new AtomicRowWriter(file);
  try {
    for (const r of rows) await w.write(JSON.stringify(r));
    await w.commit();
  } catch (e) {
    await w.abort();
    throw e;
  }
}

async function runJudge(o: OptionValues, num: Num): Promise<number> {
  const refsFile = requireOpt('eval judge', 'references', o.references as string | undefined);
  const judgeModel = requireOpt('eval judge', 'judge', o.judge as string | undefined);
  const modelDir = o.model as string | undefined;
  const predictions = o.predictions as string | undefined;
  if ((modelDir === undefined) === (predictions === undefined)) {
    throw new UsageError('ual eval judge: give exactly one of --model DIR (generate the outputs) or --predictions FILE (AlpacaEval model outputs)');
  }
  const baseURL = ((o['base-url'] as string | undefined) ?? process.env.OPENAI_BASE_URL ?? 'https://api.openai.com/v1').replace(/\/+$/, '');
  const apiKey = resolveApiKey(o['api-key-env'] as string | undefined, baseURL);
  const limit = num('limit', undefined, { int: true, min: 1 });
  const refs = await readReferences(refsFile, limit);

  // the evaluated outputs: given, or generated now
  let outputs: string[];
  let generator = 'model';
  if (predictions !== undefined) {
    const preds = await readPredictions(predictions, limit); // all of them unless --limit: extra rows are a mismatch too
    alignPredictions(predictions, preds, refsFile, refs.map((r) => ({ text: r.instruction, line: r.line })));
    outputs = preds.map((p) => p.output);
    generator = path.basename(predictions).replace(/\.[^.]*$/, '');
  } else {
    const { model, codec } = loadWithCodec(modelDir!, 'ual eval judge --model');
    generator = path.basename(path.resolve(modelDir!));
    const encode = promptEncoder(codec, promptStyle('eval judge', o), o.prompt as string | undefined);
    const prompts = refs.map((r) => encode(r.instruction));
    const stops = ANSWER_STOPS;
    const b = bar('generate');
    try {
      const res = generateAll(model, prompts, {
        maxNewTokens: num('max-new-tokens', 512, { int: true, min: 1 })!, batchSize: num('batch-size', 8, { int: true, min: 1 }),
        temperature: num('temperature', 0, { min: 0 }), seed: num('seed', 0, { int: true, min: 0 }),
        stopIds: codec.eosIds, shouldStop: stopStrings(codec.decode, stops), onProgress: b.update,
      });
      outputs = res.newIds.map((ids) => cutAtStop(codec.decode(ids), stops).trim());
    } finally {
      b.stop();
    }
    if (o.outputs) {
      writeFileAtomic(o.outputs as string, JSON.stringify(refs.map((r, i) => ({ instruction: r.instruction, output: outputs[i], generator })), null, 2) + '\n');
    }
  }
  const items: JudgeItem[] = refs.map((r, i) => ({ instruction: r.instruction, output: outputs[i], reference: r.output }));

  const out = o.out as string | undefined;
  const cachePath = (o.cache as string | undefined) ?? path.join(out ? path.dirname(path.resolve(out)) : process.cwd(), 'judge-cache.sqlite');
  const temperature = 0;
  const maxTokens = num('max-tokens', 16, { int: true, min: 1 })!;
  const run = new AbortController();
  const client = new JudgeClient({
    baseURL, apiKey, signal: run.signal,
    concurrency: num('concurrency', 8, { int: true, min: 1, max: 1024 })!, rpm: num('rpm', undefined, { min: 1 }), tpm: num('tpm', undefined, { min: 1 }),
    timeoutMs: 1000 * num('timeout', 60, { min: 0.001 })!, maxRetries: num('max-retries', 6, { int: true, min: 0, max: 100 })!,
    backoff: { baseMs: 1000 * num('retry-base', 1, { min: 0 })!, maxMs: 1000 * num('retry-max', 60, { min: 0 })! },
  });
  const cache = new ElicitCache(cachePath);
  const stats = { cached: 0, asked: 0, unparsed: 0 };
  const b = bar('judge');
  let results;
  try {
    const ask = cachedAsk({
      store: cache, stats, parseRetries: num('parse-retries', 1, { int: true, min: 0, max: 20 }),
      key: (messages) => cacheKey({ method: 'eval-judge', prompt: JUDGE_PROMPT_ID, model: judgeModel, params: { temperature, max_tokens: maxTokens }, sample: JSON.stringify(messages) }),
      chat: async (messages) => {
        const c = await client.chat({ model: judgeModel, messages, temperature, max_tokens: maxTokens });
        return { text: c.choices[0].message.content ?? '', promptTokens: c.usage?.prompt_tokens ?? 0, completionTokens: c.usage?.completion_tokens ?? 0 };
      },
    });
    results = await judgeItems(items, ask, b.update);
  } catch (e) {
    run.abort(e); // a fatal error stops every request still in flight
    throw e;
  } finally {
    b.stop();
    cache.close();
  }
  const s = summarizeJudge(items, results);
  if (out) {
    await writeRows(out, items.map((it, i) => ({
      instruction: it.instruction, output: it.output, reference: it.reference,
      verdict_model_first: results[i].verdicts[0], verdict_model_second: results[i].verdicts[1],
      preference: results[i].preference, error: results[i].error,
    })));
  }
  const summary = {
    task: 'judge', judge: judgeModel, generator, references: refsFile, ...s,
    requests: client.stats.requests, retries: client.stats.retries, cached: stats.cached, cache: cachePath, out: out ?? null,
  };
  process.stderr.write(`judge: win rate ${s.win_rate.toFixed(2)}% ± ${s.standard_error.toFixed(2)} (SE) over ${s.n} instructions ` +
    `(${s.wins} won, ${s.ties} tied, ${s.losses} lost, ${s.failed} failed); avg length ${s.avg_length.model} vs ${s.avg_length.reference} chars; ` +
    `${client.stats.requests} requests, ${client.stats.retries} retries, ${stats.cached} judgements from the cache\n`);
  if (o.json) printJson(summary);
  if (s.failed > 0 && !o['allow-failures']) {
    const first = results.find((r) => r.error)?.error ?? '';
    throw new UalError('UAL_ELICIT_FAILED', `${s.failed} of ${items.length} instructions could not be judged (first: ${first})`,
      'rerun the same command to retry them (verdicts so far are cached), or pass --allow-failures to report the rest');
  }
  return 0;
}

export const command: Command = {
  name: 'eval',
  summary: 'evaluate a model: gsm8k, metamath, mc, judge (win rate), ppl, calibration',
  usage: USAGE,
  async run(argv) {
    const [task, ...rest] = argv;
    if (!task || !(task in ALLOWED)) {
      throw new UsageError(task ? `ual eval: unknown task "${task}"` : 'ual eval: which task?', `tasks: ${Object.keys(ALLOWED).join(', ')}; run "ual eval --help"`);
    }
    const o = parseOptions(`eval ${task}`, rest, OPTIONS);
    const bad = Object.keys(o).filter((k) => o[k] !== undefined && !ALLOWED[task].includes(k));
    if (bad.length) throw new UsageError(`ual eval ${task}: --${bad[0]} does not apply to ${task}`, 'run "ual eval --help" for each task\'s options');
    for (const flag of ['data', 'predictions', 'references', 'fewshot']) {
      const f = o[flag] as string | undefined;
      if (f !== undefined && !fs.existsSync(f)) throw new UalError('UAL_DATA_BAD_FILE', `--${flag} ${f} does not exist`, `check the path given to --${flag}`);
    }
    const num = numbers(task, o);
    switch (task) {
      case 'gsm8k': case 'metamath': return runMath(task, o, num);
      case 'mc': return runMc(o, num);
      case 'judge': return runJudge(o, num);
      default: return runTokens(task as 'ppl' | 'calibration', o, num);
    }
  },
};
