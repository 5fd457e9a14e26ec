// The fused, chunked LM head + smoothed cross-entropy against the unfused pair it replaces (linear, then
// smoothedCrossEntropy): same loss and same gradients for the hidden states and the head weight, on every backend,
// for both eps styles, per-row epsilon, ignored positions, tied and frozen heads, any chunk size; plus finite
// differences in float64.
import { describe, expect, it } from 'vitest';
import {
  Tensor, add, availableBackends, backward, embedding, linear, linearCrossEntropy, smoothedCrossEntropy,
  defaultChunkRows,
} from '../../src/engine/index.js';
import { gradcheck, makeRng, spec, uniform, withBackend } from './gradcheck.js';
import { expectSameHead, runHead, type HeadRun } from './head.js';

type Style = 'paper' | 'hf';
type DType = 'float32' | 'float64';

const [B, T, C, V] = [3, 7, 8, 37];
const hiddenData = uniform(makeRng(11), B * T * C, -2, 2);
const weightData = uniform(makeRng(12), V * C, -1, 1);
const EPS = [0.1, 0, 0.45];

/** labels with -100 at every `ignoreEvery`-th position (0: none) */
function labelsFor(seed: number, ignoreEvery: number): Int32Array {
  const r = makeRng(seed);
  return Int32Array.from({ length: B * T }, (_, i) => (ignoreEvery && i % ignoreEvery === 0 ? -100 : Math.floor(r() * V)));
}

type Run = HeadRun;
const head = { hidden: hiddenData, weight: weightData, B, T, C, V };

/** loss and gradients through either path; `upstream` scales the loss before backward (gradient accumulation) */
function run(
  fused: boolean, dtype: DType, labels: Int32Array, style: Style,
  o: { chunkRows?: number; upstream?: number; frozenHead?: boolean; eps?: number[] } = {},
): Run {
  return runHead(head, fused, dtype, labels, { ...o, style, eps: o.eps ?? EPS });
}

const expectSame = expectSameHead;

describe.each(availableBackends())('linearCrossEntropy equals linear + smoothedCrossEntropy on %s', (backend) => {
  const dtypes: DType[] = backend === 'native' ? ['float32'] : ['float32', 'float64'];
  describe.each(dtypes)('%s', (dtype) => {
    const tol = dtype === 'float64' ? 1e-12 : 1e-6;
    const labels = labelsFor(3, 4);
    // 14 of the 21 positions have a target: chunks of 1, 3 and 5 do not divide it, 7 and 14 do, 64 is one chunk
    it.each([
      ['paper', 1], ['paper', 3], ['paper', 5], ['paper', 7], ['paper', 64],
      ['hf', 1], ['hf', 3], ['hf', 14], ['hf', 64],
    ] as [Style, number][])('%s style, chunks of %i positions', (style, chunkRows) => {
      withBackend(backend, () => {
        expectSame(run(true, dtype, labels, style, { chunkRows }), run(false, dtype, labels, style), tol);
      });
    });

    it.each(['paper', 'hf'] as Style[])('%s: an upstream gradient other than 1 scales; a frozen head gets no gradient', (style) => {
      withBackend(backend, () => {
        expectSame(run(true, dtype, labels, style, { chunkRows: 4, upstream: 0.37 }),
          run(false, dtype, labels, style, { upstream: 0.37 }), tol);
        const frozen = run(true, dtype, labels, style, { chunkRows: 4, frozenHead: true });
        expect(frozen.dw).toBeNull();
        expectSame(frozen, run(false, dtype, labels, style, { frozenHead: true }), tol);
      });
    });

    it('per-row epsilon: the fused loss follows each row\'s own value', () => {
      withBackend(backend, () => {
        const noIgnore = labelsFor(5, 0);
        const a = run(true, dtype, noIgnore, 'paper', { chunkRows: 2, eps: [0.05, 0.6, 0.3] });
        expectSame(a, run(false, dtype, noIgnore, 'paper', { eps: [0.05, 0.6, 0.3] }), tol);
        expect(Math.abs(a.loss - run(true, dtype, noIgnore, 'paper', { eps: [0.05, 0.05, 0.05] }).loss)).toBeGreaterThan(1e-3);
      });
    });

    it('a tied head (the embedding table is also the head) receives both gradients', () => {
      withBackend(backend, () => {
        const ids = Int32Array.from({ length: B * T }, (_, i) => (i * 5) % V);
        const labels = labelsFor(6, 3);
        const tied = (fused: boolean): Run => {
          const w = Tensor.from(weightData, [V, C], dtype, true);
          const extra = Tensor.from(hiddenData, [B, T, C], dtype, true);
          const h = add(embedding(w, ids, [B, T]), extra); // (B, T, C)
          const loss = fused
            ? linearCrossEntropy(h, w, labels, EPS, 'hf', { chunkRows: 3 })
            : smoothedCrossEntropy(linear(h, w, null, 'out_in'), labels, EPS, 'hf');
          backward(loss);
          return { loss: loss.item(), dh: extra.grad, dw: w.grad };
        };
        expectSame(tied(true), tied(false), tol);
      });
    });

    it('no targets at all: loss 0 and zero gradients, not NaN', () => {
      withBackend(backend, () => {
        const none = new Int32Array(B * T).fill(-100);
        const r = run(true, dtype, none, 'paper', { chunkRows: 2 });
        expect(r.loss).toBe(0);
        expect(Array.from(r.dh!).every((x) => x === 0)).toBe(true);
        expect(Array.from(r.dw!).every((x) => x === 0)).toBe(true);
      });
    });
  });
});

describe('linearCrossEntropy gradients by finite differences (float64)', () => {
  it.each(['paper', 'hf'] as Style[])('%s style, chunks of 2 over 3 targets', (style) => {
    const rng = makeRng(21);
    // B=2, T=3, C=4, V=5; position (0, 1)'s label is ignored, so rows 0..1 have 1 + 2 = 3 targets
    const labels = Int32Array.from([1, -100, 3, 0, 4, 2]);
    const report = gradcheck([spec(rng, [2, 3, 4], -2, 2), spec(rng, [5, 4], -1, 1)],
      ([h, w]) => linearCrossEntropy(h, w, labels, [0.2, 0.05], style, { chunkRows: 2 }));
    expect(report.errors.length).toBe(2);
    expect(report.maxErr).toBeLessThan(1e-7);
  });
});

describe('linearCrossEntropy chunk size and input checks', () => {
  it('the default chunk keeps a chunk\'s logits within 64 MB', () => {
    expect(defaultChunkRows(151936)).toBe(110);
    expect(defaultChunkRows(50257)).toBe(333);
    expect(defaultChunkRows(151936, 8)).toBe(55);
    expect(defaultChunkRows(1e9)).toBe(1);
  });
  it('rejects a head of another width, a bad chunk size and labels outside the vocabulary', () => {
    const h = Tensor.zeros([1, 3, 4]);
    expect(() => linearCrossEntropy(h, Tensor.zeros([5, 3]), Int32Array.from([0, 1, 2]), [0], 'paper'))
      .toThrow(/4 features but head .* expects 3/);
    expect(() => linearCrossEntropy(h, Tensor.zeros([5, 4]), Int32Array.from([0, 1, 2]), [0], 'paper', { chunkRows: 0 }))
      .toThrow(/chunkRows must be a positive integer, got 0/);
    expect(() => linearCrossEntropy(h, Tensor.zeros([5, 4]), Int32Array.from([0, 5, 2]), [0], 'paper'))
      .toThrow(/label 5 at row 0, position 1/);
  });
});
