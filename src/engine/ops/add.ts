// add: elementwise a + b, where b has a's shape or a suffix of it (a bias or position table broadcast over the
// leading dims). Elementwise and memory-bound, so the loops live here rather than in the kernels.
import { Tensor, adoptGrad, allocOutput, kernelsFor, needsGrad, record } from '../tensor.js';
import { addColumnSums, checkDtypes, describe, fail } from './util.js';

export function add(a: Tensor, b: Tensor): Tensor {
  checkDtypes('add', a, b);
  const off = a.shape.length - b.shape.length;
  if (off < 0 || b.shape.some((s, i) => s !== a.shape[off + i])) {
    fail('add', `b's shape must equal a's or be a suffix of it: ${describe(a)} + ${describe(b)}`);
  }
  const n = a.size, m = b.size; // a is (n / m) rows of b's m elements
  const A = a.data, Bd = b.data;
  const out = allocOutput(A, n);
  for (let r = 0; r < n; r += m) for (let j = 0; j < m; j++) out[r + j] = A[r + j] + Bd[j];
  const y = new Tensor(out, [...a.shape], needsGrad(a, b));
  if (!y.requiresGrad) return y;

  record(() => {
    const dy = y.grad;
    if (!dy) return;
    if (a.requiresGrad) {
      // the first gradient to reach a fresh tensor can simply be dy's buffer: y's gradient is not read again
      if (a === b || !adoptGrad(a, dy)) {
        const da = a.grad ?? a.ensureGrad();
        for (let i = 0; i < n; i++) da[i] += dy[i];
      }
    }
    if (b.requiresGrad) {
      const db = b.ensureGrad();
      if (n === m) for (let j = 0; j < m; j++) db[j] += dy[j];
      else addColumnSums(kernelsFor(dy), dy, db, n / m, m);
    }
  }, y);
  return y;
}
