// silu: x * sigmoid(x), elementwise. There is no silu kernel: this is the swiglu kernel with up = 1, which keeps
// the kernel contract small and still runs natively.
import type { Arr } from '../kernels.js';
import { Tensor, allocKept, allocOutput, kernelsFor, needsGrad, record, saveForBackward } from '../tensor.js';

// a shared all-ones `up` and a sink for the unused d(up), grown on demand, one pair per dtype
const ones: Partial<Record<'float32' | 'float64', Arr>> = {};
const sinks: Partial<Record<'float32' | 'float64', Arr>> = {};

function constant(cache: typeof ones, like: Arr, n: number, fill: number): Arr {
  const key = like instanceof Float64Array ? 'float64' : 'float32';
  let buf = cache[key];
  if (!buf || buf.length < n) {
    buf = allocKept(like, Math.max(n, 2 * (buf?.length ?? 0)));
    if (fill !== 0) buf.fill(fill);
    cache[key] = buf;
  }
  return buf;
}

export function silu(x: Tensor): Tensor {
  const n = x.size;
  const k = kernelsFor(x.data);
  const out = allocOutput(x.data, n);
  k.swigluForward(x.data, constant(ones, x.data, n, 1), out, n);
  const y = new Tensor(out, [...x.shape], needsGrad(x));
  if (!y.requiresGrad) return y;
  saveForBackward(x);

  record(() => {
    if (!y.grad) return;
    const one = constant(ones, x.data, n, 1);
    k.swigluBackward(y.grad, x.data, one, x.ensureGrad(), constant(sinks, x.data, n, 0), n);
  }, y);
  return y;
}
