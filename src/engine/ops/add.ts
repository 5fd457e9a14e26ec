// add: elementwise a + b, where b has a's shape or a suffix of it (a bias or position table broadcast over the
// leading dims): the residual stream's adds. The loops run in the kernels (native: vectorised, on the pool).
import { Tensor, adoptGrad, allocOutput, kernelsFor, needsGrad, record } from '../tensor.js';
import { addColumnSums, checkDtypes, describe, fail } from './util.js';

export function add(a: Tensor, b: Tensor): Tensor {
  checkDtypes('add', a, b);
  const off = a.shape.length - b.shape.length;
  if (off < 0 || b.shape.some((s, i) => s !== a.shape[off + i])) {
    fail('add', `b's shape must equal a's or be a suffix of it: ${describe(a)} + ${describe(b)}`);
  }
  const n = a.size, m = b.size; // a is (n / m) rows of b's m elements
  const k = kernelsFor(a.data);
  const out = allocOutput(a.data, n);
  k.addRows(a.data, b.data, out, n, m);
  const y = new Tensor(out, [...a.shape], needsGrad(a, b));
  if (!y.requiresGrad) return y;

  record(() => {
    const dy = y.grad;
    if (!dy) return;
    if (a.requiresGrad) {
      // the first gradient to reach a fresh tensor can simply be dy's buffer: y's gradient is not read again
      if (a === b || !adoptGrad(a, dy)) k.axpy(1, dy, a.ensureGrad(), n);
    }
    if (b.requiresGrad) {
      const db = b.ensureGrad();
      if (n === m) k.axpy(1, dy, db, m);
      else addColumnSums(k, dy, db, n / m, m);
    }
  }, y);
  return y;
}
