// Shape and dtype checks shared by the ops: inputs are validated once here, at the op boundary, so the kernels
// can trust their arguments and keep their loops clean.
import type { Tensor } from '../tensor.js';
import type { Arr, Kernels } from '../kernels.js';

export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const s of shape) n *= s;
  return n;
}

export function fail(op: string, problem: string): never {
  throw new Error(`${op}: ${problem}`);
}

/** The dtype a tensor computes in: bfloat16 storage (a frozen weight) is widened to float32 where it is read. */
function computeDtype(t: Tensor): 'float32' | 'float64' {
  return t.dtype === 'float64' ? 'float64' : 'float32';
}

/** All tensors must compute in one dtype: kernels are routed by the first buffer's type. */
export function checkDtypes(op: string, ...ts: (Tensor | null)[]): void {
  let first: Tensor | null = null;
  for (const t of ts) {
    if (!t) continue;
    if (!first) first = t;
    else if (computeDtype(t) !== computeDtype(first)) fail(op, `mixed dtypes ${first.dtype} and ${t.dtype} (${describe(first)}, ${describe(t)})`);
  }
}

export function checkShape(op: string, what: string, t: Tensor, expected: readonly number[]): void {
  if (t.shape.length !== expected.length || t.shape.some((s, i) => s !== expected[i])) {
    fail(op, `${what} must have shape [${expected}], got [${t.shape}]${t.name ? ` (${t.name})` : ''}`);
  }
}

export function checkRank(op: string, what: string, t: Tensor, rank: number): void {
  if (t.shape.length !== rank) fail(op, `${what} must be ${rank}D, got shape [${t.shape}]${t.name ? ` (${t.name})` : ''}`);
}

export function describe(t: Tensor): string {
  return `${t.name || 'tensor'} [${t.shape}]`;
}

/** The last dimension of x, which every row-wise op works over. */
export function lastDim(op: string, x: Tensor): number {
  if (x.shape.length === 0) fail(op, 'input must have at least one dimension');
  return x.shape[x.shape.length - 1];
}


const onesCache = new Map<string, Float32Array | Float64Array>();

/**
 * acc (m) += sum over the n rows of x (n, m): a bias or broadcast gradient. Done as a one-row GEMM with a ones
 * vector so the native backend streams it through BLAS instead of a JS double loop.
 */
export function addColumnSums(k: Kernels, x: Arr, acc: Arr, n: number, m: number): void {
  const key = `${x instanceof Float64Array ? 'f64' : 'f32'}`;
  let ones = onesCache.get(key);
  if (!ones || ones.length < n) {
    ones = x instanceof Float64Array ? new Float64Array(n).fill(1) : new Float32Array(n).fill(1);
    onesCache.set(key, ones);
  }
  k.gemm(true, false, 1, m, n, 1, ones, 0, x, 0, 1, acc, 0, 1, 0, 0, 0);
}
