// Op tests written once, run on every backend (tfjs describeWithFlags): forward vs a naive float64 formula, backward
// vs finite differences (float64, js), and float32 on each backend vs the float64 results.
import { describe, expect, it } from 'vitest';
import {
  Tensor, add, attention, attentionQkv, availableBackends, backendName, backward, biasGelu, clearTape, embedding, gelu,
  layernorm, linear, matmul, mul, noGrad, rmsnorm, rope, scale, silu, smoothedCrossEntropy, split, swiglu,
} from '../../src/engine/index.js';
import {
  type InputSpec, type Rng, type RunFn, forwardBackward, gradcheck, makeInputs, makeRng, randomFunctional, relDiff,
  spec, withBackend,
} from './gradcheck.js';

// ---- naive float64 references (obviously-correct loops, written independently of the kernels) ----

function refMatmul(A: Float64Array, B: Float64Array, M: number, N: number, K: number, tA: boolean, tB: boolean): Float64Array {
  const C = new Float64Array(M * N);
  for (let i = 0; i < M; i++) for (let j = 0; j < N; j++) {
    let s = 0;
    for (let k = 0; k < K; k++) s += (tA ? A[k * M + i] : A[i * K + k]) * (tB ? B[j * K + k] : B[k * N + j]);
    C[i * N + j] = s;
  }
  return C;
}

function refBatchedMatmul(
  A: Float64Array, B: Float64Array, batch: number, M: number, N: number, K: number, tA: boolean, tB: boolean, bShared: boolean,
): Float64Array {
  const out = new Float64Array(batch * M * N);
  for (let b = 0; b < batch; b++) {
    const a = A.subarray(b * M * K, (b + 1) * M * K);
    const bb = bShared ? B : B.subarray(b * K * N, (b + 1) * K * N);
    out.set(refMatmul(a, bb, M, N, K, tA, tB), b * M * N);
  }
  return out;
}

function refRows(x: Float64Array, C: number, f: (row: Float64Array) => number[]): Float64Array {
  const out = new Float64Array(x.length);
  for (let o = 0; o < x.length; o += C) out.set(f(x.subarray(o, o + C)), o);
  return out;
}

const refGelu = (v: number) => 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v ** 3)));
const refSilu = (v: number) => v / (1 + Math.exp(-v));

/** HF Llama rotate-half RoPE with PyTorch's float32 inverse frequencies and angles */
function refRope(x: Float64Array, B: number, T: number, H: number, hd: number, pos0: number, theta: number): Float64Array {
  const out = new Float64Array(x.length);
  const f = Math.fround, half = hd / 2;
  for (let b = 0; b < B; b++) for (let t = 0; t < T; t++) for (let h = 0; h < H; h++) {
    const o = ((b * T + t) * H + h) * hd;
    for (let d = 0; d < hd; d++) {
      const i = d % half;
      const ang = f((pos0 + t) * f(1 / f(theta ** f((2 * i) / hd))));
      const rot = d < half ? -x[o + d + half] : x[o + d - half];
      out[o + d] = x[o + d] * f(Math.cos(ang)) + rot * f(Math.sin(ang));
    }
  }
  return out;
}

/** attention with k/v heads repeated (torch repeat_interleave) and a full masked softmax */
function refAttention(
  q: Float64Array, k: Float64Array, v: Float64Array, B: number, Tq: number, Tk: number, H: number, KV: number, hd: number,
): Float64Array {
  const out = new Float64Array(B * Tq * H * hd);
  for (let b = 0; b < B; b++) for (let h = 0; h < H; h++) for (let i = 0; i < Tq; i++) {
    const kh = Math.floor(h / (H / KV));
    const s: number[] = [];
    for (let j = 0; j < Tk; j++) {
      let d = 0;
      for (let c = 0; c < hd; c++) d += q[((b * Tq + i) * H + h) * hd + c] * k[((b * Tk + j) * KV + kh) * hd + c];
      s.push(j <= Tk - Tq + i ? d / Math.sqrt(hd) : -Infinity);
    }
    const m = Math.max(...s);
    const e = s.map((x) => Math.exp(x - m));
    const z = e.reduce((a, c) => a + c, 0);
    for (let c = 0; c < hd; c++) {
      let acc = 0;
      for (let j = 0; j < Tk; j++) acc += (e[j] / z) * v[((b * Tk + j) * KV + kh) * hd + c];
      out[((b * Tq + i) * H + h) * hd + c] = acc;
    }
  }
  return out;
}

/** q, k, v (B, T, C) out of a packed (B, T, 3C) projection */
function unpackQkv(qkv: Float64Array, B: number, T: number, C: number): Float64Array[] {
  const parts = [0, 1, 2].map(() => new Float64Array(B * T * C));
  for (let n = 0; n < B * T; n++) for (let p = 0; p < 3; p++) parts[p].set(qkv.subarray(n * 3 * C + p * C, n * 3 * C + (p + 1) * C), n * C);
  return parts;
}

// ---- the case table ----

interface OpCase {
  name: string;
  make: (rng: Rng) => InputSpec[];
  run: RunFn;
  /** naive float64 forward, one array per output */
  ref?: (xs: Float64Array[]) => Float64Array[];
  /** too big for finite differences: forward reference and backend parity only */
  parityOnly?: boolean;
}

const cases: OpCase[] = [];

for (const [tA, tB] of [[false, false], [false, true], [true, false], [true, true]] as const) {
  const tag = `${tA ? 'T' : 'N'}${tB ? 'T' : 'N'}`;
  const aShape = (M: number, K: number) => (tA ? [K, M] : [M, K]);
  const bShape = (K: number, N: number) => (tB ? [N, K] : [K, N]);
  cases.push({
    name: `matmul 2D ${tag}`,
    make: (r) => [spec(r, aShape(3, 4)), spec(r, bShape(4, 5))],
    run: ([a, b]) => matmul(a, b, { transA: tA, transB: tB }),
    ref: ([a, b]) => [refMatmul(a, b, 3, 5, 4, tA, tB)],
  });
  cases.push({
    name: `matmul batched 3D ${tag}`,
    make: (r) => [spec(r, [2, ...aShape(3, 4)]), spec(r, [2, ...bShape(4, 5)])],
    run: ([a, b]) => matmul(a, b, { transA: tA, transB: tB }),
    ref: ([a, b]) => [refBatchedMatmul(a, b, 2, 3, 5, 4, tA, tB, false)],
  });
  cases.push({
    name: `matmul 3D x 2D (b broadcast) ${tag}`,
    make: (r) => [spec(r, [2, ...aShape(3, 4)]), spec(r, bShape(4, 5))],
    run: ([a, b]) => matmul(a, b, { transA: tA, transB: tB }),
    ref: ([a, b]) => [refBatchedMatmul(a, b, 2, 3, 5, 4, tA, tB, true)],
  });
  cases.push({
    name: `matmul medium 3D x 2D ${tag}`,
    parityOnly: true,
    make: (r) => [spec(r, [3, ...aShape(37, 29)]), spec(r, bShape(29, 41))],
    run: ([a, b]) => matmul(a, b, { transA: tA, transB: tB }),
    ref: ([a, b]) => [refBatchedMatmul(a, b, 3, 37, 41, 29, tA, tB, true)],
  });
  cases.push({
    name: `matmul medium batched ${tag}`,
    parityOnly: true,
    make: (r) => [spec(r, [2, ...aShape(33, 70)]), spec(r, [2, ...bShape(70, 19)])],
    run: ([a, b]) => matmul(a, b, { transA: tA, transB: tB }),
    ref: ([a, b]) => [refBatchedMatmul(a, b, 2, 33, 19, 70, tA, tB, false)],
  });
}

for (const layout of ['out_in', 'in_out'] as const) {
  for (const bias of [true, false]) {
    const refLinear = (x: Float64Array, w: Float64Array, b: Float64Array | null, N: number, I: number, O: number) => {
      const y = refMatmul(x, w, N, O, I, false, layout === 'out_in');
      if (b) for (let n = 0; n < N; n++) for (let o = 0; o < O; o++) y[n * O + o] += b[o];
      return y;
    };
    cases.push({
      name: `linear ${layout} ${bias ? 'with' : 'without'} bias`,
      make: (r) => [spec(r, [2, 3, 4]), spec(r, layout === 'out_in' ? [5, 4] : [4, 5]), ...(bias ? [spec(r, [5])] : [])],
      run: ([x, w, b]) => linear(x, w, b ?? null, layout),
      ref: ([x, w, b]) => [refLinear(x, w, b ?? null, 6, 4, 5)],
    });
    cases.push({
      name: `linear medium ${layout} ${bias ? 'with' : 'without'} bias`,
      parityOnly: true,
      make: (r) => [spec(r, [3, 17, 48]), spec(r, layout === 'out_in' ? [40, 48] : [48, 40]), ...(bias ? [spec(r, [40])] : [])],
      run: ([x, w, b]) => linear(x, w, b ?? null, layout),
      ref: ([x, w, b]) => [refLinear(x, w, b ?? null, 51, 48, 40)],
    });
  }
}

cases.push(
  {
    name: 'linear with a frozen weight (LoRA base)',
    make: (r) => [spec(r, [2, 3, 4]), spec(r, [5, 4], -1, 1, false), spec(r, [5])],
    run: ([x, w, b]) => linear(x, w, b, 'out_in'),
  },
  {
    name: 'add same shape',
    make: (r) => [spec(r, [2, 3, 4]), spec(r, [2, 3, 4])],
    run: ([a, b]) => add(a, b),
    ref: ([a, b]) => [a.map((v, i) => v + b[i])],
  },
  {
    name: 'add broadcast over leading dims (C)',
    make: (r) => [spec(r, [2, 3, 4]), spec(r, [4])],
    run: ([a, b]) => add(a, b),
    ref: ([a, b]) => [a.map((v, i) => v + b[i % 4])],
  },
  {
    name: 'add broadcast over batch (T, C) — position embeddings',
    make: (r) => [spec(r, [2, 3, 4]), spec(r, [3, 4])],
    run: ([a, b]) => add(a, b),
    ref: ([a, b]) => [a.map((v, i) => v + b[i % 12])],
  },
  {
    name: 'add of a tensor to itself accumulates both contributions',
    make: (r) => [spec(r, [2, 3, 4])],
    run: ([a]) => add(a, a),
    ref: ([a]) => [a.map((v) => 2 * v)],
  },
  {
    name: 'mul',
    make: (r) => [spec(r, [2, 3, 4]), spec(r, [2, 3, 4])],
    run: ([a, b]) => mul(a, b),
    ref: ([a, b]) => [a.map((v, i) => v * b[i])],
  },
  {
    name: 'scale',
    make: (r) => [spec(r, [2, 3, 4])],
    run: ([a]) => scale(a, -0.37),
    ref: ([a]) => [a.map((v) => v * -0.37)],
  },
  {
    name: 'embedding with repeated ids (scatter-add)',
    make: (r) => [spec(r, [5, 4])],
    run: ([t]) => embedding(t, Int32Array.from([1, 3, 1, 0, 3, 1]), [2, 3]),
    ref: ([t]) => [Float64Array.from([1, 3, 1, 0, 3, 1].flatMap((id) => [...t.subarray(id * 4, id * 4 + 4)]))],
  },
  {
    name: 'embedding medium',
    parityOnly: true,
    make: (r) => [spec(r, [50, 24])],
    run: ([t]) => embedding(t, Int32Array.from({ length: 40 }, (_, i) => (i * 7) % 50 % 13), [4, 10]),
  },
  {
    name: 'layernorm',
    make: (r) => [spec(r, [2, 3, 4], -2, 2), spec(r, [4], 0.5, 1.5), spec(r, [4])],
    run: ([x, w, b]) => layernorm(x, w, b, 1e-5),
    ref: ([x, w, b]) => [refRows(x, 4, (row) => {
      const m = row.reduce((a, c) => a + c, 0) / 4;
      const v = row.reduce((a, c) => a + (c - m) ** 2, 0) / 4;
      return [...row].map((c, i) => ((c - m) / Math.sqrt(v + 1e-5)) * w[i] + b[i]);
    })],
  },
  {
    name: 'layernorm medium, offset inputs',
    parityOnly: true,
    make: (r) => [spec(r, [5, 33, 70], 3, 5), spec(r, [70], 0.5, 1.5), spec(r, [70])],
    run: ([x, w, b]) => layernorm(x, w, b, 1e-5),
  },
  {
    name: 'rmsnorm',
    make: (r) => [spec(r, [2, 3, 4], -2, 2), spec(r, [4], 0.5, 1.5)],
    run: ([x, w]) => rmsnorm(x, w, 1e-6),
    ref: ([x, w]) => [refRows(x, 4, (row) => {
      const ms = row.reduce((a, c) => a + c * c, 0) / 4;
      return [...row].map((c, i) => (c / Math.sqrt(ms + 1e-6)) * w[i]);
    })],
  },
  {
    name: 'rmsnorm medium',
    parityOnly: true,
    make: (r) => [spec(r, [5, 33, 70], -3, 3), spec(r, [70], 0.5, 1.5)],
    run: ([x, w]) => rmsnorm(x, w, 1e-6),
  },
  {
    name: 'gelu',
    make: (r) => [spec(r, [2, 3, 4], -4, 4)],
    run: ([x]) => gelu(x),
    ref: ([x]) => [x.map(refGelu)],
  },
  {
    name: 'gelu saturated tails',
    parityOnly: true,
    make: () => [{ shape: [8], data: Float64Array.from([-30, -12, -6, -0.5, 0, 0.5, 6, 30]) }],
    run: ([x]) => gelu(x),
    ref: ([x]) => [x.map(refGelu)],
  },
  {
    name: 'biasGelu (a linear layer bias fused into GELU)',
    make: (r) => [spec(r, [2, 3, 4], -3, 3), spec(r, [4], -1, 1)],
    run: ([x, b]) => biasGelu(x, b),
    ref: ([x, b]) => [x.map((v, i) => refGelu(v + b[i % 4]))],
  },
  {
    name: 'biasGelu with a frozen bias',
    make: (r) => [spec(r, [3, 5], -3, 3), spec(r, [5], -1, 1, false)],
    run: ([x, b]) => biasGelu(x, b),
    ref: ([x, b]) => [x.map((v, i) => refGelu(v + b[i % 5]))],
  },
  {
    // rows enough for several blocks of the native bias-gradient reduction and several pool chunks
    name: 'biasGelu medium',
    parityOnly: true,
    make: (r) => [spec(r, [3, 700, 37], -4, 4), spec(r, [37])],
    run: ([x, b]) => biasGelu(x, b),
    ref: ([x, b]) => [x.map((v, i) => refGelu(v + b[i % 37]))],
  },
  {
    name: 'add medium (crosses the native kernels\' chunks)',
    parityOnly: true,
    make: (r) => [spec(r, [3, 100, 70]), spec(r, [100, 70])],
    run: ([a, b]) => add(a, b),
    ref: ([a, b]) => [a.map((v, i) => v + b[i % 7000])],
  },
  {
    name: 'silu',
    make: (r) => [spec(r, [2, 3, 4], -4, 4)],
    run: ([x]) => silu(x),
    ref: ([x]) => [x.map(refSilu)],
  },
  {
    name: 'swiglu',
    make: (r) => [spec(r, [2, 3, 4], -4, 4), spec(r, [2, 3, 4], -2, 2)],
    run: ([g, u]) => swiglu(g, u),
    ref: ([g, u]) => [g.map((v, i) => refSilu(v) * u[i])],
  },
  {
    name: 'swiglu saturated tails',
    parityOnly: true,
    make: () => [
      { shape: [6], data: Float64Array.from([-100, -20, -1, 1, 20, 100]) },
      { shape: [6], data: Float64Array.from([1, -2, 3, -1, 0.5, 2]) },
    ],
    run: ([g, u]) => swiglu(g, u),
    ref: ([g, u]) => [g.map((v, i) => refSilu(v) * u[i])],
  },
  {
    name: 'rope pos0=0',
    make: (r) => [spec(r, [2, 3, 2, 6])],
    run: ([x]) => rope(x, 0, 10000),
    ref: ([x]) => [refRope(x, 2, 3, 2, 6, 0, 10000)],
  },
  {
    name: 'rope pos0=7 (KV-cache continuation), theta 500',
    make: (r) => [spec(r, [2, 3, 2, 6])],
    run: ([x]) => rope(x, 7, 500),
    ref: ([x]) => [refRope(x, 2, 3, 2, 6, 7, 500)],
  },
  {
    name: 'rope medium, far positions',
    parityOnly: true,
    make: (r) => [spec(r, [2, 9, 3, 16])],
    run: ([x]) => rope(x, 1000, 10000),
    ref: ([x]) => [refRope(x, 2, 9, 3, 16, 1000, 10000)],
  },
  {
    name: 'attention MHA (H = KV = 2)',
    make: (r) => [spec(r, [2, 3, 2, 4]), spec(r, [2, 3, 2, 4]), spec(r, [2, 3, 2, 4])],
    run: ([q, k, v]) => attention(q, k, v),
    ref: ([q, k, v]) => [refAttention(q, k, v, 2, 3, 3, 2, 2, 4)],
  },
  {
    name: 'attention GQA (H=4, KV=2)',
    make: (r) => [spec(r, [2, 3, 4, 4], -2, 2), spec(r, [2, 3, 2, 4], -2, 2), spec(r, [2, 3, 2, 4])],
    run: ([q, k, v]) => attention(q, k, v),
    ref: ([q, k, v]) => [refAttention(q, k, v, 2, 3, 3, 4, 2, 4)],
  },
  {
    name: 'attention MQA (H=4, KV=1)',
    make: (r) => [spec(r, [1, 4, 4, 2]), spec(r, [1, 4, 1, 2]), spec(r, [1, 4, 1, 2])],
    run: ([q, k, v]) => attention(q, k, v),
    ref: ([q, k, v]) => [refAttention(q, k, v, 1, 4, 4, 4, 1, 2)],
  },
  {
    name: 'attention Tq < Tk (queries are the last positions)',
    make: (r) => [spec(r, [2, 2, 4, 4]), spec(r, [2, 5, 2, 4]), spec(r, [2, 5, 2, 4])],
    run: ([q, k, v]) => attention(q, k, v),
    ref: ([q, k, v]) => [refAttention(q, k, v, 2, 2, 5, 4, 2, 4)],
  },
  {
    name: 'attention medium GQA',
    parityOnly: true,
    make: (r) => [spec(r, [2, 17, 4, 8], -2, 2), spec(r, [2, 17, 2, 8], -2, 2), spec(r, [2, 17, 2, 8])],
    run: ([q, k, v]) => attention(q, k, v),
    ref: ([q, k, v]) => [refAttention(q, k, v, 2, 17, 17, 4, 2, 8)],
  },
  {
    name: 'attentionQkv (packed q | k | v, H = 2)',
    make: (r) => [spec(r, [2, 3, 3 * 2 * 4], -2, 2)],
    run: ([qkv]) => attentionQkv(qkv, 2),
    ref: ([qkv]) => { const [q, k, v] = unpackQkv(qkv, 2, 3, 8); return [refAttention(q, k, v, 2, 3, 3, 2, 2, 4)]; },
  },
  {
    name: 'attentionQkv medium (H = 4, crosses 64-row query blocks)',
    parityOnly: true,
    make: (r) => [spec(r, [2, 70, 3 * 4 * 8], -2, 2)],
    run: ([qkv]) => attentionQkv(qkv, 4),
    ref: ([qkv]) => { const [q, k, v] = unpackQkv(qkv, 2, 70, 32); return [refAttention(q, k, v, 2, 70, 70, 4, 4, 8)]; },
  },
  {
    name: 'split along the last dim',
    make: (r) => [spec(r, [2, 3, 6])],
    run: ([x]) => split(x, [2, 3, 1]),
    ref: ([x]) => [2, 3, 1].map((S, p) => {
      const off = [0, 2, 5][p];
      return Float64Array.from({ length: 6 * S }, (_, i) => x[Math.floor(i / S) * 6 + off + (i % S)]);
    }),
  },
  {
    name: 'split with an unused part (its gradient is zero)',
    make: (r) => [spec(r, [2, 3, 6])],
    run: ([x]) => { const [a, , c] = split(x, [2, 3, 1]); return [a, c]; },
  },
  {
    name: 'views: layernorm of a reshaped tensor, gradient lands in the base',
    make: (r) => [spec(r, [6, 4]), spec(r, [4], 0.5, 1.5), spec(r, [4])],
    run: ([x, w, b]) => layernorm(x.view(2, 3, 4), w, b, 1e-5).view(6, 4),
  },
  {
    name: 'views: a weight used directly and through a view (tied embedding + LM head)',
    make: (r) => [spec(r, [5, 4])],
    run: ([t]) => {
      const h = embedding(t, Int32Array.from([4, 0, 4]), [1, 3]); // (1, 3, 4)
      return matmul(h, t.view(5, 4), { transB: true }); // (1, 3, 5)
    },
  },
  {
    name: 'a small GPT-2 style MLP block (tape order across ops)',
    make: (r) => [spec(r, [2, 3, 4]), spec(r, [4], 0.5, 1.5), spec(r, [4]), spec(r, [4, 8]), spec(r, [8]), spec(r, [8, 4])],
    run: ([x, lw, lb, w1, b1, w2]) => add(x, linear(gelu(linear(layernorm(x, lw, lb, 1e-5), w1, b1, 'in_out')), w2, null, 'in_out')),
  },
  {
    name: 'smoothedCrossEntropy paper, per-row eps, ignored labels',
    make: (r) => [spec(r, [2, 4, 5], -3, 3)],
    run: ([l]) => smoothedCrossEntropy(l, Int32Array.from([-100, 2, 4, -100, 1, 0, 3, 3]), [0.1, 0.35], 'paper'),
  },
  {
    name: 'smoothedCrossEntropy hf',
    make: (r) => [spec(r, [2, 4, 5], -3, 3)],
    run: ([l]) => smoothedCrossEntropy(l, Int32Array.from([0, 2, 4, -100, 1, 0, 3, 3]), [0.2, 0], 'hf'),
  },
  {
    name: 'smoothedCrossEntropy medium',
    parityOnly: true,
    make: (r) => [spec(r, [3, 9, 50], -6, 6)],
    run: ([l]) => smoothedCrossEntropy(l, Int32Array.from({ length: 27 }, (_, i) => (i % 5 === 0 ? -100 : (i * 11) % 50)), [0.05, 0.3, 0], 'paper'),
  },
);

// ---- (a) forward vs the naive formula, and finite differences, float64 on js ----

describe('ops in float64 on js', () => {
  describe.each(cases.filter((c) => c.ref))('$name', (c) => {
    it('forward matches the naive float64 formula', () => {
      const specs = c.make(makeRng(7));
      const outs = noGrad(() => [c.run(makeInputs(specs, 'float64'))].flat());
      const ref = c.ref!(specs.map((s) => s.data));
      expect(outs.length).toBe(ref.length);
      outs.forEach((o, i) => expect(relDiff(o.data, ref[i])).toBeLessThan(1e-12));
    });
  });

  describe.each(cases.filter((c) => !c.parityOnly))('$name', (c) => {
    it('analytic gradients match central differences', () => {
      const specs = c.make(makeRng(11));
      const report = gradcheck(specs, c.run, 3);
      // every input that takes a gradient was checked, and there is at least one
      expect(report.errors.length).toBeGreaterThan(0);
      expect(report.errors.map((e) => e.input)).toEqual(specs.flatMap((s, i) => (s.grad === false ? [] : [i])));
      for (const e of report.errors) expect(e.err, `input ${e.input}`).toBeLessThan(1e-6);
    });
  });
});

// ---- (b) the same table on every backend: float32 vs the float64 results ----

describe.each(availableBackends())('ops in float32 on %s', (backend) => {
  describe.each(cases)('$name', (c) => {
    it('forward and gradients match float64 within 1e-4', () => {
      withBackend(backend, () => {
        const specs = c.make(makeRng(5));
        const x64 = makeInputs(specs, 'float64');
        const R = randomFunctional(makeRng(9), x64, c.run);
        const want = forwardBackward(x64, c.run, R);
        const x32 = makeInputs(specs, 'float32');
        expect(backendName()).toBe(backend);
        const got = forwardBackward(x32, c.run, R);
        got.outs.forEach((o, i) => {
          expect(o).toBeInstanceOf(Float32Array);
          expect(relDiff(o, want.outs[i]), `output ${i}`).toBeLessThan(1e-4);
        });
        got.grads.forEach((g, i) => {
          if (specs[i].grad === false) return expect(g).toBeNull();
          const w = want.grads[i];
          expect(w, `input ${i} has a float64 gradient`).not.toBeNull();
          expect(relDiff(g ?? new Float32Array(w!.length), w!), `gradient of input ${i}`).toBeLessThan(1e-4);
        });
      });
    });
  });

  it('attention with a KV cache (Tq < Tk) equals the last rows of the full-sequence computation', () => {
    withBackend(backend, () => {
      const r = makeRng(21);
      const [B, T, H, KV, hd, Tq] = [2, 6, 4, 2, 8, 2];
      const q = spec(r, [B, T, H, hd], -2, 2), k = spec(r, [B, T, KV, hd], -2, 2), v = spec(r, [B, T, KV, hd]);
      for (const dtype of ['float32', 'float64'] as const) {
        const [qt, kt, vt] = makeInputs([q, k, v], dtype);
        const full = noGrad(() => attention(qt, kt, vt)); // (B, T, H, hd)
        const row = H * hd;
        const qLast = Tensor.from(Array.from({ length: B * Tq * row }, (_, i) => {
          const b = Math.floor(i / (Tq * row)), rest = i % (Tq * row);
          return q.data[(b * T + T - Tq) * row + rest];
        }), [B, Tq, H, hd], dtype);
        const cached = noGrad(() => attention(qLast, kt, vt));
        const want = Array.from({ length: B * Tq * row }, (_, i) => {
          const b = Math.floor(i / (Tq * row)), rest = i % (Tq * row);
          return full.data[(b * T + T - Tq) * row + rest];
        });
        expect(relDiff(cached.data, want)).toBeLessThan(dtype === 'float64' ? 1e-14 : 1e-6);
      }
    });
  });
});

// ---- the tape and the boundary checks ----

describe('tape and validation', () => {
  it('records nothing under noGrad: inputs never receive gradients', () => {
    const x = Tensor.from([1, 2, 3, 4], [2, 2], 'float64', true);
    const w = Tensor.from([1, 0, 0, 1], [2, 2], 'float64', true);
    const y = noGrad(() => gelu(linear(x, w, null, 'out_in')));
    expect(y.requiresGrad).toBe(false);
    y.ensureGrad().fill(1);
    backward(Tensor.zeros([1]));
    expect(x.grad).toBeNull();
    expect(w.grad).toBeNull();
  });

  it('outputs of ops on frozen inputs do not require grad', () => {
    const x = Tensor.from([1, 2, 3, 4], [2, 2]);
    expect(scale(x, 2).requiresGrad).toBe(false);
    expect(attention(x.view(1, 2, 1, 2), x.view(1, 2, 1, 2), x.view(1, 2, 1, 2)).requiresGrad).toBe(false);
  });

  it('gradients accumulate across two backward passes', () => {
    const x = Tensor.from([0.5, -1, 2], [3], 'float64', true);
    for (let pass = 0; pass < 2; pass++) {
      const y = scale(x, 3);
      y.ensureGrad().fill(1);
      backward(Tensor.zeros([1]));
    }
    expect([...x.grad!]).toEqual([6, 6, 6]);
  });

  it('embedding rejects ids outside [0, V) with a message naming the id and position', () => {
    const t = Tensor.zeros([5, 2]);
    expect(() => embedding(t, Int32Array.from([0, 5]), [2])).toThrow(/token id 5 at position 1 is outside \[0, 5\)/);
    expect(() => embedding(t, Int32Array.from([-1]), [1])).toThrow(/token id -1/);
    expect(() => embedding(t, Int32Array.from([0, 1, 2]), [2])).toThrow(/3 ids do not fill shape \[2\]/);
  });

  it('shape and dtype mistakes fail with the op name and both shapes', () => {
    const a = Tensor.zeros([2, 3]);
    expect(() => matmul(a, Tensor.zeros([2, 3]))).toThrow(/matmul: inner dimensions differ \(3 vs 2\)/);
    expect(() => matmul(a, Tensor.zeros([3, 3], 'float64'))).toThrow(/mixed dtypes/);
    expect(() => linear(a, Tensor.zeros([4, 2]), null, 'out_in')).toThrow(/input has 3 features/);
    expect(() => add(a, Tensor.zeros([2]))).toThrow(/suffix/);
    expect(() => attention(Tensor.zeros([1, 2, 3, 4]), Tensor.zeros([1, 2, 2, 4]), Tensor.zeros([1, 2, 2, 4])))
      .toThrow(/3 query heads cannot be grouped over 2/);
    expect(() => attention(Tensor.zeros([1, 3, 2, 4]), Tensor.zeros([1, 2, 2, 4]), Tensor.zeros([1, 2, 2, 4])))
      .toThrow(/more queries/);
    expect(() => split(a, [1, 1])).toThrow(/summing to the last dim/);
    expect(() => rope(Tensor.zeros([1, 1, 1, 3]), 0, 10000)).toThrow(/even/);
  });

  it('clearTape drops pending backward closures', () => {
    const x = Tensor.from([1, 2], [2], 'float64', true);
    const y = scale(x, 2);
    clearTape();
    y.ensureGrad().fill(1);
    backward(Tensor.zeros([1]));
    expect(x.grad).toBeNull();
  });
});
