// `ual eval gsm8k|metamath|mc|ppl|calibration` as library functions: each task's flags, the checkpoint (or the
// predictions) loaded, the eval layer's measurement, per-row and result files written atomically. The judge's win
// rate is in judge.ts; the CLI prints what these return.
import path from 'node:path';
import { writeRows } from '../data/jsonl.js';
import { UalError, UsageError } from '../errors.js';
import { MATCH_MODES } from '../eval/extract.js';
import { evalMath, type MathEvalResult, type MathTask } from '../eval/math.js';
import { scoreMc } from '../eval/mc.js';
import { reliabilitySvg, scoreTokens, type TokenScores } from '../eval/calibration.js';
import { promptEncoder, PROMPT_STYLES } from '../eval/prompts.js';
import { readMathShots, readMcRows, readScoredRows } from '../eval/rows.js';
import { TEMPLATES } from '../data/template.js';
import { loadCodec, type TextCodec } from '../eval/text.js';
import { hasTokenizer, Tokenizer } from '../data/tokenizer.js';
import { loadModel, positionLimit, type CausalLM } from '../models/index.js';
import { writeFileAtomic } from '../util/atomic.js';
import { flags, type Values } from '../util/options.js';

/** Progress of the long part of a task (generation, scoring, judging), by the stage's name. */
export type EvalProgress = (stage: string, done: number, total: number) => void;

const GENERATION = 'generation (with --model)';

/** How answers are generated (gsm8k/metamath and judge); `maxNewTokens` is the task's default length. */
export function generationFlags(maxNewTokens: number) {
  return flags({
    maxNewTokens: { flag: 'max-new-tokens', kind: 'int', min: 1, default: maxNewTokens, group: GENERATION, help: 'tokens per answer at most' },
    batchSize: { flag: 'batch-size', kind: 'int', min: 1, default: 8, group: GENERATION, help: 'sequences decoded together' },
    temperature: { flag: 'temperature', kind: 'number', min: 0, default: 0, group: GENERATION, help: '0 = greedy; > 0 samples' },
    seed: { flag: 'seed', kind: 'int', min: 0, default: 0, group: GENERATION, help: 'sampling seed' },
    template: {
      flag: 'template', kind: PROMPT_STYLES, default: 'paper', group: GENERATION,
      help: 'paper|chat|plain: as in training; qa: harness "Question: ..\\nAnswer:"; metamath: MetaMath\'s eval prompt',
    },
    prompt: { flag: 'prompt', kind: 'string', arg: '"…{question}…"', group: GENERATION, help: 'a prompt of your own instead of --template' },
  });
}

export const MATH_FLAGS = flags({
  data: { flag: 'data', kind: 'string', arg: 'FILE', required: true, exists: true, help: 'GSM8K {question, answer} or MetaMathQA {query, response} rows' },
  model: { flag: 'model', kind: 'string', arg: 'DIR', help: 'generate the answers with this checkpoint' },
  predictions: { flag: 'predictions', kind: 'string', arg: 'FILE', exists: true, help: 'or score given answers: rows {question, output} in the order of --data' },
  match: {
    flag: 'match', kind: MATCH_MODES, default: 'flexible',
    help: 'strict: only "#### N", "The answer is N", \\boxed{N}, a final "A: N";\nflexible: those, else the last number; lenient: the gold answer anywhere',
  },
  limit: { flag: 'limit', kind: 'int', min: 1, help: 'only the first N questions' },
  out: { flag: 'out', kind: 'string', arg: 'FILE', help: 'one row per question {question, output, extracted, gold, correct}' },
  shots: { flag: 'shots', kind: 'int', min: 0, default: 0, help: 'few-shot examples put before each question (needs --fewshot)' },
  fewshot: { flag: 'fewshot', kind: 'string', arg: 'FILE', exists: true, help: 'where the examples come from (e.g. gsm8k/train.jsonl, never the test file)' },
  ...generationFlags(256),
});

/** The flags that only mean something when answers are generated. */
export const GENERATION_ONLY = ['maxNewTokens', 'batchSize', 'temperature', 'seed', 'template', 'prompt', 'shots', 'fewshot'] as const;

export const MC_FLAGS = flags({
  data: { flag: 'data', kind: 'string', arg: 'FILE', required: true, exists: true, help: 'rows {question, choices, answer}; ARC, HellaSwag, TruthfulQA mc1 rows read too' },
  model: { flag: 'model', kind: 'string', arg: 'DIR', required: true, help: 'the checkpoint to score' },
  limit: { flag: 'limit', kind: 'int', min: 1, help: 'only the first N questions' },
  out: { flag: 'out', kind: 'string', arg: 'FILE', help: 'per-row log-likelihoods' },
  shots: { flag: 'shots', kind: 'int', min: 0, default: 0, help: 'solved examples put first (needs --fewshot)' },
  fewshot: { flag: 'fewshot', kind: 'string', arg: 'FILE', exists: true, help: 'where the examples come from' },
  prompt: { flag: 'prompt', kind: 'string', arg: '"…{question}…"', help: 'the context of a row (default "Question: {question}\\nAnswer:")' },
  batchSize: { flag: 'batch-size', kind: 'int', min: 1, default: 16, help: 'sequences per forward' },
});

export const PPL_FLAGS = flags({
  data: { flag: 'data', kind: 'string', arg: 'FILE', required: true, exists: true, help: 'held-out rows in any dataset format, or {input_ids, labels}' },
  model: { flag: 'model', kind: 'string', arg: 'DIR', required: true, help: 'the checkpoint to score' },
  on: { flag: 'on', kind: ['response', 'all'], default: 'response', help: 'response: the answers\' tokens only; all: every token' },
  template: { flag: 'template', kind: TEMPLATES, default: 'paper', help: 'how text rows are laid out, as in ual train' },
  maxLen: { flag: 'max-len', kind: 'int', min: 2, help: 'split longer rows into windows of N tokens (default min(model positions, 1024))' },
  limit: { flag: 'limit', kind: 'int', min: 1, help: 'only the first N rows' },
  batchSize: { flag: 'batch-size', kind: 'int', min: 1, default: 16, help: 'sequences per forward' },
});

export const CALIBRATION_FLAGS = flags({
  ...PPL_FLAGS,
  svg: { flag: 'svg', kind: 'string', arg: 'FILE', help: 'the reliability diagram' },
  out: { flag: 'out', kind: 'string', arg: 'FILE', help: 'the full result (with the 15 bins) as JSON' },
});

export function loadWithCodec(dir: string, why: string): { model: CausalLM; codec: TextCodec } {
  const model = loadModel(dir);
  return { model, codec: loadCodec(dir, why) };
}

/** GSM8K / MetaMath accuracy of a checkpoint's answers or of given predictions. */
export async function evaluateMath(task: MathTask, o: Values<typeof MATH_FLAGS>, onProgress?: EvalProgress): Promise<MathEvalResult> {
  const cmd = `eval ${task}`;
  if ((o.model === undefined) === (o.predictions === undefined)) {
    throw new UsageError(`ual ${cmd}: give exactly one of --model DIR (generate answers) or --predictions FILE (score given answers)`);
  }
  const shots = o.shots;
  if (shots > 0 && o.fewshot === undefined) {
    throw new UsageError(`ual ${cmd}: --shots ${shots} needs --fewshot FILE to take the examples from`, 'e.g. --fewshot ../shared/data/gsm8k/train.jsonl (never the evaluated file)');
  }
  const gen = o.model === undefined ? null : loadWithCodec(o.model, `ual ${cmd} --model`);
  return evalMath({
    task, data: o.data, match: o.match, limit: o.limit, out: o.out, predictions: o.predictions,
    generate: gen === null ? undefined : {
      ...gen, prompt: promptEncoder(gen.codec, o.template, o.prompt),
      shots: shots > 0 ? await readMathShots(o.fewshot as string, shots) : [],
      maxNewTokens: o.maxNewTokens, batchSize: o.batchSize, temperature: o.temperature, seed: o.seed,
    },
    onProgress: onProgress && ((done, total) => onProgress(task, done, total)),
  });
}

/** Multiple choice by log-likelihood: acc and acc_norm; per-row log-likelihoods to --out. */
export async function evaluateMc(o: Values<typeof MC_FLAGS>, onProgress?: EvalProgress) {
  const { model, codec } = loadWithCodec(o.model, 'ual eval mc');
  const shots = o.shots;
  if (shots > 0 && o.fewshot === undefined) throw new UsageError('ual eval mc: --shots needs --fewshot FILE to take the examples from');
  const rows = await readMcRows(o.data, o.limit);
  const fewshot = shots > 0 ? await readMcRows(o.fewshot as string, shots) : [];
  const r = scoreMc(model, codec, rows, {
    template: o.prompt, fewshot, batchSize: o.batchSize,
    maxLength: positionLimit(model.config, 'eval').context, onProgress: onProgress && ((done, total) => onProgress('mc', done, total)),
  });
  if (o.out) await writeRows(o.out, r.rows);
  const { rows: _rows, ...summary } = r;
  return { task: 'mc' as const, ...summary, shots, out: o.out ?? null };
}

/** The target tokens of held-out rows scored by the checkpoint: NLL, accuracy, confidence bins. */
async function scoreRows(task: 'ppl' | 'calibration', o: Values<typeof PPL_FLAGS>, onProgress?: EvalProgress): Promise<TokenScores> {
  const cmd = `eval ${task}`;
  const { data, on, template } = o;
  const dir = o.model;
  const model = loadModel(dir);
  const tokenizer = hasTokenizer(dir) ? Tokenizer.load(dir) : null;
  const seqs = await readScoredRows(data, { tokenizer, template, on, vocabSize: model.config.vocabSize, limit: o.limit });
  const { max, context } = positionLimit(model.config, 'eval');
  const maxLen = o.maxLen ?? Math.min(context, 1024);
  if (maxLen > max) throw new UsageError(`ual ${cmd}: --max-len ${maxLen} exceeds the model's ${max} positions`);
  const r = scoreTokens(model, seqs, { maxLen, batchSize: o.batchSize, onProgress: onProgress && ((done, total) => onProgress(task, done, total)) });
  if (r.tokens === 0) {
    throw new UalError('UAL_DATA_BAD_FILE', `${data}: no target tokens to score`, on === 'response' ? 'the rows have no answer tokens: try --on all' : 'give longer rows');
  }
  return r;
}

/** Perplexity on held-out rows, templated and masked as training does. */
export async function evaluatePpl(o: Values<typeof PPL_FLAGS>, onProgress?: EvalProgress) {
  const r = await scoreRows('ppl', o, onProgress);
  return { task: 'ppl' as const, rows: r.rows, tokens: r.tokens, nll: r.nll, ppl: r.ppl, on: o.on };
}

/** Next-token calibration (ECE, reliability diagram to --svg, the full result to --out). */
export async function evaluateCalibration(o: Values<typeof CALIBRATION_FLAGS>, onProgress?: EvalProgress) {
  const r = await scoreRows('calibration', o, onProgress);
  const svg = o.svg;
  if (svg) writeFileAtomic(svg, reliabilitySvg(r, `Reliability: ${path.basename(path.resolve(o.model))} on ${path.basename(o.data)}`));
  const result = { task: 'calibration' as const, ...r, on: o.on, svg: svg ?? null, out: o.out ?? null };
  if (o.out) writeFileAtomic(o.out, JSON.stringify(result, null, 2) + '\n');
  return result;
}
