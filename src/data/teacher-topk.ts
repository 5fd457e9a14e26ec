// The "teacher_topk" field `ual distill` adds to each row (DESIGN.md "Smoothing targets"): the teacher's top-k
// next-token probabilities for every target token of the row as training tokenizes it, and the fingerprint of that
// tokenization, so training refuses targets made for other tokens. Read and checked here, at the boundary.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { DataError } from '../errors.js';
import type { DataFormat } from './formats.js';
import type { TemplateName } from './template.js';
import { IGNORE } from './tokenize.js';
import { TOKENIZER_JSON, type Tokenizer } from './tokenizer.js';

export const TEACHER_FIELD = 'teacher_topk';

/** What decides which tokens of a row are targets, and what their ids mean. */
export interface TeacherFingerprint {
  /** the teacher's vocab_size */
  vocab_size: number;
  /** sha256 (16 hex) of tokenizer.json, and of the chat template under --template chat; null without a tokenizer */
  tokenizer: string | null;
  /** null for pretokenized rows (their labels say which tokens are targets) */
  template: TemplateName | null;
  /** the tokens a row is cut to */
  max_length: number;
  /** null for pretokenized rows */
  train_on_prompt: boolean | null;
}

/** A row's teacher targets, one k-entry per target token in order (position t >= 1 with label != -100). */
export interface TeacherRow {
  k: number;
  /** (targets * k) */
  ids: Int32Array;
  /** (targets * k): renormalised to sum 1 over each target's k entries */
  probs: Float32Array;
}

/** The tokenizer's identity as the fingerprint records it. */
export function tokenizerHash(tokenizer: Tokenizer | null, template: TemplateName): string | null {
  if (!tokenizer) return null;
  const h = crypto.createHash('sha256').update(fs.readFileSync(path.join(tokenizer.dir, TOKENIZER_JSON)));
  if (template === 'chat') h.update('\0' + (tokenizer.chatTemplate ?? ''));
  return h.digest('hex').slice(0, 16);
}

export interface FingerprintParts {
  vocabSize: number;
  tokenizer: string | null;
  template: TemplateName;
  maxLength: number;
  trainOnPrompt: boolean;
}

/** The fingerprint of rows of `format` tokenized with `p` (template and masking mean nothing to pretokenized rows). */
export function teacherFingerprint(format: DataFormat, p: FingerprintParts): TeacherFingerprint {
  const text = format !== 'pretokenized';
  return { vocab_size: p.vocabSize, tokenizer: p.tokenizer, template: text ? p.template : null, max_length: p.maxLength, train_on_prompt: text ? p.trainOnPrompt : null };
}

/** The fingerprint keys that differ ('template "paper" in the targets, "chat" in this run'); the tokenizer counts as the vocabulary. */
export function fingerprintDiff(there: TeacherFingerprint, here: TeacherFingerprint): string[] {
  const out: string[] = [];
  const keys: (keyof TeacherFingerprint)[] = ['template', 'max_length', 'train_on_prompt'];
  // the same tokenizer file is the same vocabulary whatever vocab_size pads it to; without one, vocab_size must agree
  keys.push(there.tokenizer !== null && here.tokenizer !== null ? 'tokenizer' : 'vocab_size');
  for (const k of keys) if (there[k] !== here[k]) out.push(`${k} ${JSON.stringify(there[k])} in the targets, ${JSON.stringify(here[k])} in this run`);
  return out;
}

/** Positions whose token is a target of the loss (the causal shift: position 0 is never predicted). */
export function targetPositions(labels: Int32Array): number[] {
  const out: number[] = [];
  for (let t = 1; t < labels.length; t++) if (labels[t] !== IGNORE) out.push(t);
  return out;
}

/** Probabilities as the file keeps them: 7 significant digits (float32 precision; the file stays readable). */
export const roundProb = (p: number): number => Number(p.toPrecision(7));

/** Each target's k probabilities scaled to sum 1 (the kept mass is informative in the file; training needs a distribution). */
export function renormalise(k: number, raw: ArrayLike<number>): Float32Array {
  const out = new Float32Array(raw.length);
  for (let o = 0; o < raw.length; o += k) {
    let s = 0;
    for (let j = 0; j < k; j++) s += raw[o + j];
    for (let j = 0; j < k; j++) out[o + j] = raw[o + j] / s;
  }
  return out;
}

/** The field's JSON value for a row: one [k] list of ids and of raw probabilities per target token. */
export function teacherField(fp: TeacherFingerprint, k: number, ids: ArrayLike<number>, probs: ArrayLike<number>): Record<string, unknown> {
  const n = ids.length / k;
  const split = (a: ArrayLike<number>) => Array.from({ length: n }, (_, i) => Array.from({ length: k }, (_, j) => a[i * k + j]));
  return { k, fingerprint: fp, ids: split(ids), probs: split(probs) };
}

export interface TeacherCheck {
  file: string;
  /** what this run's tokenization gives */
  fingerprint: TeacherFingerprint;
  /** the student's vocabulary: every id must be below it */
  vocabSize: number;
  /** the k of the file's first row with targets (every row must have it); set by the first call */
  k?: number;
  /** that row's line */
  kLine?: number;
}

const distillHint = (file: string) => `run "ual distill --model TEACHER --data ${file} --out WITH_TARGETS.jsonl" with this run's --template, ` +
  '--max-length and --train-on-prompt, then train on WITH_TARGETS.jsonl (or pass --teacher DIR to compute them in memory)';

/**
 * A row's "teacher_topk", checked against the row's tokens as this run makes them: the fingerprint, k (the same in
 * every row), one entry per target token, ids in the vocabulary, probabilities finite, >= 0, with mass > 0.
 * Returned renormalised.
 */
export function readTeacherRow(row: Record<string, unknown>, line: number, labels: Int32Array, c: TeacherCheck): TeacherRow {
  const { file } = c;
  const bad = (field: string, problem: string, hint = distillHint(file)) => new DataError(file, line, `${TEACHER_FIELD}${field}`, problem, hint);
  const v = row[TEACHER_FIELD];
  if (v === undefined || v === null) throw bad('', 'is missing: --smooth-target teacher smooths toward each row\'s teacher targets');
  if (typeof v !== 'object' || Array.isArray(v)) throw bad('', 'must be an object {"k", "fingerprint", "ids", "probs"} as ual distill writes it');
  const f = v as Record<string, unknown>;
  const fp = f.fingerprint as TeacherFingerprint | undefined;
  if (!fp || typeof fp !== 'object') throw bad('.fingerprint', 'is missing');
  const diff = fingerprintDiff(fp, c.fingerprint);
  if (diff.length) {
    throw bad('.fingerprint', `the targets were made for other tokens than this run trains on (${diff.join('; ')})`,
      diff.some((d) => d.startsWith('tokenizer') || d.startsWith('vocab_size'))
        ? 'distill with a teacher that shares the student\'s tokenizer (the same tokenizer.json), or train a student of the teacher\'s family'
        : `train with the options ual distill used (--template, --max-length, --train-on-prompt), or ${distillHint(file)}`);
  }
  const k = f.k;
  if (typeof k !== 'number' || !Number.isInteger(k) || k < 1) throw bad('.k', `must be a positive integer, got ${JSON.stringify(k)}`);
  if (c.k === undefined) {
    c.k = k;
    c.kLine = line;
  } else if (k !== c.k) {
    throw bad('.k', `is ${k} but line ${c.kLine}'s is ${c.k}: every row must keep the same top-k`, `make the whole file with one "ual distill --top-k N" run`);
  }
  const targets = targetPositions(labels).length;
  const ids = new Int32Array(targets * k);
  const raw = new Float64Array(targets * k);
  for (const [name, out] of [['ids', ids], ['probs', raw]] as const) {
    const list = f[name];
    if (!Array.isArray(list) || list.length !== targets) {
      throw bad(`.${name}`, `has ${Array.isArray(list) ? list.length : 'no list of'} entries but the row has ${targets} target tokens as this run tokenizes it`,
        `the rows changed after ual distill: ${distillHint(file)}`);
    }
    list.forEach((e: unknown, i) => {
      if (!Array.isArray(e) || e.length !== k) throw bad(`.${name}`, `entry ${i} must be a list of ${k} numbers`);
      for (let j = 0; j < k; j++) {
        const x = e[j];
        const ok = name === 'ids' ? Number.isInteger(x) && x >= 0 && x < c.vocabSize : typeof x === 'number' && Number.isFinite(x) && x >= 0;
        if (!ok) {
          throw bad(`.${name}`, `entry ${i} holds ${JSON.stringify(x)}, not ${name === 'ids' ? `a token id in [0, ${c.vocabSize})` : 'a probability'}`,
            name === 'ids' ? 'the teacher\'s vocabulary is not the model\'s: distill with a teacher of the same tokenizer' : distillHint(file));
        }
        out[i * k + j] = x as number;
      }
    });
  }
  for (let i = 0; i < targets; i++) {
    let s = 0;
    for (let j = 0; j < k; j++) s += raw[i * k + j];
    // 1e-3: the file's 7-digit rounding of k probabilities may add up to a little over 1
    if (!(s > 0 && s <= 1 + 1e-3)) throw bad('.probs', `entry ${i} sums to ${s}; a top-k of probabilities sums to (0, 1]`);
  }
  return { k, ids, probs: renormalise(k, raw) };
}
