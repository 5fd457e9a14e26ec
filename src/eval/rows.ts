// Reading evaluation files: math rows (GSM8K / MetaMathQA, or any dataset row, read by the one row parser in
// src/data/formats.ts), predictions, multiple-choice rows, judge references and instruction difficulties, and any
// dataset row turned into scored token sequences. Every problem is a DataError naming file, line and field.
import fs from 'node:fs';
import { readJsonRows, type JsonObject } from '../data/jsonl.js';
import { DataError, DataFileError, UalError } from '../errors.js';
import { loadTextDataset } from '../data/dataset.js';
import { replyField, type Conversation } from '../data/formats.js';
import { readAllConversations } from '../data/readers.js';
import type { TemplateName } from '../data/template.js';
import type { Tokenizer } from '../data/tokenizer.js';
import { goldFromGsm8k, goldFromMetaMath } from './extract.js';
import type { Shot } from './prompts.js';

export interface Located {
  /** 1-based line (JSONL) or the line where the array element starts (JSON array) */
  line: number;
}

async function collect<T>(file: string, limit: number | undefined, f: (row: JsonObject, line: number) => T): Promise<T[]> {
  const out: T[] = [];
  for await (const r of readJsonRows(file, { limit })) out.push(f(r.row, r.line));
  if (out.length === 0) throw new DataFileError(file, 'has no rows', 'give a JSONL file (or JSON array) with at least one row');
  return out;
}

function str(file: string, line: number, row: JsonObject, field: string, hint: string): string {
  const v = row[field];
  if (v === undefined || v === null) throw new DataError(file, line, field, 'is missing', hint);
  if (typeof v !== 'string') throw new DataError(file, line, field, `must be a string, got ${Array.isArray(v) ? 'an array' : typeof v}`, hint);
  return v;
}

// ---- math (GSM8K, MetaMathQA) ----

export interface MathRow extends Located {
  question: string;
  /** the gold answer as written (after "####" or "The answer is") */
  gold: string;
}

const MATH_HINT = 'rows must be GSM8K {"question", "answer": "... #### N"} or MetaMathQA {"query", "response": "... The answer is: N"}';

/** A math row and the worked solution its gold answer comes from. */
function mathRow(c: Conversation): MathRow & { solution: string } {
  let reply = c.messages.length - 1;
  while (reply >= 0 && c.messages[reply].role !== 'assistant') reply--;
  let ask = reply - 1;
  while (ask >= 0 && c.messages[ask].role !== 'user') ask--;
  if (ask < 0) throw new DataError(c.file, c.line, replyField(c), 'has no question and answer to score', MATH_HINT);
  const solution = c.messages[reply].content;
  // a MetaMathQA response ends in "The answer is: N"; anything else in GSM8K's "#### N", or is a bare answer ("18")
  const metamath = c.format === 'metamath';
  const gold = metamath ? goldFromMetaMath(solution) : goldFromGsm8k(solution) ?? (/^\s*[-$\d.,/]+\s*$/.test(solution) ? solution.trim() : null);
  if (gold === null) {
    throw new DataError(c.file, c.line, replyField(c), `has no "${metamath ? 'The answer is: N' : '#### N'}" final answer`, MATH_HINT);
  }
  return { question: c.messages[ask].content, gold, solution, line: c.line };
}

export async function readMathRows(file: string, limit?: number): Promise<MathRow[]> {
  const { conversations } = await readAllConversations(file, { limit });
  return conversations.map((c) => {
    const { question, gold, line } = mathRow(c);
    return { question, gold, line };
  });
}

/** The first n rows of a (training) file as few-shot examples, with their worked solutions as written. */
export async function readMathShots(file: string, n: number): Promise<Shot[]> {
  const { conversations } = await readAllConversations(file, { limit: n });
  return conversations.map((c) => {
    const { question, solution } = mathRow(c);
    return { question, solution };
  });
}

// ---- predictions ----

export interface PredictionRow extends Located {
  /** the question / instruction the output answers, when the file gives it (checked against the data) */
  prompt: string | null;
  output: string;
}

const PRED_HINT = 'prediction rows are {"question" (or "instruction"/"query"), "output"}, in the same order as --data';

export function readPredictions(file: string, limit?: number): Promise<PredictionRow[]> {
  return collect(file, limit, (row, line) => {
    const output = str(file, line, row, 'output', PRED_HINT);
    const key = ['question', 'instruction', 'query'].find((k) => typeof row[k] === 'string');
    return { prompt: key ? (row[key] as string) : null, output, line };
  });
}

/** Same whitespace-insensitive text: files written by other tools often re-wrap or strip. */
function sameText(a: string, b: string): boolean {
  return a.replace(/\s+/g, ' ').trim() === b.replace(/\s+/g, ' ').trim();
}

/**
 * Predictions are aligned with the data by order: equal counts, and where a prediction names its question it
 * must be the data's question at that position (a shuffled or filtered file would otherwise score silently wrong).
 */
export function alignPredictions(predFile: string, preds: PredictionRow[], dataFile: string, prompts: Array<{ text: string; line: number }>): void {
  if (preds.length !== prompts.length) {
    throw new UalError('UAL_DATA_BAD_FILE', `${predFile} has ${preds.length} prediction rows but ${dataFile} has ${prompts.length} rows`,
      'predictions must be one row per data row, in the same order (use the same --limit for both, or regenerate the predictions)');
  }
  for (let i = 0; i < preds.length; i++) {
    const p = preds[i];
    if (p.prompt !== null && !sameText(p.prompt, prompts[i].text)) {
      const show = (s: string) => JSON.stringify(s.length > 60 ? s.slice(0, 60) + '…' : s);
      throw new DataError(predFile, p.line, null, `question ${show(p.prompt)} is not the question of ${dataFile}:${prompts[i].line} (${show(prompts[i].text)})`,
        'the predictions are not in the order of --data: regenerate them from this file, or pass the data file they were made from');
    }
  }
}

// ---- multiple choice ----

export interface McRow extends Located {
  question: string;
  choices: string[];
  /** index of the correct choice */
  answer: number;
}

const MC_HINT = 'multiple-choice rows are {"question", "choices": [..] (or ARC\'s {"text": [..], "label": [..]}), "answer": index | letter | choice text}';

function goldIndex(file: string, line: number, field: string, v: unknown, choices: string[], labels: string[] | null): number {
  let i = -1;
  if (typeof v === 'number' && Number.isInteger(v)) i = v;
  else if (typeof v === 'string') {
    const s = v.trim();
    if (labels && labels.includes(s)) i = labels.indexOf(s);
    else if (/^[A-Z]$/.test(s)) i = s.charCodeAt(0) - 65;
    else if (/^\d+$/.test(s)) i = Number(s);
    else i = choices.indexOf(v);
  }
  if (!(i >= 0 && i < choices.length)) {
    throw new DataError(file, line, field, `${JSON.stringify(v)} does not name one of the ${choices.length} choices`, MC_HINT);
  }
  return i;
}

export function mcRow(file: string, line: number, row: JsonObject): McRow {
  const qField = ['question', 'query', 'ctx'].find((k) => k in row) ?? 'question';
  const question = str(file, line, row, qField, MC_HINT);
  let choices: unknown = row.choices ?? row.endings;
  let labels: string[] | null = null;
  let goldField = ['answer', 'answerKey', 'label', 'gold'].find((k) => k in row);
  let gold: unknown = goldField ? row[goldField] : undefined;
  const mc1 = row.mc1_targets as JsonObject | undefined; // TruthfulQA mc1: {choices, labels: [1, 0, 0, ...]}
  if (choices === undefined && mc1 && typeof mc1 === 'object') {
    choices = mc1.choices;
    goldField = 'mc1_targets.labels';
    gold = Array.isArray(mc1.labels) ? mc1.labels.indexOf(1) : undefined;
  }
  if (choices && typeof choices === 'object' && !Array.isArray(choices)) { // ARC: {text: [...], label: ["A", ...]}
    const c = choices as JsonObject;
    if (Array.isArray(c.label) && c.label.every((l) => typeof l === 'string')) labels = c.label as string[];
    choices = c.text;
  }
  if (!Array.isArray(choices) || choices.length < 2 || !choices.every((c) => typeof c === 'string')) {
    throw new DataError(file, line, 'choices', 'must be a list of at least two strings', MC_HINT);
  }
  if (gold === undefined) throw new DataError(file, line, 'answer', 'is missing', MC_HINT);
  return { question, choices, answer: goldIndex(file, line, goldField ?? 'answer', gold, choices, labels), line };
}

export function readMcRows(file: string, limit?: number): Promise<McRow[]> {
  return collect(file, limit, (row, line) => mcRow(file, line, row));
}

// ---- judge references (AlpacaEval) ----

export interface ReferenceRow extends Located {
  instruction: string;
  output: string;
  generator: string | null;
}

const REF_HINT = 'reference rows are AlpacaEval\'s [{"instruction", "output", "generator"?, "dataset"?}]';

export function readReferences(file: string, limit?: number): Promise<ReferenceRow[]> {
  return collect(file, limit, (row, line) => ({
    instruction: str(file, line, row, 'instruction', REF_HINT),
    output: str(file, line, row, 'output', REF_HINT),
    generator: typeof row.generator === 'string' ? row.generator : null,
    line,
  }));
}

const DIFFICULTY_HINT = 'give AlpacaEval\'s instruction_difficulty.csv ("index,instruction_difficulty" rows, index 0.. in the ' +
  'references\' order) or a JSON array with one number per reference';

/**
 * One difficulty per reference, in the references' order (the first `n`; all of them must be there, and without
 * --limit no more): AlpacaEval's instruction_difficulty.csv, or a JSON array of numbers.
 */
export function readDifficulty(file: string, n: number, limited: boolean): number[] {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new DataFileError(file, `cannot be read (${(e as Error).message})`, DIFFICULTY_HINT);
  }
  const values: number[] = [];
  const put = (i: number, v: unknown, line: number | null, field: string | null) => {
    if (typeof v !== 'number' || !Number.isFinite(v)) throw new DataError(file, line, field, `is not a finite number (${JSON.stringify(v)})`, DIFFICULTY_HINT);
    values[i] = v;
  };
  if (/^\s*\[/.test(text)) {
    let arr: unknown[];
    try {
      arr = JSON.parse(text) as unknown[];
    } catch (e) {
      throw new DataFileError(file, `is not valid JSON (${(e as Error).message})`, DIFFICULTY_HINT);
    }
    arr.forEach((v, i) => put(i, v, null, `[${i}]`));
  } else {
    text.split('\n').forEach((raw, k) => {
      const line = raw.trim();
      if (k === 0 || !line) return; // the header
      const cells = line.split(',');
      const index = Number(cells[0]);
      if (cells.length !== 2 || !Number.isInteger(index) || index < 0) {
        throw new DataError(file, k + 1, null, `is not "index,difficulty" (${JSON.stringify(line.slice(0, 60))})`, DIFFICULTY_HINT);
      }
      const v = cells[1].trim();
      put(index, v !== '' && Number.isFinite(Number(v)) ? Number(v) : v, k + 1, null);
    });
  }
  const missing = Array.from({ length: n }, (_, i) => i).find((i) => values[i] === undefined);
  if (missing !== undefined) throw new DataFileError(file, `has no difficulty for reference ${missing} (of ${n})`, DIFFICULTY_HINT);
  if (!limited && values.length !== n) {
    throw new DataFileError(file, `has ${values.length} difficulties for ${n} references`, 'give the difficulties of exactly these references, in their order');
  }
  return values.slice(0, n);
}

// ---- any dataset row -> a scored token sequence ----

/** Token ids with HF-style labels: labels[t] = ids[t] where position t-1's prediction counts, -100 where not. */
export interface TokenSeq extends Located {
  ids: Int32Array;
  labels: Int32Array;
}

export interface ScoredRowsOptions {
  /** the checkpoint's tokenizer; null when only pretokenized rows can be read */
  tokenizer: Tokenizer | null;
  /** the prompt template the model was trained with (src/data/template.ts) */
  template: TemplateName;
  /** 'response': only the answers' tokens are targets (what SFT trains on); 'all': every token after the first */
  on: 'response' | 'all';
  vocabSize: number;
  /** rows longer than this are cut (default: kept whole) */
  maxLength?: number;
  limit?: number;
}

/**
 * Any dataset file as token sequences with targets, through the same reader, template, tokenization and masking
 * as training (src/data/dataset.ts), so an evaluation loss means what the training loss meant.
 */
export async function readScoredRows(file: string, o: ScoredRowsOptions): Promise<TokenSeq[]> {
  const { rows } = await loadTextDataset(file, {
    template: o.template, tokenizer: o.tokenizer, maxLength: o.maxLength ?? Number.MAX_SAFE_INTEGER,
    trainOnPrompt: o.on === 'all', vocabSize: o.vocabSize, limit: o.limit,
  });
  return rows.map((r) => {
    const labels = o.on === 'all' ? Int32Array.from(r.inputIds) : r.labels; // pretokenized rows too: every token
    return { ids: r.inputIds, labels, line: r.line };
  });
}
