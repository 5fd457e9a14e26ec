// Test helpers: seeded random inputs, and finite-difference gradient checks (tinygrad's gradcheck) that compare
// every input's analytic gradient of a random linear functional sum(out * R) with central differences in float64.
import { Tensor, backendName, backward, clearTape, noGrad, useBackend } from '../../src/engine/index.js';
import type { Arr, BackendName } from '../../src/engine/index.js';

export type Rng = () => number;

/** mulberry32: uniform in [0, 1), reproducible from the seed */
export function makeRng(seed: number): Rng {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** values uniform in [lo, hi), rounded to float32 so float32 and float64 runs see identical inputs */
export function uniform(rng: Rng, n: number, lo = -1, hi = 1): Float64Array {
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.fround(lo + (hi - lo) * rng());
  return out;
}

/** an input of an op case: its shape and values (float32-representable) */
export interface InputSpec {
  shape: number[];
  data: Float64Array;
  /** false for inputs whose gradient is not checked (kept frozen) */
  grad?: boolean;
}

export function spec(rng: Rng, shape: number[], lo = -1, hi = 1, grad = true): InputSpec {
  return { shape, data: uniform(rng, shape.reduce((a, b) => a * b, 1), lo, hi), grad };
}

export type RunFn = (xs: Tensor[]) => Tensor | Tensor[];

export function asList(o: Tensor | Tensor[]): Tensor[] {
  return Array.isArray(o) ? o : [o];
}

export function makeInputs(specs: InputSpec[], dtype: 'float32' | 'float64'): Tensor[] {
  return specs.map((s) => Tensor.from(s.data, s.shape, dtype, s.grad !== false));
}

/**
 * Forward, then backward of sum_i sum(out_i * R_i): each output's gradient is seeded with R_i and the tape is
 * replayed (through a dummy scalar, so no extra op sits between the outputs and the functional).
 */
export function forwardBackward(xs: Tensor[], run: RunFn, R: Float64Array[]): { outs: Arr[]; grads: (Arr | null)[] } {
  for (const x of xs) x.grad = null;
  clearTape();
  const outs = asList(run(xs));
  outs.forEach((o, i) => {
    if (o.requiresGrad) o.ensureGrad().set(R[i]);
  });
  backward(Tensor.zeros([1], 'float64'));
  return { outs: outs.map((o) => o.data), grads: xs.map((x) => x.grad) };
}

/** random R for each output of `run` on these inputs (its shapes are found by one forward pass) */
export function randomFunctional(rng: Rng, xs: Tensor[], run: RunFn): Float64Array[] {
  const outs = noGrad(() => asList(run(xs)));
  return outs.map((o) => uniform(rng, o.size));
}

function functional(xs: Tensor[], run: RunFn, R: Float64Array[]): number {
  return noGrad(() => {
    let f = 0;
    asList(run(xs)).forEach((o, i) => {
      for (let j = 0; j < o.size; j++) f += o.data[j] * R[i][j];
    });
    return f;
  });
}

/** max |a - b| / max |b|: the error relative to the reference tensor's scale */
export function relDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Infinity;
  let diff = 0, scale = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    if (!(d <= diff)) diff = d; // NaN counts as the largest difference
    scale = Math.max(scale, Math.abs(b[i]));
  }
  return scale === 0 ? diff : diff / scale;
}

export interface GradcheckReport {
  /** relative error of each checked input's analytic gradient vs central differences */
  errors: { input: number; err: number }[];
  maxErr: number;
}

/** Central differences in float64 for every element of every input with grad !== false. */
export function gradcheck(specs: InputSpec[], run: RunFn, seed = 1, h = 1e-5): GradcheckReport {
  const rng = makeRng(seed);
  const xs = makeInputs(specs, 'float64');
  const R = randomFunctional(rng, xs, run);
  const { grads } = forwardBackward(xs, run, R);
  const errors: { input: number; err: number }[] = [];
  xs.forEach((x, i) => {
    if (specs[i].grad === false) return;
    const num = new Float64Array(x.size);
    for (let j = 0; j < x.size; j++) {
      const v = x.data[j];
      x.data[j] = v + h;
      const fp = functional(xs, run, R);
      x.data[j] = v - h;
      const fm = functional(xs, run, R);
      x.data[j] = v;
      num[j] = (fp - fm) / (2 * h);
    }
    const g = grads[i] ?? new Float64Array(x.size); // no gradient recorded = zero gradient
    errors.push({ input: i, err: relDiff(g, num) });
  });
  return { errors, maxErr: Math.max(0, ...errors.map((e) => e.err)) };
}

/** Run fn with `name` as the active backend, then restore whichever backend was active before. */
export function withBackend<T>(name: BackendName, fn: () => T): T {
  const prev = backendName();
  useBackend(name);
  try { return fn(); } finally { useBackend(prev); }
}
