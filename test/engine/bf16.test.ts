// bfloat16 frozen weights (--base-dtype bf16): the kernels widen the weight and never round the activations, so every
// product equals the float32 one with the weight widened beforehand: bit for bit on js, and on native wherever a block
// keeps each output's whole sum (every linear layer; the LM head's gradient adds row blocks, so there rounding-level
// differences are allowed); native == js; and the ops that read weights (linear, embedding, linearCrossEntropy) give
// the same results and input gradients with a bf16 weight as with its float32 widening. Other uses fail clearly.
import { describe, expect, it } from 'vitest';
import {
  Tensor, add, availableBackends, backward, embedding, jsKernels, linear, linearCrossEntropy, smoothedCrossEntropy,
} from '../../src/engine/index.js';
import { loadNativeKernels } from '../../src/engine/backends/native.js';
import type { Kernels } from '../../src/engine/kernels.js';
import { bf16ToFloat, floatsToBf16 } from '../../src/models/dtypes.js';
import { makeRng, uniform, withBackend } from './gradcheck.js';

const native = loadNativeKernels();
const kernels: [string, Kernels][] = native ? [['js', jsKernels], ['native', native]] : [['js', jsKernels]];

function rand(n: number, seed: number, lo = -1, hi = 1): Float32Array {
  return Float32Array.from(uniform(makeRng(seed), n, lo, hi));
}

/** a random weight as bfloat16 bits and those bits widened to float32 */
function weight(n: number, seed: number): { bits: Uint16Array; wide: Float32Array } {
  const bits = new Uint16Array(n);
  floatsToBf16(rand(n, seed), bits);
  const wide = new Float32Array(n);
  bf16ToFloat(bits, wide);
  return { bits, wide };
}

function maxRel(a: Float32Array, b: Float32Array): number {
  let scale = 0, d = 0;
  for (let i = 0; i < a.length; i++) scale = Math.max(scale, Math.abs(b[i]));
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i] - b[i]));
  return d / scale;
}

describe('gemmBf16 equals gemm with the weight widened beforehand', () => {
  // [M, N, K]: odd edges; several blocks of rows / columns (js blocks at 2^20 floats, native at 2^22); a long K
  // (> 65536: native's row blocks, the LM head's gradient shape)
  const shapes: [number, number, number][] = [[5, 7, 3], [33, 300, 70], [9, 2100, 700], [3, 130, 70000]];
  for (const [name, k] of kernels) {
    for (const [M, N, K] of shapes) {
      for (const transB of [true, false]) {
        it(`${name}: M=${M} N=${N} K=${K} transB=${transB}, beta 0 and 1, offsets`, () => {
          const A = rand(2 + M * K, 1), C0 = rand(3 + M * N, 3);
          const { bits, wide } = weight(N * K, 2);
          for (const beta of [0, 1]) {
            const got = C0.slice(), want = C0.slice();
            if (beta === 0) got.fill(NaN, 3); // beta = 0 ignores C's old contents
            k.gemmBf16(transB, M, N, K, 0.5, A, 2, bits, beta, got, 3);
            k.gemm(false, transB, M, N, K, 0.5, A, 2, wide, 0, beta, want, 3, 1, 0, 0, 0);
            if (name === 'native' && !transB && K > 65536) expect(maxRel(got, want)).toBeLessThan(1e-6);
            else expect(got).toEqual(want);
          }
        });
      }
    }
  }

  it.runIf(!!native)('native equals js (to float32 rounding of the sums)', () => {
    for (const [M, N, K] of shapes.slice(0, 3)) {
      for (const transB of [true, false]) {
        const A = rand(M * K, 4);
        const { bits } = weight(N * K, 5);
        const a = new Float32Array(M * N), b = new Float32Array(M * N);
        native!.gemmBf16(transB, M, N, K, 1, A, 0, bits, 0, a, 0);
        jsKernels.gemmBf16(transB, M, N, K, 1, A, 0, bits, 0, b, 0);
        expect(maxRel(a, b), `M=${M} N=${N} K=${K} transB=${transB}`).toBeLessThan(1e-6);
      }
    }
  });

  it('embeddingForwardBf16 gathers widened rows exactly', () => {
    const [V, C] = [11, 37];
    const { bits, wide } = weight(V * C, 6);
    const ids = Int32Array.from([3, 0, 10, 3]);
    const want = new Float32Array(ids.length * C);
    ids.forEach((id, n) => want.set(wide.subarray(id * C, (id + 1) * C), n * C));
    for (const [, k] of kernels) {
      const out = new Float32Array(ids.length * C).fill(NaN);
      k.embeddingForwardBf16(ids, bits, out, ids.length, C);
      expect(out).toEqual(want);
    }
  });

  it.runIf(!!native)('the native addon names a wrong weight type and size', () => {
    const A = new Float32Array(6), C = new Float32Array(4);
    expect(() => native!.gemmBf16(true, 2, 2, 3, 1, A, 0, new Float32Array(6) as unknown as Uint16Array, 0, C, 0))
      .toThrow(/B must be a Uint16Array \(bfloat16 bits\)/);
    expect(() => native!.gemmBf16(true, 2, 2, 3, 1, A, 0, new Uint16Array(5), 0, C, 0)).toThrow(/B has 5 elements but the sizes given need 6/);
  });
});

describe.each(availableBackends())('ops with a bfloat16 weight on the %s backend', (backend) => {
  const [N, I, O, V] = [6, 40, 24, 29];

  for (const layout of ['out_in', 'in_out'] as const) {
    it(`linear (${layout}, bias): output and input gradient equal those of the widened weight`, () => withBackend(backend, () => {
      const { bits, wide } = weight(I * O, 7);
      const shape = layout === 'out_in' ? [O, I] : [I, O];
      const bias = rand(O, 8);
      const run = (w: Tensor) => {
        const x = new Tensor(rand(N * I, 9), [2, N / 2, I], true);
        const y = linear(x, w, new Tensor(bias.slice(), [O], true), layout);
        backward(smoothedCrossEntropy(y, Int32Array.from({ length: N }, (_, i) => i % O), [0.1, 0.2], 'paper'));
        return { y: y.data as Float32Array, dx: x.grad as Float32Array };
      };
      const got = run(new Tensor(bits, shape, false, 'w'));
      const want = run(new Tensor(wide, shape, false, 'w'));
      expect(got.y).toEqual(want.y);
      expect(got.dx).toEqual(want.dx);
    }));
  }

  it('embedding and linearCrossEntropy (a tied bf16 head, chunked) equal the widened table', () => withBackend(backend, () => {
    const C = 16;
    const { bits, wide } = weight(V * C, 10);
    const ids = Int32Array.from([1, 28, 5, 5, 0, 17]);
    const run = (table: Tensor, fused: boolean) => {
      const h = add(embedding(table, ids, [2, 3]), new Tensor(rand(N * C, 11), [2, 3, C], true)); // (2, 3, C)
      const loss = fused
        ? linearCrossEntropy(h, table, ids, [0.1, 0], 'paper', { chunkRows: 2 })
        : smoothedCrossEntropy(linear(h, table, null, 'out_in'), ids, [0.1, 0], 'paper');
      backward(loss);
      return { loss: loss.item(), dh: h.grad as Float32Array };
    };
    for (const fused of [false, true]) {
      const got = run(new Tensor(bits, [V, C], false, 'embed'), fused);
      const want = run(new Tensor(wide, [V, C], false, 'embed'), fused);
      expect(got.loss, `fused ${fused}`).toBe(want.loss);
      expect(got.dh, `fused ${fused}`).toEqual(want.dh);
    }
  }));
});

describe('bfloat16 tensors are frozen weights only', () => {
  const w = new Tensor(new Uint16Array(12), [3, 4], false, 'model.layers.0.mlp.up_proj.weight');

  it('report their dtype and storage; refuse a gradient, naming the tensor and the fix', () => {
    expect(w.dtype).toBe('bfloat16');
    expect(w.size).toBe(12);
    expect(w.storage.byteLength).toBe(24);
    expect(() => { w.requiresGrad = true; }).toThrow(/up_proj\.weight \[3,4\] is stored as bfloat16 and cannot require a gradient[\s\S]*--base-dtype fp32/);
    expect(() => new Tensor(new Uint16Array(2), [2], true, 'b')).toThrow(/cannot require a gradient/);
  });

  it('other ops fail with an error that says which ops read bfloat16', () => {
    const x = new Tensor(new Float32Array(12), [3, 4]);
    expect(() => add(x, w)).toThrow(/up_proj\.weight \[3,4\] is stored as bfloat16[\s\S]*only linear, embedding and linearCrossEntropy/);
    expect(() => w.view(12)).toThrow(/stored as bfloat16/);
  });

  it('take float32 activations only (float64 is the gradient checks\' dtype)', () => {
    const x64 = new Tensor(new Float64Array(8), [2, 4]);
    expect(() => linear(x64, w, null, 'out_in')).toThrow(/mixed dtypes float64 and bfloat16/);
  });
});
