// A teacher checkpoint's top-k next-token distribution at every target token of tokenized rows: what `ual distill`
// writes and `ual train --teacher DIR` computes in memory (the one definition). A batch of rows goes through the
// teacher's trunk; the head runs only on the positions that predict a target, a chunk at a time, so the (B, T, V)
// logits never exist.
import { linear, noGrad, Tensor, type Arr } from '../engine/index.js';
import type { TokenRow } from '../data/pretokenized.js';
import { renormalise, roundProb, targetPositions, type TeacherRow } from '../data/teacher-topk.js';
import { UalError, UsageError } from '../errors.js';
import type { CausalLM } from '../models/index.js';

/** One row's top-k as the file keeps it: per target token, k ids by descending probability, and their raw probabilities. */
export interface TopkRow {
  ids: Int32Array;
  probs: Float64Array;
}

/** floats of one chunk's logits: 64 MB, as the fused loss (~110 positions at a 152k vocabulary) */
const CHUNK_FLOATS = 1 << 24;

/** --top-k against the teacher's vocabulary. */
export function checkTopK(k: number, model: CausalLM): void {
  if (k > model.config.vocabSize) {
    throw new UsageError(`--top-k ${k} is more than the teacher's ${model.config.vocabSize} tokens (${model.source})`, `use --top-k ${model.config.vocabSize} or less`);
  }
}

/**
 * The k largest logits of one row (ties: the lower id first, so the output is deterministic) and their softmax
 * probabilities (float64 log-sum-exp over the whole row), written at ids/probs[at..at+k).
 */
function topkOf(x: Arr, off: number, V: number, k: number, ids: Int32Array, probs: Float64Array, at: number): boolean {
  let max = -Infinity;
  for (let v = 0; v < V; v++) if (x[off + v] > max) max = x[off + v];
  let s = 0;
  for (let v = 0; v < V; v++) s += Math.exp(x[off + v] - max);
  const lse = max + Math.log(s);
  if (!Number.isFinite(lse)) return false;
  const vals = new Float64Array(k).fill(-Infinity);
  const idx = ids.subarray(at, at + k);
  let n = 0;
  for (let v = 0; v < V; v++) {
    const xv = x[off + v];
    if (n === k && !(xv > vals[k - 1])) continue;
    let j = n < k ? n++ : k - 1;
    for (; j > 0 && vals[j - 1] < xv; j--) {
      vals[j] = vals[j - 1];
      idx[j] = idx[j - 1];
    }
    vals[j] = xv;
    idx[j] = v;
  }
  for (let j = 0; j < k; j++) probs[at + j] = roundProb(Math.exp(vals[j] - lse));
  return true;
}

/** The teacher's top-k at every target token of one batch of rows (any number; they are padded to the longest). */
export function teacherTopk(model: CausalLM, rows: readonly TokenRow[], k: number): TopkRow[] {
  const { vocabSize: V, hiddenSize: C } = model.config;
  const B = rows.length;
  const T = Math.max(...rows.map((r) => r.inputIds.length));
  const ids = new Int32Array(B * T); // (B, T), right-padded: causal attention never lets a real position see a pad
  rows.forEach((r, b) => ids.set(r.inputIds, b * T));
  const targets = rows.map((r) => targetPositions(r.labels));
  const out = targets.map((t) => ({ ids: new Int32Array(t.length * k), probs: new Float64Array(t.length * k) }));
  // every (row, target) in order; position t's token is predicted by the hidden state at t - 1
  const jobs: { b: number; i: number; src: number }[] = [];
  targets.forEach((ts, b) => ts.forEach((t, i) => jobs.push({ b, i, src: b * T + t - 1 })));
  const chunk = Math.max(1, Math.floor(CHUNK_FLOATS / V));
  noGrad(() => {
    const { hidden, head } = model.forwardHidden(ids, B, T); // (B, T, C), (V, C)
    for (let j0 = 0; j0 < jobs.length; j0 += chunk) {
      const part = jobs.slice(j0, j0 + chunk);
      const h = new Float32Array(part.length * C); // (m, C)
      part.forEach((job, r) => h.set(hidden.data.subarray(job.src * C, (job.src + 1) * C), r * C));
      const logits = linear(new Tensor(h, [part.length, C]), head, null, 'out_in').data; // (m, V)
      part.forEach((job, r) => {
        if (!topkOf(logits, r * V, V, k, out[job.b].ids, out[job.b].probs, job.i * k)) {
          throw new UalError('UAL_CHECKPOINT', `${model.source}: the teacher's logits are not finite (at line ${rows[job.b].line} of the data)`,
            'check the teacher checkpoint (a model that trained to NaN, or weights saved in a dtype that overflowed)');
        }
      });
    }
  });
  return out;
}

/** The rows' teacher targets in memory (`ual train --teacher DIR`): the file's rounded values, renormalised. */
export function attachTeacherTargets(model: CausalLM, rows: readonly TokenRow[], k: number, batchSize: number, studentVocab: number): void {
  for (let b0 = 0; b0 < rows.length; b0 += batchSize) {
    const batch = rows.slice(b0, b0 + batchSize);
    teacherTopk(model, batch, k).forEach((t, i) => {
      const bad = t.ids.find((id) => id >= studentVocab);
      if (bad !== undefined) {
        throw new UalError('UAL_TOKENIZER', `--teacher ${model.source}: its top-${k} holds token id ${bad}, outside the model's vocabulary [0, ${studentVocab})`,
          'use a teacher with the student\'s tokenizer and vocabulary');
      }
      batch[i].teacher = { k, ids: t.ids, probs: renormalise(k, t.probs) } satisfies TeacherRow;
    });
  }
}
