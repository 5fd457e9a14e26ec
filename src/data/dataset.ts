// The text-dataset entry point the trainer calls: read any supported format, template, tokenize, mask, truncate,
// optionally pack, and return TokenRows (the same rows the pretokenized path gives) with a summary of what happened.
import { DataError, DataFileError, UsageError } from '../errors.js';
import { requireReply, toConversation, type DataFormat } from './formats.js';
import { packRows, type PackStats } from './pack.js';
import { toTokenRow, type TokenRow } from './pretokenized.js';
import { emptyDataset, newReadStats, readRowsWithFormat, skipOrThrow } from './readers.js';
import { Templater, type TemplateName } from './template.js';
import { readTeacherRow, teacherFingerprint, type TeacherCheck } from './teacher-topk.js';
import { countTargets, specialPrefix, tokenizeSegments, truncate, type Tokenized } from './tokenize.js';
import type { Tokenizer } from './tokenizer.js';

export interface TextDatasetOptions {
  /** every row's format (--format); when absent a pretokenized file is told from its first rows, and each row of a
   * text file is read by its own shape */
  format?: DataFormat;
  template: TemplateName;
  /** needed for text rows; pretokenized rows only need vocabSize */
  tokenizer?: Tokenizer | null;
  /** tokens per row (and per packed block); longer rows are cut at the end */
  maxLength: number;
  /** targets on prompt tokens too (the paper's unmasked variant); default: replies only */
  trainOnPrompt?: boolean;
  /** skip rows that fail validation (counted) instead of stopping at the first */
  skipBadRows?: boolean;
  /** concatenate rows of equal epsilon into blocks of maxLength */
  pack?: boolean;
  /** every row must carry "epsilon" (--loss ual) */
  requireEpsilon?: boolean;
  /** ids of pretokenized rows must be below this; default tokenizer.vocabSize */
  vocabSize?: number;
  /** read only the first N rows */
  limit?: number;
  /** --smooth-target teacher with targets in the file: read each row's "teacher_topk", checked against its tokens */
  readTeacher?: { tokenizer: string | null; vocabSize: number };
  /** --smooth-target teacher computed here (--teacher DIR): give every row its targets, before packing */
  attachTeacher?: (rows: TokenRow[]) => Promise<void>;
}

export interface TextDatasetSummary {
  file: string;
  format: DataFormat;
  template: TemplateName | null;
  /** rows read from the file */
  read: number;
  /** TokenRows returned (packed blocks when pack) */
  rows: number;
  skipped: number;
  skippedReasons: string[];
  /** rows longer than maxLength, cut */
  truncated: number;
  /** rows left without any target token (the prompt alone filled maxLength, or an empty reply without EOS) */
  dropped: number;
  tokens: number;
  /** tokens the loss is taken on (after the causal shift) */
  targetTokens: number;
  /** longest row, in tokens, after truncation */
  maxTokens: number;
  packed: PackStats | null;
  /** over rows that carry epsilon; null when none does */
  epsilon: { rows: number; mean: number; min: number; max: number } | null;
}

function missingEpsilon(file: string, line: number, hasUncertainty: boolean): DataError {
  const smooth = `ual smooth --data ${file} --out SMOOTHED.jsonl --target-mean 0.1 --mapping paper`;
  return hasUncertainty
    ? new DataError(file, line, 'epsilon', 'is missing: the row has "uncertainty" but no "epsilon", and --loss ual trains with epsilon',
      `run "${smooth}" to map the uncertainty scores to epsilon, then train on SMOOTHED.jsonl`)
    : new DataError(file, line, 'epsilon', 'is missing: --loss ual needs a per-row "epsilon"',
      `rate the rows with "ual elicit", map the scores with "${smooth}", or train with --loss ls / --loss sft`);
}

/** Read, template, tokenize, mask and truncate a dataset file into TokenRows for the trainer. */
export async function loadTextDataset(file: string, o: TextDatasetOptions): Promise<{ rows: TokenRow[]; summary: TextDatasetSummary }> {
  if (!Number.isInteger(o.maxLength) || o.maxLength < 2) throw new UsageError(`--max-length must be an integer >= 2, got ${o.maxLength}`);
  const stats = newReadStats();
  const tokenizer = o.tokenizer ?? null;
  let templater: Templater | null = null;
  let bos: number[] = []; // what the tokenizer puts before text: a text row starts with it
  let prefix: number[] = []; // ...and so does every templated row, unless the chat template writes its own
  const rows: TokenRow[] = [];
  let truncated = 0, dropped = 0;
  let epsRows = 0, epsSum = 0, epsMin = Infinity, epsMax = -Infinity;
  let teacherCheck: TeacherCheck | null = null;

  for await (const r of readRowsWithFormat(file, { format: o.format, limit: o.limit }, stats)) {
    stats.read++;
    let tok: Tokenized;
    let epsilon: number | undefined;
    try {
      if (stats.format === 'pretokenized') {
        const vocab = o.vocabSize ?? tokenizer?.vocabSize;
        if (vocab === undefined) throw new UsageError('pretokenized rows need the model\'s vocabulary size to check their ids');
        const t = toTokenRow(r.row, r.file, r.line, vocab);
        if (r.row.epsilon !== undefined && r.row.epsilon !== null) epsilon = t.epsilon;
        if (o.requireEpsilon && epsilon === undefined) throw missingEpsilon(file, r.line, r.row.uncertainty !== undefined);
        tok = { inputIds: t.inputIds, labels: t.labels };
      } else {
        if (!tokenizer) throw new UsageError(`${file} holds text (${stats.format} rows): a tokenizer is needed to train on it`, 'pass --tokenizer DIR, or a model directory that holds tokenizer.json');
        if (!templater) {
          templater = new Templater(o.template, tokenizer); // throws once, before any row, when chat has no template
          bos = specialPrefix(tokenizer);
          if (o.template !== 'chat') prefix = bos;
        }
        const conv = requireReply(toConversation(r.row, o.format, r.file, r.line));
        epsilon = conv.epsilon;
        if (o.requireEpsilon && epsilon === undefined) throw missingEpsilon(file, r.line, conv.uncertainty !== undefined);
        tok = conv.format === 'text'
          ? tokenizeSegments(templater.textSegments(conv.messages[0].content), tokenizer, { prefix: bos })
          : tokenizeSegments(templater.segments(conv.messages, r.file, r.line), tokenizer, { trainOnPrompt: o.trainOnPrompt, prefix });
      }
    } catch (e) {
      skipOrThrow(e, stats, o.skipBadRows);
      continue;
    }
    const { tokens, cut } = truncate(tok, o.maxLength);
    if (cut) truncated++;
    if (countTargets(tokens.labels) === 0) {
      dropped++;
      continue;
    }
    if (epsilon !== undefined) {
      epsRows++;
      epsSum += epsilon;
      epsMin = Math.min(epsMin, epsilon);
      epsMax = Math.max(epsMax, epsilon);
    }
    const row: TokenRow = { inputIds: tokens.inputIds, labels: tokens.labels, epsilon: epsilon ?? 0, line: r.line };
    if (o.readTeacher) {
      teacherCheck ??= {
        file, vocabSize: o.readTeacher.vocabSize,
        fingerprint: teacherFingerprint(stats.format!, { ...o.readTeacher, template: o.template, maxLength: o.maxLength, trainOnPrompt: !!o.trainOnPrompt }),
      };
      row.teacher = readTeacherRow(r.row, r.line, tokens.labels, teacherCheck);
    }
    rows.push(row);
  }

  if (rows.length === 0) {
    if (dropped > 0) {
      throw new DataFileError(file, `no row has a target token within --max-length ${o.maxLength} (${dropped} rows dropped)`,
        'raise --max-length, or check that the rows have assistant replies');
    }
    throw emptyDataset(file, stats);
  }
  if (o.attachTeacher) await o.attachTeacher(rows);
  let out = rows;
  let packed: PackStats | null = null;
  if (o.pack) ({ rows: out, stats: packed } = packRows(rows, o.maxLength));
  let tokens = 0, targetTokens = 0, maxTokens = 0;
  for (const r of out) {
    tokens += r.inputIds.length;
    targetTokens += countTargets(r.labels);
    maxTokens = Math.max(maxTokens, r.inputIds.length);
  }
  return {
    rows: out,
    summary: {
      file, format: stats.format!, template: stats.format === 'pretokenized' ? null : o.template,
      read: stats.read, rows: out.length, skipped: stats.skipped, skippedReasons: stats.skippedReasons,
      truncated, dropped, tokens, targetTokens, maxTokens, packed,
      epsilon: epsRows ? { rows: epsRows, mean: epsSum / epsRows, min: epsMin, max: epsMax } : null,
    },
  };
}
