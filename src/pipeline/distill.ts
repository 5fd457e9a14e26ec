// `ual distill` as a library function: a teacher checkpoint's top-k next-token probabilities for every target token of
// the rows, tokenized exactly as `ual train` tokenizes them (src/train/prepare.ts loadTrainRows), added to each row as
// "teacher_topk" (src/data/teacher-topk.ts). Streamed a batch of rows at a time; resumable: complete batches are
// appended to OUT.partial (fsync'd), a rerun with the same settings checks them and continues after the last complete
// batch, and OUT appears by rename only when every row is written. Every check runs before the first byte is written.
import fs from 'node:fs';
import path from 'node:path';
import { readJsonRows, type JsonRow } from '../data/jsonl.js';
import type { TokenRow } from '../data/pretokenized.js';
import { setFields } from '../data/rowfields.js';
import { TEACHER_FIELD, teacherField, teacherFingerprint, tokenizerHash, type TeacherFingerprint } from '../data/teacher-topk.js';
import { UalError } from '../errors.js';
import { loadModel, readConfig, type CausalLM } from '../models/index.js';
import { TRAIN_DEFAULTS, TRAIN_FLAGS } from '../train/config.js';
import { checkpointTokenizer, loadTrainRows } from '../train/prepare.js';
import { checkTopK, teacherTopk } from '../train/teacher.js';
import { writeAll, writeFileAtomic } from '../util/atomic.js';
import { flags, type Values } from '../util/options.js';

const TOKENS = 'tokenization (as ual train: give the training run\'s values)';

export const DISTILL_FLAGS = flags({
  model: { flag: 'model', kind: 'string', arg: 'DIR', required: true, help: 'the teacher checkpoint (HF layout; the student\'s tokenizer)' },
  data: { flag: 'data', kind: 'string', arg: 'FILE', required: true, exists: true, help: 'training rows, in any format ual train reads' },
  out: { flag: 'out', kind: 'string', arg: 'FILE', required: true, help: 'JSONL: every row with "teacher_topk"; built in FILE.partial (a rerun resumes it)' },
  topK: { flag: 'top-k', kind: 'int', min: 1, default: 32, help: 'probabilities kept per target token' },
  student: { flag: 'student', kind: 'string', arg: 'DIR', help: 'the checkpoint these targets will train: refused now unless it has the teacher\'s tokenizer' },
  batchSize: { flag: 'batch-size', kind: 'int', min: 1, default: 8, help: 'rows per teacher forward (a resumed run uses the same, or starts over)' },
  format: { ...TRAIN_FLAGS.format, default: TRAIN_DEFAULTS.format, group: TOKENS },
  template: { ...TRAIN_FLAGS.template, default: TRAIN_DEFAULTS.template, group: TOKENS },
  maxLength: { ...TRAIN_FLAGS.maxLength, help: 'truncate rows to N tokens (0 = the teacher\'s context)', default: TRAIN_DEFAULTS.maxLength, group: TOKENS },
  trainOnPrompt: { ...TRAIN_FLAGS.trainOnPrompt, group: TOKENS },
  skipBadRows: { ...TRAIN_FLAGS.skipBadRows, help: 'write rows that fail validation unchanged (ual train --skip-bad-rows skips them)', group: TOKENS },
});

export type DistillOptions = Values<typeof DISTILL_FLAGS>;

export interface DistillSummary {
  data: string;
  out: string;
  teacher: string;
  /** rows written (every row of the file) */
  rows: number;
  /** rows with target tokens (the others are written unchanged) */
  targets_rows: number;
  /** target tokens, each with k probabilities */
  tokens: number;
  k: number;
  /** mean over the target tokens computed by this run (not the resumed ones) of the probability mass the top-k keeps */
  mean_mass: number;
  /** rows found complete in OUT.partial and kept */
  resumed_rows: number;
  fingerprint: TeacherFingerprint;
  elapsed_s: number;
}

export interface DistillHooks {
  onProgress?(done: number, total: number): void;
  /** something the user should know (a partial output that cannot be resumed) */
  onNote?(msg: string): void;
}

/** What a partial output was made with: a rerun resumes it only when all of this is unchanged. */
function runKey(o: DistillOptions, fp: TeacherFingerprint, format: string): Record<string, unknown> {
  const stat = (f: string) => (fs.existsSync(f) ? { bytes: fs.statSync(f).size, mtime_ms: fs.statSync(f).mtimeMs } : null);
  const teacher = path.resolve(o.model);
  const files = fs.readdirSync(teacher).filter((f) => f === 'config.json' || f.endsWith('.safetensors') || f.endsWith('.safetensors.index.json')).sort();
  return {
    version: 1, data: path.resolve(o.data), data_file: stat(o.data), teacher, teacher_files: Object.fromEntries(files.map((f) => [f, stat(path.join(teacher, f))])),
    fingerprint: fp, k: o.topK, batch_size: o.batchSize, format, skip_bad_rows: o.skipBadRows,
  };
}

/** Complete lines of a file (ending in a newline) and the byte offset after each. */
function lineEnds(file: string): number[] {
  const ends: number[] = [];
  const fd = fs.openSync(file, 'r');
  try {
    const buf = Buffer.allocUnsafe(1 << 20);
    let at = 0;
    for (let n; (n = fs.readSync(fd, buf, 0, buf.length, at)) > 0; at += n) {
      for (let i = buf.indexOf(10); i !== -1 && i < n; i = buf.indexOf(10, i + 1)) ends.push(at + i + 1);
    }
  } finally {
    fs.closeSync(fd);
  }
  return ends;
}

const withoutTargets = (row: Record<string, unknown>) => JSON.stringify({ ...row, [TEACHER_FIELD]: undefined });

/**
 * How many lines of OUT.partial to keep: the complete batches whose rows are the data's rows in order (targets present
 * exactly on the rows that have target tokens). 0 when the partial does not belong to this data.
 */
async function resumable(partial: string, ends: number[], o: DistillOptions, byLine: Map<number, TokenRow>): Promise<number> {
  const theirs = readJsonRows(partial, { limit: ends.length })[Symbol.asyncIterator]();
  let i = 0, trained = 0, keep = 0;
  try {
    for await (const r of readJsonRows(o.data)) {
      if (i < ends.length) {
        const got = await theirs.next();
        const mine = got.done ? null : got.value.row;
        if (!mine || withoutTargets(mine) !== withoutTargets(r.row) || (mine[TEACHER_FIELD] !== undefined) !== byLine.has(r.line)) return 0;
      }
      i++;
      // a batch ends with its last row that has targets: the lines up to it were written and synced together
      if (i <= ends.length && byLine.has(r.line) && ++trained % o.batchSize === 0) keep = i;
    }
  } catch {
    return 0; // a partial that does not parse is not resumed
  } finally {
    await theirs.return?.(undefined);
  }
  return ends.length === i ? i : keep; // every row written: only the rename was missing
}

/** The teacher, checked against the student's tokenizer when --student is given. Nothing is written. */
function loadTeacher(o: DistillOptions, tokenizer: string | null): CausalLM {
  if (o.student !== undefined) {
    const theirs = tokenizerHash(checkpointTokenizer(o.student, readConfig(o.student)), o.template);
    if (theirs !== tokenizer) {
      throw new UalError('UAL_TOKENIZER', `--model ${o.model} and --student ${o.student} have different tokenizers (${theirs === null || tokenizer === null ? 'only one has tokenizer.json' : 'tokenizer.json differs'}): ` +
        'a teacher target is a distribution over the student\'s vocabulary', 'distill with a teacher of the student\'s family (the same tokenizer.json)');
    }
  }
  const model = loadModel(o.model);
  checkTopK(o.topK, model);
  return model;
}

/** Add the teacher's top-k to every row of o.data, into o.out (see the file's head). */
export async function distill(o: DistillOptions, hooks: DistillHooks = {}): Promise<DistillSummary> {
  const t0 = Date.now();
  const config = readConfig(o.model);
  const { rows, summary, tokenizer, maxLength } = await loadTrainRows(o.model, config, o);
  const fp = teacherFingerprint(summary.format, {
    vocabSize: config.vocabSize, tokenizer: tokenizerHash(tokenizer, o.template), template: o.template, maxLength, trainOnPrompt: o.trainOnPrompt,
  });
  const model = loadTeacher(o, fp.tokenizer);
  const byLine = new Map(rows.map((r) => [r.line, r]));

  const partial = `${o.out}.partial`;
  const stateFile = `${o.out}.partial.json`;
  const key = JSON.stringify(runKey(o, fp, summary.format));
  let keep = 0;
  if (fs.existsSync(partial) && fs.existsSync(stateFile)) {
    const ends = lineEnds(partial);
    keep = fs.readFileSync(stateFile, 'utf8') === key ? await resumable(partial, ends, o, byLine) : 0;
    if (keep === 0 && ends.length > 0) hooks.onNote?.(`${partial} was made with other settings or data; starting over`);
    fs.truncateSync(partial, keep > 0 ? ends[keep - 1] : 0);
  } else {
    fs.mkdirSync(path.dirname(path.resolve(o.out)), { recursive: true });
    fs.writeFileSync(partial, '');
  }
  writeFileAtomic(stateFile, key);

  const fd = fs.openSync(partial, 'a');
  let i = 0, done = 0, computed = 0, mass = 0;
  let pending: JsonRow[] = [];
  let batch: TokenRow[] = [];
  // a batch's lines are written together and synced: a kill leaves complete batches (and maybe part of one line)
  const flush = () => {
    const topk = batch.length ? teacherTopk(model, batch, o.topK) : [];
    let b = 0;
    const lines = pending.map((r) => {
      const tr = byLine.get(r.line);
      if (!tr) return r.raw.replace(/[\r\n]+/g, ' ').trim();
      const t = topk[b++];
      computed += t.ids.length / o.topK;
      for (const p of t.probs) mass += p;
      return setFields(r, { [TEACHER_FIELD]: teacherField(fp, o.topK, t.ids, t.probs) });
    });
    if (lines.length) {
      writeAll(fd, Buffer.from(lines.join('\n') + '\n'));
      fs.fsyncSync(fd);
    }
    done += batch.length;
    hooks.onProgress?.(done, rows.length);
    pending = [];
    batch = [];
  };
  try {
    for await (const r of readJsonRows(o.data)) {
      const tr = byLine.get(r.line);
      if (i++ < keep) {
        if (tr) done++;
        continue;
      }
      pending.push(r);
      if (tr) batch.push(tr);
      if (batch.length === o.batchSize) flush();
    }
    flush();
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(partial, o.out);
  fs.rmSync(stateFile, { force: true });
  return {
    data: o.data, out: o.out, teacher: o.model, rows: i, targets_rows: rows.length, tokens: summary.targetTokens, k: o.topK,
    mean_mass: computed ? mass / computed : 0, resumed_rows: keep, fingerprint: fp, elapsed_s: (Date.now() - t0) / 1000,
  };
}
