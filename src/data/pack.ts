// Packing: concatenate short rows into blocks of at most maxLength tokens so batches carry less padding. A block
// only ever holds rows with the same epsilon, because the loss takes one epsilon per row (see collate.ts).
import type { TokenRow } from './pretokenized.js';
import type { TeacherRow } from './teacher-topk.js';
import { IGNORE } from './tokenize.js';

export interface PackStats {
  /** packed rows produced */
  blocks: number;
  /** original rows inside them */
  segments: number;
  /** distinct epsilon values (rows of different epsilon never share a block) */
  groups: number;
}

function concatTeacher(parts: TokenRow[]): TeacherRow {
  const k = parts[0].teacher!.k;
  const n = parts.reduce((s, p) => s + p.teacher!.ids.length, 0);
  const out = { k, ids: new Int32Array(n), probs: new Float32Array(n) };
  let at = 0;
  for (const p of parts) {
    out.ids.set(p.teacher!.ids, at);
    out.probs.set(p.teacher!.probs, at);
    at += p.teacher!.ids.length;
  }
  return out;
}

/**
 * Greedy, in file order within each epsilon group; a row never straddles two blocks (it would lose its prompt).
 * Each segment's first label becomes -100 so no target crosses from one sample into the next. Attention does
 * cross segment boundaries (no block-diagonal mask), as in the classic HF/TRL packing.
 */
export function packRows(rows: readonly TokenRow[], maxLength: number): { rows: TokenRow[]; stats: PackStats } {
  const groups = new Map<number, Array<{ first: number; parts: TokenRow[]; len: number }>>();
  rows.forEach((r, i) => {
    let g = groups.get(r.epsilon);
    if (!g) groups.set(r.epsilon, (g = []));
    const open = g[g.length - 1];
    if (open && open.len + r.inputIds.length <= maxLength) {
      open.parts.push(r);
      open.len += r.inputIds.length;
    } else {
      g.push({ first: i, parts: [r], len: r.inputIds.length });
    }
  });
  const blocks = [...groups.values()].flat().sort((a, b) => a.first - b.first);
  const out = blocks.map((b): TokenRow => {
    // a segment's first token is never a target (it was position 0 of its row): the teacher entries just concatenate
    const teacher = b.parts[0].teacher ? concatTeacher(b.parts) : undefined;
    const inputIds = new Int32Array(b.len);
    const labels = new Int32Array(b.len);
    let at = 0;
    for (const p of b.parts) {
      inputIds.set(p.inputIds, at);
      labels.set(p.labels, at);
      labels[at] = IGNORE;
      at += p.inputIds.length;
    }
    return { inputIds, labels, epsilon: b.parts[0].epsilon, line: b.parts[0].line, ...(teacher ? { teacher } : {}) };
  });
  return { rows: out, stats: { blocks: out.length, segments: rows.length, groups: groups.size } };
}
