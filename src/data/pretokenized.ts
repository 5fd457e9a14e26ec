// Pretokenized rows {input_ids, labels?, epsilon?}: read, validated at the boundary (ids in [0, V), labels aligned,
// epsilon in [0, 0.99]) so the trainer's inner loop can trust them. Every other field is kept untouched.
import { DataError } from '../errors.js';
import type { TeacherRow } from './teacher-topk.js';

export interface TokenRow {
  inputIds: Int32Array;
  /** aligned with inputIds; -100 = not a target */
  labels: Int32Array;
  /** this row's label-smoothing value (0 when the row has none) */
  epsilon: number;
  /** 1-based line in the source file (or array index + 1 for a JSON array) */
  line: number;
  /** --smooth-target teacher: the teacher's top-k per target token */
  teacher?: TeacherRow;
}

const HINT = 'each line must be a JSON object {"input_ids": [int, ...], "labels"?: [int | -100, ...], "epsilon"?: number}';

function intArray(file: string, line: number, field: string, v: unknown, vocab: number, allowIgnore: boolean): Int32Array {
  if (!Array.isArray(v) || v.length === 0) throw new DataError(file, line, field, 'must be a non-empty array of integers', HINT);
  const out = new Int32Array(v.length);
  for (let i = 0; i < v.length; i++) {
    const x = v[i];
    if (typeof x !== 'number' || !Number.isInteger(x)) throw new DataError(file, line, field, `element ${i} is ${JSON.stringify(x)}, not an integer`, HINT);
    if (allowIgnore && x === -100) { out[i] = -100; continue; }
    if (x < 0 || x >= vocab) {
      throw new DataError(file, line, field, `element ${i} is token id ${x}, outside the model's vocabulary [0, ${vocab})`,
        'tokenize with the model\'s own tokenizer, or use a checkpoint whose vocab_size covers these ids');
    }
    out[i] = x;
  }
  return out;
}

/** Validate one parsed row. `where` = [file, line]. */
export function toTokenRow(obj: unknown, file: string, line: number, vocab: number): TokenRow {
  if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) throw new DataError(file, line, null, 'row is not a JSON object', HINT);
  const r = obj as Record<string, unknown>;
  if (!('input_ids' in r)) throw new DataError(file, line, 'input_ids', 'missing', HINT);
  const inputIds = intArray(file, line, 'input_ids', r.input_ids, vocab, false);
  let labels: Int32Array;
  if (r.labels === undefined || r.labels === null) {
    labels = Int32Array.from(inputIds);
  } else {
    labels = intArray(file, line, 'labels', r.labels, vocab, true);
    if (labels.length !== inputIds.length) {
      throw new DataError(file, line, 'labels', `has ${labels.length} entries but input_ids has ${inputIds.length}`, 'labels must be aligned with input_ids (use -100 where there is no target)');
    }
  }
  let epsilon = 0;
  if (r.epsilon !== undefined && r.epsilon !== null) {
    if (typeof r.epsilon !== 'number' || !Number.isFinite(r.epsilon) || r.epsilon < 0 || r.epsilon > 0.99) {
      throw new DataError(file, line, 'epsilon', `must be a number in [0, 0.99], got ${JSON.stringify(r.epsilon)}`, 'run "ual smooth" to map uncertainty scores to epsilon');
    }
    epsilon = r.epsilon;
  }
  return { inputIds, labels, epsilon, line };
}
