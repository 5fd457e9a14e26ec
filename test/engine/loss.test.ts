// The training-step numerics: edge-case tables for the smoothed cross-entropy (tinygrad/tfjs/TRL style) against a
// naive float64 transcription of torch_ref.py `smoothed_ce`, then AdamW and gradient clipping against torch's formulas.
import { describe, expect, it } from 'vitest';
import {
  AdamW, Tensor, availableBackends, backward, clipGradNorm, scale, smoothedCrossEntropy,
} from '../../src/engine/index.js';
import { makeRng, relDiff, uniform, withBackend } from './gradcheck.js';

type Style = 'paper' | 'hf';

/** torch_ref.py smoothed_ce, transcribed loop by loop in float64: returns the loss and d loss / d logits */
function naiveSmoothedCE(
  logits: ArrayLike<number>, labels: ArrayLike<number>, eps: ArrayLike<number>, B: number, T: number, V: number, style: Style,
): { loss: number; grad: Float64Array } {
  const grad = new Float64Array(B * T * V);
  let sum = 0, count = 0;
  const toks: { o: number; gold: number; e: number }[] = [];
  for (let b = 0; b < B; b++) for (let t = 0; t < T - 1; t++) {
    const gold = labels[b * T + t + 1];
    if (gold === -100) continue;
    const o = (b * T + t) * V;
    const row = Array.from({ length: V }, (_, v) => logits[o + v]);
    const m = Math.max(...row);
    const lse = m + Math.log(row.reduce((a, x) => a + Math.exp(x - m), 0));
    const logp = row.map((x) => x - lse);
    const e = eps[b];
    const others = logp.reduce((a, x) => a + x, 0) - logp[gold];
    sum += style === 'paper'
      ? -((1 - e) * logp[gold] + (e / (V - 1)) * others)
      : (1 - e) * -logp[gold] + e * -(logp.reduce((a, x) => a + x, 0) / V);
    count++;
    toks.push({ o, gold, e });
  }
  for (const { o, gold, e } of toks) {
    for (let v = 0; v < V; v++) {
      const p = Math.exp(logits[o + v] - Math.max(...Array.from({ length: V }, (_, u) => logits[o + u])));
      grad[o + v] = p;
    }
    const z = grad.subarray(o, o + V).reduce((a, x) => a + x, 0);
    for (let v = 0; v < V; v++) {
      const q = style === 'paper' ? (v === gold ? 1 - e : e / (V - 1)) : (v === gold ? 1 - e : 0) + e / V;
      grad[o + v] = (grad[o + v] / z - q) / count;
    }
  }
  return { loss: count ? sum / count : 0, grad };
}

/** loss and logits gradient from the engine (backward straight from the loss: the buffer-adopting path) */
function engineCE(
  logits: ArrayLike<number>, shape: [number, number, number], labels: number[], eps: number[], style: Style,
  dtype: 'float32' | 'float64' = 'float64',
): { loss: number; grad: Float32Array | Float64Array | null } {
  const l = Tensor.from(logits, shape, dtype, true);
  const loss = smoothedCrossEntropy(l, Int32Array.from(labels), eps, style);
  backward(loss);
  return { loss: loss.item(), grad: l.grad };
}

function randomLabels(seed: number, n: number, V: number, ignoreEvery = 0): number[] {
  const r = makeRng(seed);
  return Array.from({ length: n }, (_, i) => (ignoreEvery && i % ignoreEvery === 0 ? -100 : Math.floor(r() * V)));
}

describe.each(['paper', 'hf'] as const)('smoothedCrossEntropy, %s style', (style) => {
  const [B, T, V] = [2, 5, 7];
  const logits = uniform(makeRng(1), B * T * V, -3, 3);
  const labels = randomLabels(2, B * T, V, 3);

  it('eps = 0 equals plain cross-entropy (mean NLL of the shifted labels)', () => {
    let nll = 0, n = 0;
    for (let b = 0; b < B; b++) for (let t = 0; t < T - 1; t++) {
      const gold = labels[b * T + t + 1];
      if (gold === -100) continue;
      const row = logits.subarray((b * T + t) * V, (b * T + t + 1) * V);
      nll += Math.log(row.reduce((a, x) => a + Math.exp(x), 0)) - row[gold];
      n++;
    }
    expect(engineCE(logits, [B, T, V], labels, [0, 0], style).loss).toBeCloseTo(nll / n, 12);
  });

  it.each([0, 0.01, 0.1, 0.25, 0.5, 0.9, 0.99])('eps sweep %f: loss and gradient match the naive formula', (e) => {
    const want = naiveSmoothedCE(logits, labels, [e, e], B, T, V, style);
    const got = engineCE(logits, [B, T, V], labels, [e, e], style);
    expect(got.loss).toBeCloseTo(want.loss, 12);
    expect(relDiff(got.grad!, want.grad)).toBeLessThan(1e-12);
  });

  it('logits of +-10 stay finite and exact', () => {
    const big = Float64Array.from({ length: B * T * V }, (_, i) => (i % 3 === 0 ? 10 : -10));
    const want = naiveSmoothedCE(big, labels, [0.1, 0.3], B, T, V, style);
    const got = engineCE(big, [B, T, V], labels, [0.1, 0.3], style);
    expect(Number.isFinite(got.loss)).toBe(true);
    expect(got.loss).toBeCloseTo(want.loss, 10);
    expect(relDiff(got.grad!, want.grad)).toBeLessThan(1e-12);
  });

  it('analytic two-token vocabulary', () => {
    // one target: position 0 predicts label 1 (gold) over V = 2 with logits (a, b)
    const [a, b, e] = [0.3, -1.1, 0.2];
    const pGold = 1 / (1 + Math.exp(a - b)), pOther = 1 - pGold;
    const want = style === 'paper'
      ? -(1 - e) * Math.log(pGold) - e * Math.log(pOther)
      : (1 - e) * -Math.log(pGold) + e * -(Math.log(pGold) + Math.log(pOther)) / 2;
    const got = engineCE([a, b, 0, 0], [1, 2, 2], [-100, 1], [e], style);
    expect(got.loss).toBeCloseTo(want, 14);
    // d/d(logit_gold) = p_gold - q_gold with q_gold = 1-e (paper) or 1-e/2 (hf); the last position gets none
    const qGold = style === 'paper' ? 1 - e : 1 - e / 2;
    expect(got.grad![1]).toBeCloseTo(pGold - qGold, 14);
    expect(got.grad![0]).toBeCloseTo(-(pGold - qGold), 14);
    expect([...got.grad!.subarray(2)]).toEqual([0, 0]);
  });

  it('-100 positions are out of both the sum and the divisor', () => {
    // row 0 has targets only at t=1,2; masking t=3 must give the mean of those two tokens alone
    const lab = [5, 1, 2, -100, -100, /* row 1 all ignored */ -100, -100, -100, -100, -100];
    const got = engineCE(logits, [B, T, V], lab, [0.1, 0.1], style);
    const tokLoss = (t: number, gold: number) => naiveSmoothedCE(
      logits.subarray(t * V, (t + 2) * V), [-100, gold], [0.1], 1, 2, V, style).loss;
    expect(got.loss).toBeCloseTo((tokLoss(0, 1) + tokLoss(1, 2)) / 2, 12);
    // ignored positions and each row's last position receive exactly zero gradient
    const g = got.grad!;
    for (const t of [2, 3, 4, 5, 6, 7, 8, 9]) expect(g.subarray(t * V, (t + 1) * V).every((x) => x === 0)).toBe(true);
    // and changing their logits changes nothing
    const moved = Float64Array.from(logits);
    for (let i = 2 * V; i < moved.length; i++) moved[i] += 5;
    expect(engineCE(moved, [B, T, V], lab, [0.1, 0.1], style).loss).toBeCloseTo(got.loss, 14);
  });

  it('an all-ignored batch gives loss 0 and a zero gradient, not NaN', () => {
    const got = engineCE(logits, [B, T, V], new Array(B * T).fill(-100), [0.1, 0.2], style);
    expect(got.loss).toBe(0);
    expect(got.grad!.every((x) => x === 0)).toBe(true);
    // labels present only at position 0 of each row: nothing predicts them either
    const first = new Array(B * T).fill(-100);
    first[0] = 3; first[T] = 4;
    expect(engineCE(logits, [B, T, V], first, [0.1, 0.2], style).loss).toBe(0);
  });

  it('per-row eps: each row uses its own epsilon', () => {
    const eps = [0.05, 0.6];
    const want = naiveSmoothedCE(logits, labels, eps, B, T, V, style);
    const got = engineCE(logits, [B, T, V], labels, eps, style);
    expect(got.loss).toBeCloseTo(want.loss, 12);
    expect(relDiff(got.grad!, want.grad)).toBeLessThan(1e-12);
    // and differs from using either value for both rows
    expect(Math.abs(got.loss - engineCE(logits, [B, T, V], labels, [0.05, 0.05], style).loss)).toBeGreaterThan(1e-3);
  });

  it('upstream gradient other than 1 scales, and a second backward accumulates', () => {
    const want = naiveSmoothedCE(logits, labels, [0.1, 0.2], B, T, V, style);
    const l = Tensor.from(logits, [B, T, V], 'float64', true);
    backward(scale(smoothedCrossEntropy(l, Int32Array.from(labels), [0.1, 0.2], style), 2.5));
    expect(relDiff(l.grad!, want.grad.map((x) => 2.5 * x))).toBeLessThan(1e-12);
    backward(smoothedCrossEntropy(l, Int32Array.from(labels), [0.1, 0.2], style));
    expect(relDiff(l.grad!, want.grad.map((x) => 3.5 * x))).toBeLessThan(1e-12);
  });

  describe.each(availableBackends())('float32 on %s', (backend) => {
    it('matches the float64 formula, including +-10 logits and ignored rows', () => {
      withBackend(backend, () => {
        const [b, t, v] = [3, 8, 50];
        const lg = Float64Array.from(uniform(makeRng(4), b * t * v, -10, 10));
        const lab = randomLabels(5, b * t, v, 4);
        const eps = [0.1, 0, 0.45];
        const want = naiveSmoothedCE(lg, lab, eps, b, t, v, style);
        const got = engineCE(lg, [b, t, v], lab, eps, style, 'float32');
        expect(got.grad).toBeInstanceOf(Float32Array);
        expect(Math.abs(got.loss - want.loss) / want.loss).toBeLessThan(1e-5);
        expect(relDiff(got.grad!, want.grad)).toBeLessThan(1e-4);
        // without a gradient the kernel skips dlogits entirely; the loss is the same
        const frozen = smoothedCrossEntropy(Tensor.from(lg, [b, t, v]), Int32Array.from(lab), eps, style);
        expect(frozen.requiresGrad).toBe(false);
        expect(frozen.item()).toBe(got.loss);
      });
    });
  });
});

describe('smoothedCrossEntropy input validation', () => {
  const l = Tensor.zeros([1, 3, 4]);
  it('rejects labels outside [0, V) that are not -100', () => {
    expect(() => smoothedCrossEntropy(l, Int32Array.from([0, 4, 1]), [0], 'paper')).toThrow(/label 4 at row 0, position 1/);
    expect(() => smoothedCrossEntropy(l, Int32Array.from([0, -1, 1]), [0], 'paper')).toThrow(/label -1/);
  });
  it('rejects a wrong number of labels or epsilons, and epsilon outside [0, 1)', () => {
    expect(() => smoothedCrossEntropy(l, Int32Array.from([0, 1]), [0], 'paper')).toThrow(/2 labels/);
    expect(() => smoothedCrossEntropy(l, Int32Array.from([0, 1, 2]), [0, 0], 'paper')).toThrow(/2 epsilon values/);
    expect(() => smoothedCrossEntropy(l, Int32Array.from([0, 1, 2]), [1], 'paper')).toThrow(/epsilon of row 0 is 1/);
    expect(() => smoothedCrossEntropy(l, Int32Array.from([0, 1, 2]), [NaN], 'hf')).toThrow(/epsilon/);
  });
});

// ---- AdamW and clipping ----

/** torch.optim.AdamW's single-tensor step, written out in float64 */
function torchAdamW(p: number[], grads: number[][], lr: number, b1: number, b2: number, eps: number, wd: number): number[] {
  const x = [...p], m = p.map(() => 0), v = p.map(() => 0);
  grads.forEach((g, s) => {
    const step = s + 1;
    for (let i = 0; i < x.length; i++) {
      x[i] *= 1 - lr * wd;
      m[i] += (g[i] - m[i]) * (1 - b1); // exp_avg.lerp_(grad, 1 - beta1)
      v[i] = v[i] * b2 + (1 - b2) * g[i] * g[i];
      const denom = Math.sqrt(v[i]) / Math.sqrt(1 - b2 ** step) + eps;
      x[i] -= (lr / (1 - b1 ** step)) * (m[i] / denom);
    }
  });
  return x;
}

describe('AdamW', () => {
  const n = 9;
  const p0 = [...uniform(makeRng(30), n)];
  const grads = Array.from({ length: 6 }, (_, s) => [...uniform(makeRng(40 + s), n, -2, 2)]);

  it('float64: several steps match torch formula with weight decay, betas and eps', () => {
    const p = Tensor.from(p0, [n], 'float64', true);
    const opt = new AdamW([p], { lr: 0.05, betas: [0.8, 0.95], eps: 1e-6, weightDecay: 0.1 });
    for (const g of grads) { p.grad = Float64Array.from(g); opt.step(); }
    expect(relDiff(p.data, torchAdamW(p0, grads, 0.05, 0.8, 0.95, 1e-6, 0.1))).toBeLessThan(1e-14);
    expect(opt.stepCount).toBe(grads.length);
  });

  it('per-parameter weight decay, a per-step lr override, and params without grads are skipped', () => {
    const w = Tensor.from(p0, [n], 'float64', true); w.name = 'w';
    const bias = Tensor.from(p0, [n], 'float64', true); bias.name = 'b';
    const frozen = Tensor.from(p0, [n], 'float64', true);
    const opt = new AdamW([w, bias, frozen], { lr: 1, weightDecay: (t) => (t.name === 'b' ? 0 : 0.2) });
    for (const g of grads) { w.grad = Float64Array.from(g); bias.grad = Float64Array.from(g); opt.step(0.01); }
    expect(relDiff(w.data, torchAdamW(p0, grads, 0.01, 0.9, 0.999, 1e-8, 0.2))).toBeLessThan(1e-14);
    expect(relDiff(bias.data, torchAdamW(p0, grads, 0.01, 0.9, 0.999, 1e-8, 0))).toBeLessThan(1e-14);
    expect([...frozen.data]).toEqual(p0);
  });

  it('resuming from stateDict continues exactly where it stopped', () => {
    const straight = Tensor.from(p0, [n], 'float64', true);
    const a = new AdamW([straight], { lr: 0.01, weightDecay: 0.05 });
    for (const g of grads) { straight.grad = Float64Array.from(g); a.step(); }

    const p = Tensor.from(p0, [n], 'float32', true);
    const first = new AdamW([p], { lr: 0.01, weightDecay: 0.05 });
    for (const g of grads.slice(0, 3)) { p.grad = Float32Array.from(g); first.step(); }
    const saved = first.stateDict();
    const copy = { step: saved.step, m: saved.m.map((x) => x.slice()), v: saved.v.map((x) => x.slice()) };
    const resumed = new AdamW([p], { lr: 0.01, weightDecay: 0.05 });
    resumed.loadStateDict(copy);
    expect(resumed.stepCount).toBe(3);
    for (const g of grads.slice(3)) { p.grad = Float32Array.from(g); resumed.step(); }
    expect(relDiff(p.data, straight.data)).toBeLessThan(1e-6);
    expect(() => resumed.loadStateDict({ step: 1, m: [], v: [] })).toThrow(/0 moments for 1 parameters/);
  });

  it('zeroGrad keeps the buffers (views share them) and zeroes them', () => {
    const p = Tensor.from([1, 2, 3, 4], [2, 2], 'float32', true);
    const view = p.view(4);
    p.grad!.fill(3);
    new AdamW([p], { lr: 0.1 }).zeroGrad();
    expect(view.grad).toBe(p.grad);
    expect([...p.grad!]).toEqual([0, 0, 0, 0]);
  });

  it('a parameter listed twice is stepped once', () => {
    const p = Tensor.from(p0, [n], 'float64', true);
    const opt = new AdamW([p, p], { lr: 0.01, weightDecay: 0 });
    p.grad = Float64Array.from(grads[0]);
    opt.step();
    expect(relDiff(p.data, torchAdamW(p0, grads.slice(0, 1), 0.01, 0.9, 0.999, 1e-8, 0))).toBeLessThan(1e-14);
  });

  describe.each(availableBackends())('float32 on %s', (backend) => {
    it('matches the float64 torch formula', () => {
      withBackend(backend, () => {
        const big = [...uniform(makeRng(50), 1000)];
        const gs = Array.from({ length: 4 }, (_, s) => [...uniform(makeRng(60 + s), 1000, -1, 1)]);
        const p = Tensor.from(big, [1000], 'float32', true);
        const opt = new AdamW([p], { lr: 1e-3, weightDecay: 0.1 });
        for (const g of gs) { p.grad = Float32Array.from(g); opt.step(); }
        expect(relDiff(p.data, torchAdamW(big, gs, 1e-3, 0.9, 0.999, 1e-8, 0.1))).toBeLessThan(1e-6);
      });
    });
  });
});

describe('clipGradNorm', () => {
  it('returns the global norm and scales all gradients by maxNorm / (norm + 1e-6) when above', () => {
    const a = Tensor.from([0, 0], [2], 'float32', true), b = Tensor.from([0], [1], 'float64', true);
    a.grad = Float32Array.from([3, 0]);
    b.grad = Float64Array.from([4]);
    const none = Tensor.zeros([3], 'float32', true); // no gradient: ignored
    expect(clipGradNorm([a, b, none], 1)).toBeCloseTo(5, 12);
    const coef = 1 / (5 + 1e-6);
    expect(a.grad[0]).toBeCloseTo(3 * coef, 6);
    expect(b.grad[0]).toBeCloseTo(4 * coef, 12);
    expect(none.grad).toBeNull();
  });

  it('leaves gradients untouched below the limit, and counts a shared buffer once', () => {
    const a = Tensor.from([0, 0], [2], 'float64', true);
    a.grad = Float64Array.from([0.3, 0.4]);
    const tied = a.view(2, 1);
    expect(clipGradNorm([a, tied], 1)).toBeCloseTo(0.5, 14);
    expect([...a.grad]).toEqual([0.3, 0.4]);
  });
});
