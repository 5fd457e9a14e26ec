// AdamW (torch.optim.AdamW semantics, decoupled weight decay) and global-norm gradient clipping
// (torch.nn.utils.clip_grad_norm_), both running on the active backend's kernels.
import type { Arr } from './kernels.js';
import { Tensor, allocResident, kernelsFor } from './tensor.js';

export interface AdamWOptions {
  lr: number;
  betas?: [number, number];
  eps?: number;
  /** one value for all parameters, or per parameter (e.g. 0 for norms and biases) */
  weightDecay?: number | ((p: Tensor) => number);
}

export interface AdamWState {
  step: number;
  m: Float32Array[];
  v: Float32Array[];
}

/** torch.optim.AdamW's betas and eps, ours too (the torch engine hands them to its worker) */
export const ADAMW_DEFAULTS = Object.freeze({ beta1: 0.9, beta2: 0.999, eps: 1e-8 });

export class AdamW {
  readonly params: Tensor[];
  lr: number;
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  private readonly decay: number[];
  private readonly m: Arr[];
  private readonly v: Arr[];
  /** optimizer steps taken; one counter for all parameters (torch keeps one per parameter, equal unless a
   *  parameter's grad is null on some steps but not others) */
  stepCount = 0;

  constructor(params: Tensor[], opts: AdamWOptions) {
    // a tensor listed twice (or two tensors over one buffer) would be stepped twice
    const seen = new Set<Arr>();
    this.params = [];
    for (const p of params) if (!seen.has(p.data)) { seen.add(p.data); this.params.push(p); }
    this.lr = opts.lr;
    [this.beta1, this.beta2] = opts.betas ?? [ADAMW_DEFAULTS.beta1, ADAMW_DEFAULTS.beta2];
    this.eps = opts.eps ?? ADAMW_DEFAULTS.eps;
    const wd = opts.weightDecay ?? 0.01; // torch's default
    this.decay = this.params.map((p) => (typeof wd === 'number' ? wd : wd(p)));
    this.m = this.params.map((p) => allocResident(p.data, p.size));
    this.v = this.params.map((p) => allocResident(p.data, p.size));
    // the gradients too, but only reserved: a parameter no backward reaches keeps grad null and is not stepped
    for (const p of this.params) if (!p.grad && !p.spareGrad) p.spareGrad = allocResident(p.data, p.size);
  }

  /** one update of every parameter that has a gradient; `lr` overrides the base rate for this step (schedules) */
  step(lr: number = this.lr): void {
    this.stepCount++;
    for (let i = 0; i < this.params.length; i++) {
      const p = this.params[i];
      if (!p.grad) continue; // like torch: a parameter without a gradient is left alone
      kernelsFor(p.data).adamw(p.data, p.grad, this.m[i], this.v[i], p.size, lr, this.beta1, this.beta2, this.eps,
        this.decay[i], this.stepCount);
    }
  }

  /** zero the gradients in place: views made earlier share these buffers, so they are kept, not dropped */
  zeroGrad(): void {
    for (const p of this.params) p.zeroGrad();
  }

  /**
   * The moments, in parameter order. Float32 moments are returned as the live buffers (no copy: at model scale
   * they are twice the model size), so serialize them before the next step().
   */
  stateDict(): AdamWState {
    const f32 = (a: Arr): Float32Array => (a instanceof Float32Array ? a : Float32Array.from(a));
    return { step: this.stepCount, m: this.m.map(f32), v: this.v.map(f32) };
  }

  loadStateDict(s: AdamWState): void {
    const n = this.params.length;
    if (s.m.length !== n || s.v.length !== n) {
      throw new Error(`AdamW.loadStateDict: state has ${s.m.length} moments for ${n} parameters; ` +
        'the checkpoint was saved for a different model or parameter list');
    }
    for (let i = 0; i < n; i++) {
      const p = this.params[i];
      if (s.m[i].length !== p.size || s.v[i].length !== p.size) {
        throw new Error(`AdamW.loadStateDict: moment ${i} has ${s.m[i].length} elements but parameter ` +
          `${p.name || i} has ${p.size}`);
      }
      this.m[i].set(s.m[i]);
      this.v[i].set(s.v[i]);
    }
    if (!Number.isInteger(s.step) || s.step < 0) throw new Error(`AdamW.loadStateDict: bad step ${s.step}`);
    this.stepCount = s.step;
  }
}

/**
 * Scale all gradients so their global L2 norm is at most maxNorm; returns the norm before clipping (torch's
 * clip_grad_norm_). A non-finite norm leaves the gradients untouched; the caller decides what to do with the step.
 */
export function clipGradNorm(params: Tensor[], maxNorm: number): number {
  const grads: Arr[] = [];
  const seen = new Set<Arr>();
  for (const p of params) if (p.grad && !seen.has(p.grad)) { seen.add(p.grad); grads.push(p.grad); }
  let ss = 0;
  for (const g of grads) ss += kernelsFor(g).sumSquares(g, g.length);
  const norm = Math.sqrt(ss);
  const coef = maxNorm / (norm + 1e-6);
  if (coef < 1) {
    for (const g of grads) for (let i = 0; i < g.length; i++) g[i] *= coef;
  }
  return norm;
}
