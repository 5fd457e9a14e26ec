// Tensors and the autodiff tape: a tensor is a flat typed array (float32, float64, or bfloat16 bits) plus a shape;
// ops record backward closures on the tape while gradients are enabled, and backward() replays them in reverse
// (llm.c's order, PyTorch's semantics).
import type { Arr, Kernels } from './kernels.js';

export type DType = 'float32' | 'float64' | 'bfloat16';
/** the dtypes that hold values (what new tensors, activations and gradients are) */
export type FloatDType = 'float32' | 'float64';

/**
 * A tensor is a flat typed array plus a shape. Float32Array and Float64Array hold values; a Uint16Array holds
 * bfloat16 bits (float32's top half): frozen base weights kept at half the memory (--base-dtype bf16). Only the ops
 * that read weights (linear, embedding, linearCrossEntropy; see ops/weight.ts) take bfloat16 tensors, widening
 * them to float32 a block at a time; anything else that reads `data` of one gets an error saying so.
 */
export class Tensor {
  private store: Arr | Uint16Array;
  readonly shape: readonly number[];
  grad: Arr | null = null;
  /** a zeroed, paged-in buffer ensureGrad takes first (an optimizer reserves its parameters' gradients up front) */
  spareGrad: Arr | null = null;
  private wantsGrad = false;
  /** a name for error messages and parameter tables (e.g. the HF tensor name) */
  name: string;

  constructor(data: Arr | Uint16Array, shape: readonly number[], requiresGrad = false, name = '') {
    const n = shape.reduce((a, b) => a * b, 1);
    if (data.length !== n) throw new Error(`tensor ${name}: data length ${data.length} != product of shape [${shape}]`);
    this.store = data;
    this.shape = shape;
    this.name = name;
    this.requiresGrad = requiresGrad;
  }

  /** the values (float32 or float64); a bfloat16 tensor has none to give (see bf16) */
  get data(): Arr {
    if (this.store instanceof Uint16Array) {
      throw new Error(`${this.name || 'tensor'} [${this.shape}] is stored as bfloat16 (a frozen base weight, --base-dtype bf16): ` +
        'only linear, embedding and linearCrossEntropy read bfloat16 weights; this use needs float32 values');
    }
    return this.store;
  }

  /** replace the values (a bfloat16 tensor given float32 values becomes a float32 one, e.g. a merged LoRA weight) */
  set data(d: Arr) {
    if (d.length !== this.size) throw new Error(`tensor ${this.name}: data length ${d.length} != ${this.size} elements`);
    this.store = d;
  }

  /** the bfloat16 bits of a bfloat16 tensor, null for float storage */
  get bf16(): Uint16Array | null { return this.store instanceof Uint16Array ? this.store : null; }

  /** what the tensor keeps in memory, whatever its dtype (saving, counting bytes) */
  get storage(): Arr | Uint16Array { return this.store; }

  get requiresGrad(): boolean { return this.wantsGrad; }
  set requiresGrad(on: boolean) {
    if (on && this.store instanceof Uint16Array) {
      throw new Error(`${this.name || 'tensor'} [${this.shape}] is stored as bfloat16 and cannot require a gradient: ` +
        'bfloat16 weights are a frozen base (LoRA); train in float32 (--base-dtype fp32) to update them');
    }
    this.wantsGrad = on;
  }

  get size(): number { return this.store.length; }
  get dtype(): DType {
    return this.store instanceof Float64Array ? 'float64' : this.store instanceof Uint16Array ? 'bfloat16' : 'float32';
  }

  /** the gradient buffer, allocated (zeroed) on first use; an activation's lives as long as its data (see BufferPool) */
  ensureGrad(): Arr {
    if (!this.grad) {
      this.grad = this.spareGrad ?? (pool.pooled(this.data) ? alloc(this.data, this.size) : allocKept(this.data, this.size));
      this.spareGrad = null;
      pool.hold(this.grad);
    }
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

  static zeros(shape: readonly number[], dtype: FloatDType = 'float32', requiresGrad = false, name = ''): Tensor {
    const n = shape.reduce((a, b) => a * b, 1);
    return new Tensor(dtype === 'float64' ? new Float64Array(n) : new Float32Array(n), shape, requiresGrad, name);
  }

  static from(values: ArrayLike<number>, shape: readonly number[], dtype: FloatDType = 'float32', requiresGrad = false): Tensor {
    const data = dtype === 'float64' ? Float64Array.from(values) : Float32Array.from(values);
    return new Tensor(data, shape, requiresGrad);
  }
}

/** A zeroed buffer of `like`'s dtype; inside a buffer scope it comes from the pool and is returned when the scope closes. */
export function alloc(like: Arr, n: number): Arr {
  return pool.depth > 0 ? pool.take(like instanceof Float64Array, n) : allocKept(like, n);
}

/** A buffer the caller writes in full before reading (an op's forward output): from the pool it is not zeroed. */
export function allocOutput(like: Arr, n: number): Arr {
  return pool.depth > 0 ? pool.take(like instanceof Float64Array, n, false) : allocKept(like, n);
}

/** A zeroed buffer that outlives any buffer scope (caches, optimizer state, parameters' gradients). */
export function allocKept(like: Arr, n: number): Arr {
  return like instanceof Float64Array ? new Float64Array(n) : new Float32Array(n);
}

/**
 * allocKept with every page written once: long-lived buffers made before training (optimizer moments, reserved
 * gradients) are paged in at setup, as optax's init materialises its zeros, instead of faulting page by page inside
 * the first step's kernels (here a fault costs ~0.5 ms per MB, and more when both kernel threads fault at once).
 */
export function allocResident(like: Arr, n: number): Arr {
  const buf = allocKept(like, n);
  pageIn(buf);
  return buf;
}

/**
 * Map in every page of a fresh (zeroed) array before kernels on several threads fault on it page by page: one
 * madvise with the native kernels, else a write to each page from this thread.
 */
function pageIn(buf: Arr): void {
  if (buf instanceof Float32Array && active?.populate?.(buf)) return;
  const stride = 4096 / buf.BYTES_PER_ELEMENT;
  for (let i = 0; i < buf.length; i += stride) buf[i] = 0;
}

/** Give t the gradient buffer g as its own (no copy) when t has none yet and g lives at least as long as t. */
export function adoptGrad(t: Tensor, g: Arr): boolean {
  if (t.grad !== null || (pool.owns(g) && !pool.pooled(t.data))) return false;
  setGrad(t, g);
  return true;
}

/** Make g t's gradient buffer (t has none): g may be shared with other tensors; each counts as one holder of it. */
export function setGrad(t: Tensor, g: Arr): void {
  t.grad = g;
  pool.hold(g);
}

/** t lets go of its gradient buffer (shared ones go back to the pool with their last holder). */
export function dropGrad(t: Tensor): void {
  if (t.grad) pool.drop(t.grad);
}

/**
 * Give a pooled buffer back before its scope closes: nothing may read it again. Backward does this for every
 * gradient whose producer has run, so a step's gradients take one layer's memory at a time, not the whole model's.
 */
export function releaseBuffer(buf: Arr): void { pool.release(buf); }

/**
 * An op's backward closure reads these tensors' values: their buffers must outlive forward (freeActivation keeps
 * them). Every op whose closure reads an input's or output's data says so here; `test/engine/free-activations.test.ts`
 * checks that freeing the rest changes no gradient, with freed buffers poisoned.
 */
export function saveForBackward(...ts: (Tensor | null | undefined)[]): void {
  for (const t of ts) if (t && t.dtype !== 'bfloat16') pool.save(t.data);
}

/**
 * Forward is done with these activations: each one whose buffer no backward closure reads (saveForBackward) goes
 * back to the pool now instead of at the end of the step, so later ops of the same forward reuse it — what PyTorch's
 * reference counting does for an activation no backward saved. Model code calls it after an activation's last
 * forward use; the tensor's gradient still works (it is its own buffer), its values must not be read again.
 */
export function freeActivation(...ts: (Tensor | null | undefined)[]): void {
  if (!freeing) return;
  for (const t of ts) {
    if (!t || t.dtype === 'bfloat16') continue;
    const d = t.data;
    if (pool.owns(d) && !pool.isSaved(d)) pool.release(d, poisonFreed);
  }
}

let freeing = true;
let poisonFreed = false;

/** Tests: switch freeActivation off (the reference gradients) or make it fill freed buffers with NaN. */
export function setActivationFreeing(on: boolean, poison = false): void {
  freeing = on;
  poisonFreed = poison;
}

// ---- the per-step buffer pool ----

/**
 * A training step allocates the same buffers every time: activations, their gradients, backward scratch. Fresh
 * typed arrays above glibc's mmap threshold are fresh pages on every step (page faults: at model scale the system
 * time nears the user time). Inside a scope (openBufferScope ... closeBufferScope) alloc() takes zeroed buffers
 * (allocOutput() unzeroed ones) from a free list keyed by dtype and size class, and closing the scope returns every
 * buffer taken in it. A request gets a view of its exact length into a pooled array of its size class (or of a free
 * one up to two octaves larger), so batches of text, whose length changes every step, reuse the same memory instead
 * of faulting in fresh pages. Only code that drops all references to the scope's tensors at its end may open one (the
 * trainer around a micro-batch; checkpoint() around a block).
 */
/** outermost scopes a free buffer may go untaken before the pool lets it go */
export const KEEP_ROUNDS = 4;
/** the pool may hold at most this many times the bytes the last outermost scope had taken at its peak */
export const HELD_LIMIT = 1.25;

export class BufferPool {
  depth = 0;
  private holders = new WeakMap<Arr, number>(); // gradient buffer -> tensors whose .grad it is
  private released = new WeakSet<Arr>(); // views given back early (releaseBuffer); their scope skips them
  private saved = new WeakSet<Arr>(); // views a backward closure reads (saveForBackward)
  private free = new Map<number, Arr[]>(); // backing arrays by capacity (sizeClass), negative for float64
  private live: Arr[] = []; // views taken and not yet returned, in order (scopes are suffixes)
  private mine = new WeakSet<Arr>(); // views handed out
  private backing = new WeakMap<Arr, Arr>(); // view -> the pooled array it looks into
  private lastUsed = new Map<Arr, number>(); // backing array -> the round (outermost scope) that last took it
  private round = 0;
  private roundPeak = 0; // the most bytes taken at once in this outermost scope
  liveBytes = 0;
  /** the most bytes taken at once since resetPeak(): activations, gradients and scratch of a step */
  peakLiveBytes = 0;
  /** bytes the pool holds, taken or free */
  heldBytes = 0;
  /** bytes of every array the pool has made so far (a step that takes only reused buffers leaves it unchanged) */
  madeBytes = 0;

  owns(a: Arr): boolean { return this.mine.has(a); }

  /** a is a view the pool handed out in the open scopes, live or given back early (its tensor's gradient is pooled too) */
  pooled(a: Arr): boolean { return this.mine.has(a) || this.released.has(a); }

  save(a: Arr): void { if (this.mine.has(a)) this.saved.add(a); }

  isSaved(a: Arr): boolean { return this.saved.has(a); }

  take(f64: boolean, n: number, zero = true): Arr {
    const cap = sizeClass(n);
    // best fit: the request's class, else a free array of up to two octaves larger (a shorter batch than the last
    // one then reuses the longer batch's buffers instead of faulting in new ones; attention scores grow as T², so
    // two octaves of size are one of length)
    let back: Arr | undefined;
    for (let c = cap; c <= 4 * cap && !back; c = sizeClass(c + 1)) back = this.free.get(f64 ? -c - 1 : c)?.pop();
    const reused = back !== undefined;
    if (!back) {
      back = f64 ? new Float64Array(cap) : new Float32Array(cap);
      pageIn(back);
      this.heldBytes += back.byteLength;
      this.madeBytes += back.byteLength;
    }
    const buf = back.subarray(0, n); // a view of its own even at full length: release() and close() work per view
    if (reused && zero) buf.fill(0); // alloc()'s callers rely on zeroed memory (accumulating kernels, partial writes)
    this.mine.add(buf);
    this.backing.set(buf, back);
    this.live.push(buf);
    this.lastUsed.set(back, this.round);
    this.liveBytes += back.byteLength;
    if (this.liveBytes > this.peakLiveBytes) this.peakLiveBytes = this.liveBytes;
    if (this.liveBytes > this.roundPeak) this.roundPeak = this.liveBytes;
    return buf;
  }

  /** one more tensor has buf as its gradient */
  hold(buf: Arr): void {
    if (this.mine.has(buf)) this.holders.set(buf, (this.holders.get(buf) ?? 0) + 1);
  }

  /** a tensor lets go of its gradient buf (its producer's backward ran); the last one gives it back */
  drop(buf: Arr): void {
    if (!this.mine.has(buf)) return;
    const h = (this.holders.get(buf) ?? 1) - 1;
    if (h > 0) this.holders.set(buf, h);
    else this.release(buf);
  }

  release(buf: Arr, poison = false): void {
    if (!this.mine.has(buf) || this.released.has(buf)) return;
    if (poison) buf.fill(NaN); // tests: a closure that reads a freed buffer gives NaN gradients
    this.released.add(buf);
    this.mine.delete(buf);
    this.holders.delete(buf);
    this.giveBack(this.backing.get(buf) ?? buf);
  }

  private giveBack(back: Arr): void {
    this.liveBytes -= back.byteLength;
    const key = back instanceof Float64Array ? -back.length - 1 : back.length;
    let list = this.free.get(key);
    if (!list) this.free.set(key, (list = []));
    list.push(back);
  }

  open(): number {
    this.depth++;
    return this.live.length;
  }

  /** return the buffers taken since `mark` except `keep` (which stay live in the enclosing scope) */
  close(mark: number, keep: readonly Arr[] = []): void {
    const released = this.live.splice(mark);
    for (const buf of released) {
      if (this.released.has(buf)) continue; // given back already
      if (keep.includes(buf)) {
        if (this.depth > 1) this.live.push(buf);
        else this.disown(buf); // no enclosing scope will return it: it becomes an ordinary array
        continue;
      }
      this.giveBack(this.backing.get(buf) ?? buf);
    }
    this.depth--;
    if (this.depth === 0) this.dropUnused();
  }

  private disown(buf: Arr): void {
    const back = this.backing.get(buf) ?? buf;
    this.mine.delete(buf);
    this.lastUsed.delete(back);
    this.liveBytes -= back.byteLength;
    this.heldBytes -= back.byteLength;
  }

  /**
   * Buffers no step took for KEEP_ROUNDS outermost scopes (an earlier, different shape) are left to the GC. Not at
   * once: with gradients given back during backward, a shorter batch needs fewer buffers than a longer one, and
   * dropping the rest would fault them in afresh at the next long batch. But the pool never holds more than
   * HELD_LIMIT times what this scope had taken at its peak: when batches keep getting longer (text), each length
   * would otherwise leave a whole step's buffers behind for KEEP_ROUNDS steps (measured on the Qwen2.5-0.5B shape,
   * batches of ~1,000 positions: +1.4 GB a step); the largest buffers this scope did not take go first.
   */
  private dropUnused(): void {
    const stale = (b: Arr) => this.round - (this.lastUsed.get(b) ?? -Infinity) >= KEEP_ROUNDS;
    this.dropWhere(stale);
    const limit = HELD_LIMIT * this.roundPeak;
    if (this.heldBytes > limit) {
      const idle = [...this.free.values()].flat().filter((b) => this.lastUsed.get(b) !== this.round)
        .sort((a, b) => b.byteLength - a.byteLength);
      const drop = new Set<Arr>();
      let held = this.heldBytes;
      for (const b of idle) {
        if (held <= limit) break;
        drop.add(b);
        held -= b.byteLength;
      }
      this.dropWhere((b) => drop.has(b));
    }
    this.round++;
    this.roundPeak = this.liveBytes;
  }

  private dropWhere(gone: (b: Arr) => boolean): void {
    for (const [key, list] of this.free) {
      const kept = list.filter((b) => !gone(b));
      for (const b of list) {
        if (!gone(b)) continue;
        this.heldBytes -= b.byteLength;
        this.lastUsed.delete(b);
      }
      if (kept.length) this.free.set(key, kept);
      else this.free.delete(key);
    }
  }

  /** let every free buffer go (between runs: a new model's shapes share nothing with the last one's) */
  trim(): void {
    for (const list of this.free.values()) for (const b of list) { this.heldBytes -= b.byteLength; this.lastUsed.delete(b); }
    this.free.clear();
  }

  resetPeak(): void { this.peakLiveBytes = this.liveBytes; }
}

/**
 * The capacity a request of n elements is served from: n rounded up to one of eight steps per octave (at most 12.5%
 * slack), so lengths that differ by a few tokens share buffers; small requests are exact.
 */
export function sizeClass(n: number): number {
  if (n <= 64) return n;
  const step = 2 ** (Math.floor(Math.log2(n)) - 3);
  return Math.ceil(n / step) * step;
}

export const pool = new BufferPool();

/** Open a buffer scope: buffers alloc() hands out until the matching closeBufferScope(mark) are then reused. */
export function openBufferScope(): number { return pool.open(); }

export function closeBufferScope(mark: number, keep: readonly Arr[] = []): void { pool.close(mark, keep); }

// ---- the tape ----

let gradEnabled = true;

/** One backward closure, the tensors it produced and the saved buffers only it reads. */
export interface TapeStep {
  fn: () => void;
  outputs: readonly Tensor[];
  freeAfter: readonly Arr[];
}
let tape: TapeStep[] = [];

/**
 * Push a backward closure; called by ops only when some input requires grad. `outputs`: the tensors the op made —
 * once fn has run nothing reads their gradients again (every consumer was recorded later and ran earlier), so
 * their pooled gradient buffers go back to the pool. `freeAfter`: pooled buffers the op saved for fn alone.
 */
export function record(fn: () => void, outputs: Tensor | readonly Tensor[] = [], freeAfter: readonly Arr[] = []): void {
  tape.push({ fn, outputs: outputs instanceof Tensor ? [outputs] : outputs, freeAfter });
}

// buffers taken with scratch() by the closure running now (a stack: checkpoint replays a tape inside a closure)
const scratchStack: Arr[][] = [];

/** A zeroed buffer for the running backward closure alone (e.g. a frozen input's throwaway gradient). */
export function scratch(like: Arr, n: number): Arr {
  const buf = alloc(like, n);
  scratchStack[scratchStack.length - 1]?.push(buf);
  return buf;
}

/** t's gradient buffer when t wants one, else a throwaway buffer of its size (a kernel that writes every input's
 *  gradient, called for a frozen input). */
export function gradOrScratch(t: Tensor, like: Arr = t.data): Arr {
  return t.requiresGrad ? t.ensureGrad() : scratch(like, t.size);
}

/** Replay recorded closures in reverse, giving each one's dead buffers back to the pool as soon as it has run. */
export function runTape(steps: readonly TapeStep[]): void {
  for (let i = steps.length - 1; i >= 0; i--) {
    const st = steps[i];
    const mine: Arr[] = [];
    scratchStack.push(mine);
    try { st.fn(); } finally { scratchStack.pop(); }
    for (const o of st.outputs) if (o.grad) pool.drop(o.grad);
    for (const b of st.freeAfter) pool.release(b);
    for (const b of mine) pool.release(b);
  }
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
  if (!gradEnabled) {
    if (probe && !probe.seen) for (const t of inputs) if (t && t.requiresGrad) probe.seen = true;
    return false;
  }
  for (const t of inputs) if (t && t.requiresGrad) return true;
  return false;
}

// set while a checkpointed block runs without the tape: did any op see an input that requires grad?
let probe: { seen: boolean } | null = null;

/** Run fn with the tape off; also report whether any op inside got an input that requires grad. */
export function noGradProbed<T>(fn: () => T): { result: T; wanted: boolean } {
  const prev = probe;
  probe = { seen: false };
  try {
    const result = noGrad(fn);
    return { result, wanted: probe.seen };
  } finally { probe = prev; }
}

/** Run fn with the tape on and a tape of its own: its result and the closures it recorded (the outer tape is kept). */
export function recordSeparately<T>(fn: () => T): { result: T; steps: TapeStep[] } {
  const outer = tape, prevEnabled = gradEnabled;
  tape = [];
  gradEnabled = true;
  try {
    const result = fn();
    return { result, steps: tape };
  } finally {
    tape = outer;
    gradEnabled = prevEnabled;
  }
}

/** A seeded random source whose state can be read and put back (for recomputing dropout masks exactly). */
export interface RandomSource {
  getState(): number[];
  setState(s: readonly number[]): void;
}

// open recompute regions: each notes the state of every random source before its first draw in the region
const randomWatch: Map<RandomSource, number[]>[] = [];

/** Ops call this before drawing from r (dropout), so a checkpointed block can draw the same numbers again. */
export function beforeRandom(r: RandomSource): void {
  for (const m of randomWatch) if (!m.has(r)) m.set(r, r.getState());
}

/** Run fn noting the random sources it draws from: the map holds each one's state before its first draw. */
export function watchRandom<T>(fn: () => T): { result: T; states: Map<RandomSource, number[]> } {
  const states = new Map<RandomSource, number[]>();
  randomWatch.push(states);
  try { return { result: fn(), states }; } finally { randomWatch.splice(randomWatch.indexOf(states), 1); }
}

/** Backpropagate from a scalar loss: d loss / d loss = 1, then replay the tape in reverse and clear it. */
export function backward(loss: Tensor): void {
  if (loss.size !== 1) throw new Error(`backward(): loss must be a scalar, got shape [${loss.shape}]`);
  loss.ensureGrad()[0] = 1;
  const steps = tape;
  tape = [];
  runTape(steps);
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

// ---- memory plan ----

const nothing = (): void => {};

/** kernels that compute nothing: every loop skipped, sumSquares 0; populate (paging memory in) still runs */
function shapeOnly(k: Kernels): Kernels {
  return new Proxy(k, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver);
      if (typeof v !== 'function' || prop === 'populate') return typeof v === 'function' ? v.bind(target) : v;
      return prop === 'sumSquares' ? () => 0 : nothing;
    },
  });
}

/**
 * Lay out a training step's memory before the step runs: `step` (forward, loss, backward of one micro-batch, as the
 * trainer runs it) runs with kernels that compute nothing, inside a buffer scope, so every buffer the real step will
 * take — activations, their gradients, backward scratch — is allocated and paged in now, then left in the pool for
 * step 1 to take. What XLA does with a compiled program's buffer assignment, done here by following the same code over
 * shapes alone: the plan is exact for that batch shape (a longer batch later takes its extra buffers then).
 * `passes` (default 2): the later passes take the buffers the first left (they make nothing) and run the step's own
 * TypeScript (the ops' bookkeeping, the tape) once more: with one pass the tiny GPT's step 1 was still 1.09–1.26× its
 * median (8 processes), with two 0.94–1.09× (V8 compiling the ops' code, we take it). No arithmetic in any pass.
 * Nothing else changes: no parameter, no random source (dropout's draws are put back); trainable parameters'
 * gradient buffers are taken but written by nothing (kernels skipped), and a step zeroes them first anyway.
 * Returns the milliseconds spent and the bytes the pool holds after it.
 */
export function planStepMemory(step: () => void, passes = 2): { ms: number; bytes: number } {
  const t0 = performance.now();
  const real = active, realJs = jsKernels;
  if (!real || !realJs) throw new Error('no backend loaded: import "src/engine/index.js" first');
  const outer = tape;
  active = shapeOnly(real);
  jsKernels = shapeOnly(realJs);
  try {
    for (let i = 0; i < passes; i++) {
      tape = [];
      const mark = pool.open();
      try {
        const { states } = watchRandom(step);
        for (const [r, st] of states) r.setState(st);
      } finally {
        pool.close(mark);
      }
    }
  } finally {
    tape = outer;
    active = real;
    jsKernels = realJs;
  }
  return { ms: performance.now() - t0, bytes: pool.heldBytes };
}
