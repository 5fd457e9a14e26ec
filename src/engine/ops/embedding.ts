// embedding: rows of a (V, C) table gathered by token id; backward scatter-adds, so repeated ids (and a table
// tied to the LM head) simply accumulate. A frozen bfloat16 table (ops/weight.ts) is widened row by row.
import { Tensor, allocOutput, kernelsFor, needsGrad, record } from '../tensor.js';
import { checkRank, describe, fail, numel } from './util.js';
import { computeLike } from './weight.js';

export function embedding(table: Tensor, ids: Int32Array, shape: number[]): Tensor {
  checkRank('embedding', 'table', table, 2);
  const [V, C] = table.shape;
  const N = numel(shape);
  if (ids.length !== N) fail('embedding', `${ids.length} ids do not fill shape [${shape}] (${N})`);
  // the boundary check: kernels index the table unchecked
  for (let n = 0; n < N; n++) {
    const id = ids[n];
    if (id < 0 || id >= V) {
      fail('embedding', `token id ${id} at position ${n} is outside [0, ${V}) for ${describe(table)}; ` +
        'the tokenizer and the model checkpoint probably disagree on the vocabulary');
    }
  }
  const like = computeLike(table);
  const k = kernelsFor(like);
  const out = allocOutput(like, N * C); // (...shape, C)
  if (table.bf16) k.embeddingForwardBf16(ids, table.bf16, out, N, C);
  else k.embeddingForward(ids, table.data, out, N, C);
  const y = new Tensor(out, [...shape, C], needsGrad(table));
  if (!y.requiresGrad) return y;

  // the caller may refill its id buffer (collators reuse them) before backward runs
  const saved = ids.slice();
  record(() => {
    if (y.grad) k.embeddingBackward(saved, y.grad, table.ensureGrad(), N, C);
  }, y);
  return y;
}
