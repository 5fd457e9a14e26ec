// Parity of the native kernels (C++ / OpenBLAS addon) with the plain-TypeScript reference kernels on random inputs,
// plus naive float64 checks of gemm and cross-entropy that do not lean on the reference. Skipped when not built.
import os from 'node:os';
import { afterAll, describe, expect, it } from 'vitest';
import { jsKernels } from '../../src/engine/backends/js.js';
import { NATIVE_ABI, loadNativeKernels, nativeInfo, setNativeThreads } from '../../src/engine/backends/native.js';
import { EPS_STYLE_HF, EPS_STYLE_PAPER, type Kernels } from '../../src/engine/kernels.js';
import { describeWith } from '../helpers/needs.js';

const native = loadNativeKernels();
const RTOL = 1e-5;
const title = native ? 'native kernels'
  : process.env.UAL_BACKEND === 'js' ? 'native kernels: SKIPPED because UAL_BACKEND=js'
  : 'native kernels: SKIPPED because build/Release/ual_native.node is not built (run node scripts/build-native.mjs)';
if (!native) console.warn(title);

// ---- helpers ----

// mulberry32 + Box-Muller: deterministic inputs without depending on other modules
function rng(seed: number): () => number {
  let s = seed >>> 0;
  const uniform = (): number => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return () => Math.sqrt(-2 * Math.log(1 - uniform())) * Math.cos(2 * Math.PI * uniform());
}

function randn(n: number, seed: number, scale = 1, shift = 0): Float32Array {
  const r = rng(seed);
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = shift + scale * r();
  return a;
}

const worst = new Map<string, number>();

/**
 * |got - want| <= RTOL * (|want| + max|want|) elementwise: relative where values are large, and scaled to the tensor
 * where a value sits near zero after cancellation. Records the largest difference per tensor for the summary.
 */
function expectClose(name: string, got: ArrayLike<number>, want: ArrayLike<number>, rtol = RTOL): void {
  expect(got.length, `${name}: length`).toBe(want.length);
  let scale = 0;
  for (let i = 0; i < want.length; i++) scale = Math.max(scale, Math.abs(want[i]));
  let maxDiff = 0, at = -1, ratio = 0;
  for (let i = 0; i < want.length; i++) {
    const g = got[i], w = want[i];
    if (Number.isNaN(w) || Number.isNaN(g)) {
      expect(Number.isNaN(g) && Number.isNaN(w), `${name}[${i}]: native ${g}, js ${w}`).toBe(true);
      continue;
    }
    const d = Math.abs(g - w);
    const r = d / (rtol * (Math.abs(w) + scale) + 1e-30);
    if (d > maxDiff) maxDiff = d;
    if (r > ratio) { ratio = r; at = i; }
  }
  worst.set(name, Math.max(worst.get(name) ?? 0, maxDiff));
  expect(ratio, `${name}: worst at [${at}] native ${got[at]} vs reference ${want[at]} (max |diff| ${maxDiff})`)
    .toBeLessThanOrEqual(1);
}

/** Run the same call on both backends with private copies of every array, then compare the listed outputs. */
function both(setup: () => Float32Array[], call: (k: Kernels, a: Float32Array[]) => void): [Float32Array[], Float32Array[]] {
  const base = setup();
  const mine = base.map((a) => a.slice());
  const ref = base.map((a) => a.slice());
  call(native!, mine);
  call(jsKernels, ref);
  return [mine, ref];
}

afterAll(() => {
  if (!native || worst.size === 0) return;
  const rows = [...worst].map(([k, v]) => `  ${k.padEnd(44)} ${v.toExponential(2)}`);
  console.log(`native vs js, largest |diff| per tensor (${nativeInfo()?.blas}):\n${rows.join('\n')}`);
});

// ---- tests ----

// the addon is built by npm install (CI's npm ci): missing in CI is a failure, elsewhere a skip
describeWith({ what: 'the native addon (build/Release/ual_native.node)', present: !!native, fix: 'run npm install (needs g++ and make)' }, title, () => {
  it('reports how it was built', () => {
    const info = nativeInfo()!;
    // OpenBLAS names itself in its config string; the portable GEMM says so instead
    expect(info.blas).toMatch(info.openblas ? /^OpenBLAS / : /^portable blocked sgemm/);
    // the addon's default: UAL_THREADS, else every usable core
    const env = Number(process.env.UAL_THREADS);
    expect(info.threads).toBe(env > 0 ? env : os.availableParallelism());
    expect(info.abi).toBe(NATIVE_ABI); // a binary from other sources would not have loaded
    expect(info.flags).toContain('-O3');
    expect(info.flags).not.toContain('fast-math');
    expect(native!.name).toBe('native');
  });

  it('populate maps in every page of a fresh array at once: touching them afterwards costs (almost) no page faults', () => {
    const touch = (a: Float32Array): number => {
      const f0 = process.resourceUsage().minorPageFault;
      for (let i = 0; i < a.length; i += 1024) a[i] = 1;
      return process.resourceUsage().minorPageFault - f0;
    };
    const pages = (64 << 20) / 4096;
    const plain = new Float32Array(16 << 20); // 64 MiB: glibc maps it fresh, so each page faults on first write
    const populated = new Float32Array(16 << 20);
    expect(native!.populate!(populated)).toBe(true); // Linux >= 5.14 has MADV_POPULATE_WRITE
    expect(populated.every((v) => v === 0)).toBe(true);
    expect(touch(plain)).toBeGreaterThan(pages * 0.9);
    expect(touch(populated)).toBeLessThan(pages * 0.05);
    expect(() => native!.populate!(new Float64Array(4) as unknown as Float32Array)).toThrow(/Float32Array/);
  });

  describe('gemm', () => {
    // [M, N, K, batch]: odd sizes hit every edge of the register tile; the large ones cross the portable GEMM's
    // cache blocks (KC 256, MC 144, NC 3072) and its threaded split (on N, then on M)
    const shapes: [number, number, number, number][] = [
      [37, 29, 53, 3], [1, 17, 9, 2], [64, 64, 64, 1], [200, 300, 260, 1], [300, 200, 260, 2], [7, 3100, 20, 1],
    ];
    for (const [M, N, K, batch] of shapes) {
      for (const tA of [false, true]) {
        for (const tB of [false, true]) {
          for (const beta of [0, 0.5]) {
            it(`M=${M} N=${N} K=${K} batch=${batch} transA=${tA} transB=${tB} beta=${beta}`, () => {
              const aOff = 5, bOff = 3, cOff = 7;
              const sA = M * K + 11, sB = K * N + 2, sC = M * N + 13;
              const [[, , C], [, , Cref]] = both(() => {
                const A = randn(aOff + batch * sA, 1);
                const B = randn(bOff + batch * sB, 2);
                // beta = 0 must ignore C's old contents, NaN included
                const C = beta === 0 ? new Float32Array(cOff + batch * sC).fill(NaN) : randn(cOff + batch * sC, 3);
                return [A, B, C];
              }, (k, [A, B, C]) => k.gemm(tA, tB, M, N, K, 0.7, A, aOff, B, bOff, beta, C, cOff, batch, sA, sB, sC));
              if (beta === 0) {
                // every product element is written; the gaps between strided C matrices are left alone (still NaN)
                let nan = 0;
                for (let i = 0; i < C.length; i++) if (Number.isNaN(C[i])) nan++;
                expect(nan).toBe(C.length - batch * M * N);
              }
              expectClose(`gemm ${M}x${N}x${K} t${+tA}${+tB} beta=${beta}`, C, Cref);
            });
          }
        }
      }
    }

    it('matches a naive float64 product (independent of the js reference)', () => {
      const M = 23, N = 31, K = 45;
      for (const [tA, tB] of [[false, false], [true, false], [false, true], [true, true]] as const) {
        const A = randn(M * K, 4), B = randn(K * N, 5), C = randn(M * N, 6);
        const want = new Float64Array(M * N);
        for (let i = 0; i < M; i++)
          for (let j = 0; j < N; j++) {
            let s = 0;
            for (let p = 0; p < K; p++) s += (tA ? A[p * M + i] : A[i * K + p]) * (tB ? B[j * K + p] : B[p * N + j]);
            want[i * N + j] = -1.5 * s + 0.25 * C[i * N + j];
          }
        native!.gemm(tA, tB, M, N, K, -1.5, A, 0, B, 0, 0.25, C, 0, 1, 0, 0, 0);
        expectClose(`gemm naive t${+tA}${+tB}`, C, want);
      }
    });

    it('broadcasts B with strideB = 0 and handles K = 0 (C = beta * C)', () => {
      const [[, , C], [, , Cref]] = both(() => [randn(3 * 8 * 5, 7), randn(5 * 6, 8), new Float32Array(3 * 8 * 6)],
        (k, [A, B, C]) => k.gemm(false, false, 8, 6, 5, 1, A, 0, B, 0, 0, C, 0, 3, 40, 0, 48));
      expectClose('gemm strideB=0', C, Cref);
      const C0 = new Float32Array([1, 2, 3, NaN]);
      native!.gemm(false, false, 2, 2, 0, 1, new Float32Array(0), 0, new Float32Array(0), 0, 2, C0, 0, 1, 0, 0, 0);
      expect([...C0.subarray(0, 3)]).toEqual([2, 4, 6]);
      const C1 = new Float32Array(4).fill(NaN);
      native!.gemm(false, false, 2, 2, 0, 1, new Float32Array(0), 0, new Float32Array(0), 0, 0, C1, 0, 1, 0, 0, 0);
      expect([...C1]).toEqual([0, 0, 0, 0]);
    });

    it('gives the same product on 1 thread as on the default count', () => {
      const threads = nativeInfo()!.threads;
      const A = randn(256 * 320, 9), B = randn(320 * 384, 10);
      const C1 = new Float32Array(256 * 384), C2 = new Float32Array(256 * 384);
      native!.gemm(false, true, 256, 384, 320, 1, A, 0, B, 0, 0, C1, 0, 1, 0, 0, 0);
      setNativeThreads(1);
      try {
        expect(nativeInfo()!.threads).toBe(1);
        native!.gemm(false, true, 256, 384, 320, 1, A, 0, B, 0, 0, C2, 0, 1, 0, 0, 0);
      } finally {
        setNativeThreads(threads);
      }
      expectClose('gemm 1 thread vs default', C2, C1);
    });
  });

  describe('norms', () => {
    // the last shape has several blocks of the native weight-gradient reduction and several pool chunks
    for (const [N, C] of [[13, 67], [4, 768], [300, 256]]) {
      it(`layernorm N=${N} C=${C}`, () => {
        const [fw, fwRef] = both(() => [randn(N * C, 11, 2, 3), randn(C, 12, 0.5, 1), randn(C, 13), new Float32Array(N * C),
          new Float32Array(N), new Float32Array(N)],
        (k, [x, w, b, out, mean, rstd]) => k.layernormForward(x, w, b, out, mean, rstd, N, C, 1e-5));
        expectClose('layernorm out', fw[3], fwRef[3]);
        expectClose('layernorm mean', fw[4], fwRef[4]);
        expectClose('layernorm rstd', fw[5], fwRef[5]);
        // backward accumulates: gradients start non-zero
        const [bw, bwRef] = both(() => [randn(N * C, 14), fwRef[0], fwRef[1], fwRef[4], fwRef[5], randn(N * C, 15),
          randn(C, 16), randn(C, 17)],
        (k, [dout, x, w, mean, rstd, dx, dw, db]) => k.layernormBackward(dout, x, w, mean, rstd, dx, dw, db, N, C));
        expectClose('layernorm dx', bw[5], bwRef[5]);
        expectClose('layernorm dw', bw[6], bwRef[6]);
        expectClose('layernorm db', bw[7], bwRef[7]);
      });

      it(`rmsnorm N=${N} C=${C}`, () => {
        const [fw, fwRef] = both(() => [randn(N * C, 21, 2, 0.5), randn(C, 22, 0.5, 1), new Float32Array(N * C), new Float32Array(N)],
          (k, [x, w, out, rstd]) => k.rmsnormForward(x, w, out, rstd, N, C, 1e-6));
        expectClose('rmsnorm out', fw[2], fwRef[2]);
        expectClose('rmsnorm rstd', fw[3], fwRef[3]);
        const [bw, bwRef] = both(() => [randn(N * C, 23), fwRef[0], fwRef[1], fwRef[3], randn(N * C, 24), randn(C, 25)],
          (k, [dout, x, w, rstd, dx, dw]) => k.rmsnormBackward(dout, x, w, rstd, dx, dw, N, C));
        expectClose('rmsnorm dx', bw[4], bwRef[4]);
        expectClose('rmsnorm dw', bw[5], bwRef[5]);
      });
    }
  });

  describe('activations', () => {
    // wide range plus the values where tanh/exp saturate, and a length that is not a multiple of the vector width
    const special = [0, -0, 1e-4, -1e-4, 5, -5, 10, -10, 20, -20, 45, -45, 100, -100, 88, -88, 1e-30];
    const input = (seed: number): Float32Array => {
      const x = randn(1003, seed, 3);
      x.set(special, 0);
      return x;
    };

    it('gelu (tanh) forward and backward', () => {
      const n = 1003;
      const [f, fRef] = both(() => [input(31), new Float32Array(n)], (k, [x, out]) => k.geluForward(x, out, n));
      expectClose('gelu out', f[1], fRef[1]);
      const [b, bRef] = both(() => [randn(n, 32), input(31), randn(n, 33)], (k, [dout, x, dx]) => k.geluBackward(dout, x, dx, n));
      expectClose('gelu dx', b[2], bRef[2]);
    });

    it('biasGelu forward and backward (rows over several reduction blocks)', () => {
      const N = 2000, C = 37;
      const x = (): Float32Array => { const a = randn(N * C, 34, 3); a.set(special, 0); return a; };
      const [f, fRef] = both(() => [x(), randn(C, 35), new Float32Array(N * C)],
        (k, [xx, b, out]) => k.biasGeluForward(xx, b, out, N, C));
      expectClose('biasGelu out', f[2], fRef[2]);
      const [b, bRef] = both(() => [randn(N * C, 36), x(), randn(C, 35), randn(N * C, 37), randn(C, 38)],
        (k, [dout, xx, bias, dx, db]) => k.biasGeluBackward(dout, xx, bias, dx, db, N, C));
      expectClose('biasGelu dx', b[3], bRef[3]);
      expectClose('biasGelu db', b[4], bRef[4]);
    });

    it('swiglu forward and backward', () => {
      const n = 1003;
      const [f, fRef] = both(() => [input(41), randn(n, 42), new Float32Array(n)],
        (k, [g, u, out]) => k.swigluForward(g, u, out, n));
      expectClose('swiglu out', f[2], fRef[2]);
      const [b, bRef] = both(() => [randn(n, 43), input(41), randn(n, 42), randn(n, 44), randn(n, 45)],
        (k, [dout, g, u, dg, du]) => k.swigluBackward(dout, g, u, dg, du, n));
      expectClose('swiglu dgate', b[3], bRef[3]);
      expectClose('swiglu dup', b[4], bRef[4]);
    });
  });

  describe('rope', () => {
    const cases: [number, number, number, number, number, number][] = [
      [2, 7, 3, 16, 5, 10000], [1, 33, 2, 64, 1000, 1e6], [1, 4, 1, 128, 70000, 500000],
    ];
    for (const [B, T, H, hd, pos0, theta] of cases) {
      it(`B=${B} T=${T} H=${H} hd=${hd} pos0=${pos0} theta=${theta}`, () => {
        const n = B * T * H * hd;
        const [f, fRef] = both(() => [randn(n, 51), new Float32Array(n)],
          (k, [x, out]) => k.ropeForward(x, out, B, T, H, hd, pos0, theta));
        expectClose('rope out', f[1], fRef[1]);
        const [b, bRef] = both(() => [randn(n, 52), randn(n, 53)], (k, [dout, dx]) => k.ropeBackward(dout, dx, B, T, H, hd, pos0, theta));
        expectClose('rope dx', b[1], bRef[1]);
        // backward is the exact transpose of forward: <dout, R x> = <R^T dout, x>
        const x = randn(n, 54), dout = randn(n, 55), y = new Float32Array(n), g = new Float32Array(n);
        native!.ropeForward(x, y, B, T, H, hd, pos0, theta);
        native!.ropeBackward(dout, g, B, T, H, hd, pos0, theta);
        let lhs = 0, rhs = 0;
        for (let i = 0; i < n; i++) { lhs += dout[i] * y[i]; rhs += g[i] * x[i]; }
        expect(Math.abs(lhs - rhs)).toBeLessThan(1e-4 * Math.sqrt(n));
      });
    }
  });

  describe('attention', () => {
    // [B, Tq, Tk, H, KV, hd]: MHA, GQA (H=4 KV=2), Tq < Tk (KV cache), single-token decode, and lengths that cross
    // the 64-row query blocks
    const cases: [number, number, number, number, number, number][] = [
      [2, 9, 9, 4, 4, 8], [2, 9, 9, 4, 2, 8], [1, 3, 11, 4, 2, 16], [1, 1, 20, 2, 1, 8],
      [1, 150, 150, 2, 1, 32], [2, 70, 100, 4, 2, 16],
    ];
    for (const [B, Tq, Tk, H, KV, hd] of cases) {
      it(`B=${B} Tq=${Tq} Tk=${Tk} H=${H} KV=${KV} hd=${hd}`, () => {
        const nq = B * Tq * H * hd, nkv = B * Tk * KV * hd, np = B * H * Tq * Tk;
        const [f, fRef] = both(() => [randn(nq, 61), randn(nkv, 62), randn(nkv, 63), new Float32Array(nq), new Float32Array(np).fill(NaN)],
          (k, [q, kk, v, out, probs]) => k.attentionForward(q, kk, v, out, probs, B, Tq, Tk, H, KV, hd));
        expectClose('attention out', f[3], fRef[3]);
        expectClose('attention probs', f[4], fRef[4]);
        // no probs (inference): same output
        const out2 = new Float32Array(nq);
        native!.attentionForward(f[0], f[1], f[2], out2, null, B, Tq, Tk, H, KV, hd);
        expectClose('attention out (probs null)', out2, f[3]);

        const [b, bRef] = both(() => [randn(nq, 64), fRef[0], fRef[1], fRef[2], fRef[4], randn(nq, 65), randn(nkv, 66), randn(nkv, 67)],
          (k, [dout, q, kk, v, probs, dq, dk, dv]) => k.attentionBackward(dout, q, kk, v, probs, dq, dk, dv, B, Tq, Tk, H, KV, hd));
        expectClose('attention dq', b[5], bRef[5]);
        expectClose('attention dk', b[6], bRef[6]);
        expectClose('attention dv', b[7], bRef[7]);
      });
    }
  });

  describe('attentionQkv (q | k | v packed per position)', () => {
    for (const [B, T, H, hd] of [[2, 9, 4, 8], [1, 150, 2, 32], [3, 70, 4, 16]]) {
      it(`B=${B} T=${T} H=${H} hd=${hd}`, () => {
        const n = B * T * H * hd, np = B * H * T * T;
        const [f, fRef] = both(() => [randn(3 * n, 68), new Float32Array(n), new Float32Array(np).fill(NaN)],
          (k, [qkv, out, probs]) => k.attentionQkvForward(qkv, out, probs, B, T, H, hd));
        expectClose('attentionQkv out', f[1], fRef[1]);
        expectClose('attentionQkv probs', f[2], fRef[2]);
        const [b, bRef] = both(() => [randn(n, 69), fRef[0], fRef[2], randn(3 * n, 70)],
          (k, [dout, qkv, probs, dqkv]) => k.attentionQkvBackward(dout, qkv, probs, dqkv, B, T, H, hd));
        expectClose('attentionQkv dqkv', b[3], bRef[3]);
        // the same numbers as attention on the three parts copied out
        const C = H * hd, qkv = fRef[0];
        const [q, kk, v] = [0, 1, 2].map((p) => {
          const a = new Float32Array(n);
          for (let r = 0; r < B * T; r++) a.set(qkv.subarray(r * 3 * C + p * C, r * 3 * C + (p + 1) * C), r * C);
          return a;
        });
        const out = new Float32Array(n);
        native!.attentionForward(q, kk, v, out, null, B, T, T, H, H, hd);
        expectClose('attentionQkv out vs attention', f[1], out, 0);
      });
    }
  });

  describe('residual adds', () => {
    it('addRows broadcasts b over rows, across chunk boundaries, exactly', () => {
      for (const [n, m] of [[49000, 7000], [40000, 40000], [60, 4], [0, 5]]) {
        const [r, rRef] = both(() => [randn(n, 141), randn(m, 142), new Float32Array(n)],
          (k, [a, b, out]) => k.addRows(a, b, out, n, m));
        expect(r[2]).toEqual(rRef[2]);
      }
    });

    it('axpy adds exactly when alpha is 1, and scales otherwise', () => {
      const n = 50001;
      const [r, rRef] = both(() => [randn(n, 143), randn(n, 144)], (k, [x, y]) => k.axpy(1, x, y, n));
      expect(r[1]).toEqual(rRef[1]);
      const [s2, sRef] = both(() => [randn(n, 145), randn(n, 146)], (k, [x, y]) => k.axpy(-0.3, x, y, n));
      expectClose('axpy alpha', s2[1], sRef[1]);
    });

    it('rejects an n that is not a multiple of m', () => {
      expect(() => native!.addRows(new Float32Array(5), new Float32Array(2), new Float32Array(5), 5, 2)).toThrow(/multiple of m/);
    });
  });

  it('gives identical bits on one thread and on the pool (fixed chunking, no thread-dependent sums)', () => {
    const threads = nativeInfo()!.threads;
    const run = (): Float32Array[] => {
      const k = native!;
      const N = 512, C = 256, B = 2, T = 130, H = 4, hd = 16, n = B * T * H * hd;
      const x = randn(N * C, 151), w = randn(C, 152, 0.5, 1), b = randn(C, 153), dout = randn(N * C, 154);
      const mean = new Float32Array(N), rstd = new Float32Array(N), y = new Float32Array(N * C);
      k.layernormForward(x, w, b, y, mean, rstd, N, C, 1e-5);
      const dx = new Float32Array(N * C), dw = new Float32Array(C), db = new Float32Array(C);
      k.layernormBackward(dout, x, w, mean, rstd, dx, dw, db, N, C);
      const rdx = new Float32Array(N * C), rdw = new Float32Array(C);
      k.rmsnormBackward(dout, x, w, rstd, rdx, rdw, N, C);
      const g = new Float32Array(N * C), gdx = new Float32Array(N * C), gdb = new Float32Array(C);
      k.biasGeluForward(x, b, g, N, C);
      k.biasGeluBackward(dout, x, b, gdx, gdb, N, C);
      const qkv = randn(3 * n, 155), out = new Float32Array(n), probs = new Float32Array(B * H * T * T);
      k.attentionQkvForward(qkv, out, probs, B, T, H, hd);
      const dqkv = new Float32Array(3 * n);
      k.attentionQkvBackward(randn(n, 156), qkv, probs, dqkv, B, T, H, hd);
      const C2 = new Float32Array(300 * 200);
      k.gemm(true, false, 300, 200, 500, 1, randn(500 * 300, 157), 0, randn(500 * 200, 158), 0, 0, C2, 0, 1, 0, 0, 0);
      const losses = new Float32Array(N), dl = new Float32Array(N * C);
      k.crossEntropy(x, Int32Array.from({ length: N }, (_, i) => (i * 7) % C), new Float32Array(N).fill(0.1), N, C, 0, losses, dl, 0.5);
      return [y, mean, rstd, dx, dw, db, rdx, rdw, g, gdx, gdb, out, probs, dqkv, C2, losses, dl];
    };
    const pooled = run();
    setNativeThreads(1);
    let single: Float32Array[];
    try { single = run(); } finally { setNativeThreads(threads); }
    pooled.forEach((a, i) => expect(a, `output ${i}`).toEqual(single[i]));
  });

  it('embedding forward and backward (repeated ids scatter-add)', () => {
    const V = 50, C = 37, N = 40;
    const ids = new Int32Array(N);
    for (let i = 0; i < N; i++) ids[i] = (i * 7) % 13; // many repeats
    const [f, fRef] = both(() => [randn(V * C, 71), new Float32Array(N * C)], (k, [table, out]) => k.embeddingForward(ids, table, out, N, C));
    expectClose('embedding out', f[1], fRef[1]);
    const [b, bRef] = both(() => [randn(N * C, 72), randn(V * C, 73)], (k, [dout, dtable]) => k.embeddingBackward(ids, dout, dtable, N, C));
    expectClose('embedding dtable', b[1], bRef[1]);
  });

  describe('crossEntropy', () => {
    const N = 12, V = 1000;
    // ignored rows: -100 (HF convention) and any other negative id
    const targets = Int32Array.from([3, -100, 999, 0, 512, -1, 7, 7, 998, -100, 1, 250]);
    const eps = Float32Array.from([0, 0.1, 0.5, 0.99, 0.05, 0.2, 0, 0.3, 0.1, 0.1, 0.7, 0.01]);
    const logits = (): Float32Array => {
      const x = randn(N * V, 81, 3);
      for (let v = 0; v < V; v++) x[6 * V + v] = v % 2 ? 30 : -30; // large magnitudes
      return x;
    };
    for (const style of [EPS_STYLE_PAPER, EPS_STYLE_HF]) {
      const tag = style === EPS_STYLE_PAPER ? 'paper' : 'hf';
      it(`style ${tag}: losses and dlogits (separate buffer, gradScale)`, () => {
        const [r, rRef] = both(() => [logits(), eps, new Float32Array(N), new Float32Array(N * V).fill(NaN)],
          (k, [x, e, losses, d]) => k.crossEntropy(x, targets, e, N, V, style, losses, d, 1 / 7));
        expectClose(`ce ${tag} losses`, r[2], rRef[2]);
        expectClose(`ce ${tag} dlogits`, r[3], rRef[3]);
        expectClose(`ce ${tag} logits untouched`, r[0], logits(), 0);
        for (const n of [1, 5, 9]) for (let v = 0; v < V; v++) expect(r[3][n * V + v]).toBe(0);
      });

      it(`style ${tag}: dlogits aliasing logits, and losses only`, () => {
        const [r, rRef] = both(() => [logits(), eps, new Float32Array(N)],
          (k, [x, e, losses]) => k.crossEntropy(x, targets, e, N, V, style, losses, x, 0.5));
        expectClose(`ce ${tag} losses (in place)`, r[2], rRef[2]);
        expectClose(`ce ${tag} dlogits (in place)`, r[0], rRef[0]);
        const losses = new Float32Array(N);
        native!.crossEntropy(logits(), targets, eps, N, V, style, losses, null, 1);
        expectClose(`ce ${tag} losses (no grad)`, losses, rRef[2]);
      });
    }

    // teacher target: k entries per row, a repeated id (they add up) and the gold among them in some rows
    const qK = 5;
    const qIds = Int32Array.from({ length: N * qK }, (_, i) => (i % qK === 4 ? (i * 13) % V : (i * 37 + 11) % V));
    for (let n = 0; n < N; n++) if (n % 3 === 0 && targets[n] >= 0) qIds[n * qK + 1] = targets[n];
    qIds[2 * qK + 3] = qIds[2 * qK + 2];
    const qProbs = Float32Array.from({ length: N * qK }, (_, i) => [0.4, 0.3, 0.15, 0.1, 0.05][i % qK]);
    it('teacher target: losses and dlogits (separate buffer, gradScale), in place, losses only', () => {
      const [r, rRef] = both(() => [logits(), eps, new Float32Array(N), new Float32Array(N * V).fill(NaN)],
        (k, [x, e, losses, d]) => k.crossEntropy(x, targets, e, N, V, EPS_STYLE_HF, losses, d, 1 / 7, qK, qIds, qProbs));
      expectClose('ce teacher losses', r[2], rRef[2]);
      expectClose('ce teacher dlogits', r[3], rRef[3]);
      for (const n of [1, 5, 9]) for (let v = 0; v < V; v++) expect(r[3][n * V + v]).toBe(0);
      const [a, aRef] = both(() => [logits(), eps, new Float32Array(N)],
        (k, [x, e, losses]) => k.crossEntropy(x, targets, e, N, V, EPS_STYLE_PAPER, losses, x, 0.5, qK, qIds, qProbs));
      expectClose('ce teacher losses (in place)', a[2], aRef[2]);
      expectClose('ce teacher dlogits (in place)', a[0], aRef[0]);
      const losses = new Float32Array(N);
      native!.crossEntropy(logits(), targets, eps, N, V, EPS_STYLE_PAPER, losses, null, 1, qK, qIds, qProbs);
      expectClose('ce teacher losses (no grad)', losses, rRef[2]);
      // the teacher changes the loss of every smoothed row with a target (eps > 0)
      const uniform = new Float32Array(N);
      native!.crossEntropy(logits(), targets, eps, N, V, EPS_STYLE_PAPER, uniform, null, 1);
      for (const n of [2, 4, 7]) expect(Math.abs(losses[n] - uniform[n])).toBeGreaterThan(1e-3);
    });

    /** naive float64 losses and gradients (scale 0.25) toward a dense target q = qRow(row, gold) per row */
    const naive = (x: Float32Array, qRow: (n: number, t: number) => Float64Array) => {
      const want = new Float64Array(N), wantGrad = new Float64Array(N * V);
      for (let n = 0; n < N; n++) {
        const t = targets[n];
        if (t < 0) continue;
        const row = Array.from(x.subarray(n * V, (n + 1) * V));
        const mx = Math.max(...row);
        const lse = mx + Math.log(row.reduce((s, v) => s + Math.exp(v - mx), 0));
        const q = qRow(n, t);
        for (let v = 0; v < V; v++) {
          want[n] -= q[v] * (row[v] - lse);
          wantGrad[n * V + v] = 0.25 * (Math.exp(row[v] - lse) - q[v]);
        }
      }
      return { want, wantGrad };
    };

    it('teacher target matches a naive float64 dense target', () => {
      const x = logits();
      const { want, wantGrad } = naive(x, (n, t) => {
        const q = new Float64Array(V);
        q[t] += 1 - eps[n];
        for (let j = 0; j < qK; j++) q[qIds[n * qK + j]] += eps[n] * qProbs[n * qK + j];
        return q;
      });
      const losses = new Float32Array(N), d = new Float32Array(N * V);
      native!.crossEntropy(x, targets, eps, N, V, EPS_STYLE_PAPER, losses, d, 0.25, qK, qIds, qProbs);
      expectClose('ce teacher naive losses', losses, want);
      expectClose('ce teacher naive dlogits', d, wantGrad);
    });

    it('matches a naive float64 smoothed cross-entropy (independent of the js reference)', () => {
      const x = logits();
      for (const style of [EPS_STYLE_PAPER, EPS_STYLE_HF]) {
        // paper: 1-eps on gold, eps/(V-1) elsewhere; hf: (1-eps) NLL + eps * mean(-log p)
        const { want, wantGrad } = naive(x, (n, t) => Float64Array.from({ length: V }, (_, v) => (style === EPS_STYLE_PAPER
          ? (v === t ? 1 - eps[n] : eps[n] / (V - 1)) : (v === t ? 1 - eps[n] : 0) + eps[n] / V)));
        const losses = new Float32Array(N), d = new Float32Array(N * V);
        native!.crossEntropy(x, targets, eps, N, V, style, losses, d, 0.25);
        expectClose(`ce naive losses style=${style}`, losses, want);
        expectClose(`ce naive dlogits style=${style}`, d, wantGrad);
      }
    });
  });

  describe('adamw', () => {
    for (const [beta1, wd] of [[0.9, 0.1], [0.3, 0]]) {
      it(`three steps, beta1=${beta1} weightDecay=${wd}`, () => {
        const n = 1001;
        const [r, rRef] = both(() => [randn(n, 91), new Float32Array(n), new Float32Array(n), new Float32Array(n)],
          (k, [p, g, m, v]) => {
            for (let step = 1; step <= 3; step++) {
              g.set(randn(n, 100 + step, 0.01));
              k.adamw(p, g, m, v, n, 1e-3, beta1, 0.999, 1e-8, wd, step);
            }
          });
        expectClose('adamw p', r[0], rRef[0]);
        expectClose('adamw m', r[2], rRef[2]);
        expectClose('adamw v', r[3], rRef[3]);
      });
    }
  });

  // torch's float32 evaluation order, with its vectorised add/addcmul fused; checked bit-for-bit against torch 1.13's
  // AdamW(foreach=False) when the kernel was written. JS emulates fma(a, b, c) as fround(a*b + c): a*b is exact in double.
  it.skipIf(!/ fma|neon/.test(nativeInfo()?.flags ?? ''))('adamw rounds exactly like PyTorch (float32, fused multiply-adds)', () => {
    const f = Math.fround, n = 999, lr = 1e-3, b1 = 0.9, b2 = 0.999, eps = 1e-8, wd = 0.1;
    const p = randn(n, 121), m = new Float32Array(n), v = new Float32Array(n);
    const pe = p.slice(), me = m.slice(), ve = v.slice();
    for (let step = 1; step <= 3; step++) {
      const g = randn(n, 130 + step, 0.01);
      native!.adamw(p, g, m, v, n, lr, b1, b2, eps, wd, step);
      const decay = f(1 - lr * wd), negStep = f(-(lr / (1 - b1 ** step))), bc2 = f(Math.sqrt(1 - b2 ** step));
      for (let i = 0; i < n; i++) {
        me[i] = f(g[i] * f(1 - b1) + f(me[i] * f(b1)));
        ve[i] = f(f(f(1 - b2) * g[i]) * g[i] + f(ve[i] * f(b2)));
        const denom = f(f(f(Math.sqrt(ve[i])) / bc2) + f(eps));
        pe[i] = f(f(pe[i] * decay) + f(f(negStep * me[i]) / denom));
      }
    }
    expect([...m]).toEqual([...me]);
    expect([...v]).toEqual([...ve]);
    expect([...p]).toEqual([...pe]);
  });

  it('sumSquares in double precision', () => {
    const x = randn(100003, 111, 10);
    let want = 0;
    for (let i = 0; i < x.length; i++) want += x[i] * x[i];
    const got = native!.sumSquares(x, x.length);
    expect(Math.abs(got - want) / want).toBeLessThan(1e-12);
    expect(Math.abs(got - jsKernels.sumSquares(x, x.length)) / want).toBeLessThan(1e-12);
  });

  it('rejects Float64Array, wrong sizes and out-of-range ids with clear errors', () => {
    const k = native!;
    expect(() => k.geluForward(new Float64Array(4), new Float32Array(4), 4)).toThrow(/Float64Array.*Float32Array only/);
    expect(() => k.geluForward(new Float32Array(4), new Float32Array(3), 4)).toThrow(/out has 3 elements/);
    expect(() => k.gemm(false, false, 2, 2, 2, 1, new Float32Array(3), 0, new Float32Array(4), 0, 0, new Float32Array(4), 0, 1, 0, 0, 0))
      .toThrow(RangeError);
    expect(() => k.embeddingForward(Int32Array.from([5]), new Float32Array(10), new Float32Array(2), 1, 2)).toThrow(/ids\[0\] = 5/);
    expect(() => k.crossEntropy(new Float32Array(4), Int32Array.from([4]), new Float32Array(1), 1, 4, 0, new Float32Array(1), null, 1))
      .toThrow(/targets\[0\] = 4/);
    expect(() => k.crossEntropy(new Float32Array(4), Int32Array.from([1]), new Float32Array(1), 1, 4, 0, new Float32Array(1), null, 1,
      2, Int32Array.from([0, 4]), Float32Array.from([0.5, 0.5]))).toThrow(/qIds\[1\] = 4 is outside \[0, V = 4\)/);
    expect(() => k.crossEntropy(new Float32Array(4), Int32Array.from([1]), new Float32Array(1), 1, 4, 0, new Float32Array(1), null, 1,
      2, Int32Array.from([0]), Float32Array.from([0.5, 0.5]))).toThrow(/qIds has 1 elements/);
    const q = new Float32Array(16);
    expect(() => k.attentionForward(q, q, q, q, null, 1, 2, 2, 3, 2, 4)).toThrow(/multiple of KV/);
    expect(() => k.attentionForward(q, q, q, q, null, 1, 3, 2, 1, 1, 4)).toThrow(/Tq/);
  });
});
