// Attention's backward without the saved softmax recomputes it from q and k exactly as forward made it: on every
// backend the gradients are bit for bit those of the backward that read the kept probabilities (so the choice of
// keepsProbs() changes memory, never results).
import { describe, expect, it } from 'vitest';
import { jsKernels } from '../../src/engine/backends/js.js';
import { loadNativeKernels } from '../../src/engine/backends/native.js';
import { keepsProbs, type Kernels } from '../../src/engine/index.js';

function randn(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    a[i] = (s / 4294967296) * 4 - 2;
  }
  return a;
}

const native = loadNativeKernels();
const backends: [string, Kernels][] = [['js', jsKernels], ...(native ? [['native', native] as [string, Kernels]] : [])];

describe.each(backends)('attention backward without the saved softmax (%s)', (_name, k) => {
  // [B, Tq, Tk, H, KV, hd]: MHA, GQA, Tq < Tk (a KV cache), and lengths that cross the native 64-row query blocks
  const cases: [number, number, number, number, number, number][] = [
    [2, 9, 9, 4, 4, 8], [2, 9, 9, 4, 2, 8], [1, 3, 11, 4, 2, 16], [1, 150, 150, 2, 1, 32], [2, 70, 100, 4, 2, 16],
  ];
  it.each(cases)('B=%i Tq=%i Tk=%i H=%i KV=%i hd=%i: the same gradients, bit for bit', (B, Tq, Tk, H, KV, hd) => {
    const nq = B * Tq * H * hd, nkv = B * Tk * KV * hd;
    const q = randn(nq, 1), kk = randn(nkv, 2), v = randn(nkv, 3), dout = randn(nq, 4);
    const probs = new Float32Array(B * H * Tq * Tk);
    k.attentionForward(q, kk, v, new Float32Array(nq), probs, B, Tq, Tk, H, KV, hd);
    const grads = (p: Float32Array | null) => {
      const g = [randn(nq, 5), randn(nkv, 6), randn(nkv, 7)]; // accumulated into, as backward does
      k.attentionBackward(dout, q, kk, v, p, g[0], g[1], g[2], B, Tq, Tk, H, KV, hd);
      return g;
    };
    expect(grads(null)).toEqual(grads(probs));
  });

  it('packed q | k | v (GPT-2\'s c_attn): the same gradients, bit for bit', () => {
    const [B, T, H, hd] = [2, 80, 3, 8];
    const n = B * T * H * hd;
    const qkv = randn(3 * n, 8), dout = randn(n, 9);
    const probs = new Float32Array(B * H * T * T);
    k.attentionQkvForward(qkv, new Float32Array(n), probs, B, T, H, hd);
    const grads = (p: Float32Array | null) => {
      const g = randn(3 * n, 10);
      k.attentionQkvBackward(dout, qkv, p, g, B, T, H, hd);
      return g;
    };
    expect(grads(null)).toEqual(grads(probs));
  });
});

it('keepsProbs: the softmax is kept up to twice the attention output (Tk <= 2 hd), recomputed beyond', () => {
  expect([[128, 64], [129, 64], [512, 64], [256, 64], [16, 8], [17, 8]].map(([t, hd]) => keepsProbs(t, hd)))
    .toEqual([true, false, false, false, true, false]);
});
