// Tensors and the autodiff tape: a tensor is a flat typed array plus a shape; ops record backward closures on the
// tape while gradients are enabled, and backward() replays them in reverse (llm.c's order, PyTorch's semantics).
import type { Arr, Kernels } from './kernels.js';

export type DType = 'float32' | 'float64';

export class Tensor {
  data: Arr;
  readonly shape: readonly number[];
  grad: Arr | null = null;
  requiresGrad: boolean;
  /** a name for error messages and parameter tables (e.g. the HF tensor name) */
  name: string;

  constructor(data: Arr, shape: readonly number[], requiresGrad = false, name = '') {
    const n = shape.reduce((a, b) => a * b, 1);
    if (data.length !== n) throw new Error(`tensor ${name}: data length ${data.length} != product of shape [${shape}]`);
    this.data = data;
    this.shape = shape;
    this.requiresGrad = requiresGrad;
    this.name = name;
  }

  get size(): number { return this.data.length; }
  get dtype(): DType { return this.data instanceof Float64Array ? 'float64' : 'float32'; }

  /** the gradient buffer, allocated (zeroed) on first use */
  ensureGrad(): Arr {
    if (!this.grad) this.grad = this.dtype === 'float64' ? new Float64Array(this.size) : new Float32Array(this.size);
    return this.grad;
  }

  zeroGrad(): void { if (this.grad) this.grad.fill(0); }

  /** same data, new shape (no copy); gradients flow through to this tensor */
  view(...shape: number[]): Tensor {
    const known = shape.filter((s) => s !== -1).reduce((a, b) => a * b, 1);
    const full = shape.map((s) => (s === -1 ? this.size / known : s));
    if (full.reduce((a, b) => a * b, 1) !== this.size) throw new Error(`view: cannot view [${this.shape}] as [${shape}]`);
    const out = new Tensor(this.data, full, this.requiresGrad && gradEnabled, this.name);
    // a view shares our gradient buffer: backward kernels accumulate, so no copy-back step is needed
    if (out.requiresGrad) out.grad = this.ensureGrad();
    return out;
  }

  item(): number {
    if (this.size !== 1) throw new Error(`item(): tensor has ${this.size} elements`);
    return this.data[0];
  }

  static zeros(shape: readonly number[], dtype: DType = 'float32', requiresGrad = false, name = ''): Tensor {
    const n = shape.reduce((a, b) => a * b, 1);
    return new Tensor(dtype === 'float64' ? new Float64Array(n) : new Float32Array(n), shape, requiresGrad, name);
  }

  static from(values: ArrayLike<number>, shape: readonly number[], dtype: DType = 'float32', requiresGrad = false): Tensor {
    const data = dtype === 'float64' ? Float64Array.from(values) : Float32Array.from(values);
    return new Tensor(data, shape, requiresGrad);
  }
}

/** Allocate an output buffer of the same dtype as `like`. */
export function alloc(like: Arr, n: number): Arr {
  return like instanceof Float64Array ? new Float64Array(n) : new Float32Array(n);
}

// ---- the tape ----

let gradEnabled = true;
let tape: (() => void)[] = [];

/** Push a backward closure; called by ops only when some input requires grad. */
export function record(fn: () => void): void {
  tape.push(fn);
}

export function isGradEnabled(): boolean { return gradEnabled; }

/** Run fn with the tape off (inference, generation, evaluation). */
export function noGrad<T>(fn: () => T): T {
  const prev = gradEnabled;
  gradEnabled = false;
  try { return fn(); } finally { gradEnabled = prev; }
}

/** True when an op with these inputs must record a backward closure. */
export function needsGrad(...inputs: (Tensor | null | undefined)[]): boolean {
  if (!gradEnabled) return false;
  for (const t of inputs) if (t && t.requiresGrad) return true;
  return false;
}

/** Backpropagate from a scalar loss: d loss / d loss = 1, then replay the tape in reverse and clear it. */
export function backward(loss: Tensor): void {
  if (loss.size !== 1) throw new Error(`backward(): loss must be a scalar, got shape [${loss.shape}]`);
  loss.ensureGrad()[0] = 1;
  const steps = tape;
  tape = [];
  for (let i = steps.length - 1; i >= 0; i--) steps[i]();
}

/** Drop recorded closures without running them (e.g. after a forward pass whose loss was not used). */
export function clearTape(): void { tape = []; }

// ---- backends ----

let active: Kernels | null = null;
let jsKernels: Kernels | null = null;

/** Register the plain-TypeScript kernels (always available; the reference and the float64 path). */
export function registerJsKernels(k: Kernels): void {
  jsKernels = k;
  if (!active) active = k;
}

export function setKernels(k: Kernels): void { active = k; }

/** The kernels to use for buffers like `a`: float64 always runs on js. */
export function kernelsFor(a: Arr): Kernels {
  if (!active || !jsKernels) throw new Error('no backend loaded: import "src/engine/index.js" first');
  return a instanceof Float64Array ? jsKernels : active;
}

export function activeKernels(): Kernels {
  if (!active) throw new Error('no backend loaded: import "src/engine/index.js" first');
  return active;
}
