// The plain-TypeScript kernels: the readable reference every backend is tested against, the float64 path for
// gradient checks, and the fallback backend where no C compiler exists (so the loops are kept tight).
import type { Arr, Kernels } from '../kernels.js';
import { EPS_STYLE_HF } from '../kernels.js';

// Float64 scratch rows, grown on demand and reused across calls: hot loops never allocate, and float32 inputs are
// still summed in double precision.
let accRow = new Float64Array(256);
let aRow = new Float64Array(256);
function accScratch(n: number): Float64Array {
  if (accRow.length < n) accRow = new Float64Array(Math.max(n, 2 * accRow.length));
  return accRow;
}
let smRow = new Float64Array(0);
function aScratch(n: number): Float64Array {
  if (aRow.length < n) aRow = new Float64Array(Math.max(n, 2 * aRow.length));
  return aRow;
}


/**
 * One matrix of the batch, B not transposed: i-k-j order, so the innermost loop streams a row of B into a float64
 * row accumulator; k is unrolled by 4 to cut accumulator traffic.
 */
function gemmKJ(
  transA: boolean, M: number, N: number, K: number, alpha: number,
  A: Arr, a0: number, B: Arr, b0: number, beta: number, C: Arr, c0: number, ldc = N,
): void {
  const acc = accScratch(N);
  for (let i = 0; i < M; i++) {
    acc.fill(0, 0, N);
    // op(A)[i, k] sits at aBase + k * aStep
    const aBase = transA ? a0 + i : a0 + i * K;
    const aStep = transA ? M : 1;
    let k = 0;
    for (; k + 3 < K; k += 4) {
      const x0 = A[aBase + k * aStep], x1 = A[aBase + (k + 1) * aStep];
      const x2 = A[aBase + (k + 2) * aStep], x3 = A[aBase + (k + 3) * aStep];
      const r0 = b0 + k * N, r1 = r0 + N, r2 = r1 + N, r3 = r2 + N;
      for (let j = 0; j < N; j++) acc[j] += x0 * B[r0 + j] + x1 * B[r1 + j] + x2 * B[r2 + j] + x3 * B[r3 + j];
    }
    for (; k < K; k++) {
      const x = A[aBase + k * aStep];
      const r = b0 + k * N;
      for (let j = 0; j < N; j++) acc[j] += x * B[r + j];
    }
    const c = c0 + i * ldc;
    if (beta === 0) for (let j = 0; j < N; j++) C[c + j] = alpha * acc[j];
    else for (let j = 0; j < N; j++) C[c + j] = alpha * acc[j] + beta * C[c + j];
  }
}

/**
 * One matrix of the batch, B transposed (stored (N, K)): every output is a dot product of two contiguous rows;
 * four output columns are computed together so each A element is loaded once per four products.
 */
function gemmDot(
  transA: boolean, M: number, N: number, K: number, alpha: number,
  A: Arr, a0: number, B: Arr, b0: number, beta: number, C: Arr, c0: number, ldc = N,
): void {
  const row = aScratch(K);
  for (let i = 0; i < M; i++) {
    // gather op(A)[i, :] once: a strided column when A is transposed, a plain copy otherwise
    if (transA) for (let k = 0; k < K; k++) row[k] = A[a0 + k * M + i];
    else for (let k = 0; k < K; k++) row[k] = A[a0 + i * K + k];
    const c = c0 + i * ldc;
    let j = 0;
    for (; j + 3 < N; j += 4) {
      const r0 = b0 + j * K, r1 = r0 + K, r2 = r1 + K, r3 = r2 + K;
      let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
      for (let k = 0; k < K; k++) {
        const x = row[k];
        s0 += x * B[r0 + k]; s1 += x * B[r1 + k]; s2 += x * B[r2 + k]; s3 += x * B[r3 + k];
      }
      if (beta === 0) {
        C[c + j] = alpha * s0; C[c + j + 1] = alpha * s1; C[c + j + 2] = alpha * s2; C[c + j + 3] = alpha * s3;
      } else {
        C[c + j] = alpha * s0 + beta * C[c + j]; C[c + j + 1] = alpha * s1 + beta * C[c + j + 1];
        C[c + j + 2] = alpha * s2 + beta * C[c + j + 2]; C[c + j + 3] = alpha * s3 + beta * C[c + j + 3];
      }
    }
    for (; j < N; j++) {
      const r = b0 + j * K;
      let s = 0;
      for (let k = 0; k < K; k++) s += row[k] * B[r + k];
      C[c + j] = beta === 0 ? alpha * s : alpha * s + beta * C[c + j];
    }
  }
}

// Rotary tables (T, hd/2), computed in float32 the way PyTorch/HF do, so float32 outputs match them bit-for-bit
// up to libm differences.
function ropeTables(T: number, hd: number, pos0: number, theta: number): { cos: Float64Array; sin: Float64Array } {
  const half = hd / 2;
  const cos = new Float64Array(T * half);
  const sin = new Float64Array(T * half);
  const f = Math.fround;
  for (let i = 0; i < half; i++) {
    const invFreq = f(1 / f(Math.pow(theta, f((2 * i) / hd))));
    for (let t = 0; t < T; t++) {
      const angle = f((pos0 + t) * invFreq);
      cos[t * half + i] = f(Math.cos(angle));
      sin[t * half + i] = f(Math.sin(angle));
    }
  }
  return { cos, sin };
}

// bfloat16 weights (gemmBf16, embeddingForwardBf16) are widened into this float32 scratch a block at a time; a
// block is at least 16 rows or columns, else about 4 MB
const BF16_BLOCK = 1 << 20;
let widened = new Float32Array(0);
/** rows x cols of bfloat16 bits B (row stride ld, from b0) as float32 values in the scratch, row-major (rows, cols) */
function widen(B: Uint16Array, b0: number, ld: number, rows: number, cols: number): Float32Array {
  if (widened.length < rows * cols) widened = new Float32Array(Math.max(rows * cols, BF16_BLOCK));
  const bits = new Uint32Array(widened.buffer, 0, rows * cols);
  for (let r = 0; r < rows; r++) {
    const src = b0 + r * ld, dst = r * cols;
    for (let c = 0; c < cols; c++) bits[dst + c] = B[src + c] << 16; // bf16 is float32's top half: exact
  }
  return widened;
}

/** Where attention finds its operands: q, k, v and out (or their gradients), each with a start offset and a token row
 * stride (elements from one position to the next). */
interface AttnBufs { q: Arr; k: Arr; v: Arr; out: Arr }
interface AttnLayout { qOff: number; kOff: number; vOff: number; lq: number; lk: number; lv: number; lo: number }

/** (B, T, heads, hd) tensors of their own */
function contiguous(H: number, KV: number, hd: number): AttnLayout {
  return { qOff: 0, kOff: 0, vOff: 0, lq: H * hd, lk: KV * hd, lv: KV * hd, lo: H * hd };
}

/** q | k | v packed in each position's row of one (B, T, 3C) projection */
function packed(C: number): AttnLayout {
  return { qOff: 0, kOff: C, vOff: 2 * C, lq: 3 * C, lk: 3 * C, lv: 3 * C, lo: C };
}

/**
 * The causal softmax of query i of (batch b, head h, kv head kvh) over keys 0..last into p[0..last] (scale
 * 1/sqrt(hd)); returns last. Forward and the backward that recomputes what forward did not keep both call it, so
 * they agree bit for bit.
 */
function softmaxRow(
  q: Arr, k: Arr, p: Float64Array | Float32Array, b: number, i: number, h: number, kvh: number,
  Tq: number, Tk: number, hd: number, L: AttnLayout,
): number {
  const scale = 1 / Math.sqrt(hd);
  const qo = L.qOff + (b * Tq + i) * L.lq + h * hd;
  const last = Tk - Tq + i; // this query's absolute position: it sees keys 0..last
  if (smRow.length < Tk) smRow = new Float64Array(Math.max(Tk, 2 * smRow.length));
  const e = smRow; // unrounded scores and exponentials
  let max = -Infinity;
  for (let j = 0; j <= last; j++) {
    const ko = L.kOff + (b * Tk + j) * L.lk + kvh * hd;
    let s = 0;
    for (let d = 0; d < hd; d++) s += q[qo + d] * k[ko + d];
    s *= scale;
    e[j] = s;
    if (s > max) max = s;
  }
  let sum = 0;
  for (let j = 0; j <= last; j++) { const x = Math.exp(e[j] - max); e[j] = x; sum += x; }
  const inv = 1 / sum;
  for (let j = 0; j <= last; j++) p[j] = e[j] * inv;
  return last;
}

function attnForward(
  { q, k, v, out }: AttnBufs, probs: Arr | null, B: number, Tq: number, Tk: number, H: number, KV: number, hd: number,
  L: AttnLayout,
): void {
  const group = H / KV;
  const p = accScratch(Tk);
  const o = aScratch(hd);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      const kvh = Math.floor(h / group);
      for (let i = 0; i < Tq; i++) {
        const last = softmaxRow(q, k, p, b, i, h, kvh, Tq, Tk, hd, L);
        o.fill(0, 0, hd);
        for (let j = 0; j <= last; j++) {
          const pj = p[j];
          const vo = L.vOff + (b * Tk + j) * L.lv + kvh * hd;
          for (let d = 0; d < hd; d++) o[d] += pj * v[vo + d];
        }
        const oo = (b * Tq + i) * L.lo + h * hd;
        for (let d = 0; d < hd; d++) out[oo + d] = o[d];
        if (probs) {
          const po = ((b * H + h) * Tq + i) * Tk;
          for (let j = 0; j <= last; j++) probs[po + j] = p[j];
          for (let j = last + 1; j < Tk; j++) probs[po + j] = 0;
        }
      }
    }
  }
}

/**
 * x holds q, k, v and dout (in its out slot); g the gradients dq, dk, dv (same layout as q, k, v). probs null: each
 * softmax row is recomputed as forward made it, in probs' dtype (the values a kept probs would have held).
 */
function attnBackward(
  x: AttnBufs, g: AttnBufs, probs: Arr | null, B: number, Tq: number, Tk: number, H: number, KV: number, hd: number,
  L: AttnLayout,
): void {
  const { q, k, v, out: dout } = x;
  const { q: dq, k: dk, v: dv } = g;
  const scale = 1 / Math.sqrt(hd);
  const group = H / KV;
  const dp = accScratch(Tk);
  const row = probs ? null : q instanceof Float64Array ? new Float64Array(Tk) : new Float32Array(Tk);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      const kvh = Math.floor(h / group);
      for (let i = 0; i < Tq; i++) {
        const qo = L.qOff + (b * Tq + i) * L.lq + h * hd;
        const oo = (b * Tq + i) * L.lo + h * hd;
        const last = Tk - Tq + i;
        let P: Arr, po: number;
        if (row) {
          softmaxRow(q, k, row, b, i, h, kvh, Tq, Tk, hd, L);
          P = row; po = 0;
        } else {
          P = probs!; po = ((b * H + h) * Tq + i) * Tk;
        }
        // dP_j = dout . v_j ; dv_j += P_j dout ; softmax backward: dS_j = P_j (dP_j - sum_j P_j dP_j)
        let dot = 0;
        for (let j = 0; j <= last; j++) {
          const vo = L.vOff + (b * Tk + j) * L.lv + kvh * hd;
          const pj = P[po + j];
          let s = 0;
          for (let d = 0; d < hd; d++) {
            s += dout[oo + d] * v[vo + d];
            dv[vo + d] += pj * dout[oo + d];
          }
          dp[j] = s;
          dot += pj * s;
        }
        for (let j = 0; j <= last; j++) {
          const ds = P[po + j] * (dp[j] - dot) * scale;
          const ko = L.kOff + (b * Tk + j) * L.lk + kvh * hd;
          for (let d = 0; d < hd; d++) {
            dq[qo + d] += ds * k[ko + d];
            dk[ko + d] += ds * q[qo + d];
          }
        }
      }
    }
  }
}

const GELU_SCALE = Math.sqrt(2 / Math.PI);

const same = (v: number): number => v;
/** rounding to the element type of `a`: float32 buffers store Math.fround of a double result */
function roundTo(a: Arr): (v: number) => number {
  return a instanceof Float32Array ? Math.fround : same;
}

function gelu(v: number): number {
  return 0.5 * v * (1 + Math.tanh(GELU_SCALE * (v + 0.044715 * v * v * v)));
}

function geluGrad(v: number): number {
  const th = Math.tanh(GELU_SCALE * (v + 0.044715 * v * v * v));
  const dInner = GELU_SCALE * (1 + 3 * 0.044715 * v * v);
  return 0.5 * (1 + th) + 0.5 * v * (1 - th * th) * dInner;
}

/** crossEntropy toward a sparse teacher q (see Kernels.crossEntropy); kept apart so the uniform loop stays as it was. */
function crossEntropyTeacher(
  logits: Arr, targets: Int32Array, eps: Arr, N: number, V: number, losses: Arr, dlogits: Arr | null,
  gradScale: number, K: number, ids: Int32Array, probs: Float32Array,
): void {
  for (let n = 0; n < N; n++) {
    const o = n * V;
    const tgt = targets[n];
    if (tgt < 0) {
      losses[n] = 0;
      if (dlogits) dlogits.fill(0, o, o + V);
      continue;
    }
    const e = eps[n];
    const q0 = n * K;
    // read everything the loss needs before dlogits (which may alias logits) is written
    let max = -Infinity;
    for (let v = 0; v < V; v++) { const x = logits[o + v]; if (x > max) max = x; }
    const xGold = logits[o + tgt];
    let qx = 0; // sum_j q_j x_{id_j}
    for (let j = 0; j < K; j++) qx += probs[q0 + j] * logits[o + ids[q0 + j]];
    let sum = 0;
    if (dlogits) {
      for (let v = 0; v < V; v++) { const ex = Math.exp(logits[o + v] - max); dlogits[o + v] = ex; sum += ex; }
    } else {
      for (let v = 0; v < V; v++) sum += Math.exp(logits[o + v] - max);
    }
    // -sum_v t_v log p_v with t = (1-e) onehot + e q, log p_v = x_v - lse and sum_v t_v = 1
    losses[n] = max + Math.log(sum) - (1 - e) * xGold - e * qx;
    if (dlogits) {
      const inv = 1 / sum;
      for (let v = 0; v < V; v++) dlogits[o + v] = gradScale * dlogits[o + v] * inv;
      dlogits[o + tgt] -= gradScale * (1 - e);
      for (let j = 0; j < K; j++) dlogits[o + ids[q0 + j]] -= gradScale * e * probs[q0 + j];
    }
  }
}

export const jsKernels: Kernels = {
  name: 'js',

  gemm(transA, transB, M, N, K, alpha, A, aOff, B, bOff, beta, C, cOff, batch, strideA, strideB, strideC) {
    for (let b = 0; b < batch; b++) {
      const a0 = aOff + b * strideA, b0 = bOff + b * strideB, c0 = cOff + b * strideC;
      if (transB) gemmDot(transA, M, N, K, alpha, A, a0, B, b0, beta, C, c0);
      else gemmKJ(transA, M, N, K, alpha, A, a0, B, b0, beta, C, c0);
    }
  },

  // blocks of whole output columns (rows of B when transposed), each through gemm's own loops over the full K: every
  // output is computed exactly as gemm computes it with the weight widened beforehand
  gemmBf16(transB, M, N, K, alpha, A, aOff, B, beta, C, cOff) {
    const nb = Math.min(N, Math.max(16, Math.floor(BF16_BLOCK / Math.max(K, 1))));
    for (let j0 = 0; j0 < N; j0 += nb) {
      const n = Math.min(nb, N - j0);
      if (transB) gemmDot(false, M, n, K, alpha, A, aOff, widen(B, j0 * K, K, n, K), 0, beta, C, cOff + j0, N);
      else gemmKJ(false, M, n, K, alpha, A, aOff, widen(B, j0, N, K, n), 0, beta, C, cOff + j0, N);
    }
  },

  layernormForward(x, w, b, out, mean, rstd, N, C, eps) {
    for (let n = 0; n < N; n++) {
      const o = n * C;
      let s = 0;
      for (let c = 0; c < C; c++) s += x[o + c];
      const m = s / C;
      // two passes: the variance of centred values does not cancel catastrophically
      let v = 0;
      for (let c = 0; c < C; c++) { const d = x[o + c] - m; v += d * d; }
      const r = 1 / Math.sqrt(v / C + eps);
      for (let c = 0; c < C; c++) out[o + c] = (x[o + c] - m) * r * w[c] + b[c];
      mean[n] = m;
      rstd[n] = r;
    }
  },

  layernormBackward(dout, x, w, mean, rstd, dx, dw, db, N, C) {
    for (let n = 0; n < N; n++) {
      const o = n * C, m = mean[n], r = rstd[n];
      // dx = rstd * (dnorm - mean(dnorm) - norm * mean(dnorm * norm)), dnorm = dout * w (llm.c)
      let dnMean = 0, dnNormMean = 0;
      for (let c = 0; c < C; c++) {
        const norm = (x[o + c] - m) * r;
        const dn = dout[o + c] * w[c];
        dnMean += dn;
        dnNormMean += dn * norm;
      }
      dnMean /= C;
      dnNormMean /= C;
      for (let c = 0; c < C; c++) {
        const norm = (x[o + c] - m) * r;
        const g = dout[o + c];
        db[c] += g;
        dw[c] += g * norm;
        dx[o + c] += (g * w[c] - dnMean - norm * dnNormMean) * r;
      }
    }
  },

  rmsnormForward(x, w, out, rstd, N, C, eps) {
    for (let n = 0; n < N; n++) {
      const o = n * C;
      let ss = 0;
      for (let c = 0; c < C; c++) ss += x[o + c] * x[o + c];
      const r = 1 / Math.sqrt(ss / C + eps);
      for (let c = 0; c < C; c++) out[o + c] = x[o + c] * r * w[c];
      rstd[n] = r;
    }
  },

  rmsnormBackward(dout, x, w, rstd, dx, dw, N, C) {
    for (let n = 0; n < N; n++) {
      const o = n * C, r = rstd[n];
      // dx = rstd * (dnorm - norm * mean(dnorm * norm)), norm = x * rstd, dnorm = dout * w
      let dnNormMean = 0;
      for (let c = 0; c < C; c++) dnNormMean += dout[o + c] * w[c] * x[o + c] * r;
      dnNormMean /= C;
      for (let c = 0; c < C; c++) {
        const norm = x[o + c] * r;
        const g = dout[o + c];
        dw[c] += g * norm;
        dx[o + c] += (g * w[c] - norm * dnNormMean) * r;
      }
    }
  },

  geluForward(x, out, n) {
    for (let i = 0; i < n; i++) out[i] = gelu(x[i]);
  },

  geluBackward(dout, x, dx, n) {
    for (let i = 0; i < n; i++) dx[i] += dout[i] * geluGrad(x[i]);
  },

  swigluForward(gate, up, out, n) {
    for (let i = 0; i < n; i++) {
      const g = gate[i];
      out[i] = (g / (1 + Math.exp(-g))) * up[i];
    }
  },

  swigluBackward(dout, gate, up, dgate, dup, n) {
    for (let i = 0; i < n; i++) {
      const g = gate[i];
      const sig = 1 / (1 + Math.exp(-g));
      const d = dout[i];
      dup[i] += d * g * sig;
      dgate[i] += d * up[i] * sig * (1 + g * (1 - sig));
    }
  },

  ropeForward(x, out, B, T, H, hd, pos0, theta) {
    const half = hd / 2;
    const { cos, sin } = ropeTables(T, hd, pos0, theta);
    for (let b = 0; b < B; b++) {
      for (let t = 0; t < T; t++) {
        const tab = t * half;
        for (let h = 0; h < H; h++) {
          const o = ((b * T + t) * H + h) * hd;
          for (let i = 0; i < half; i++) {
            const c = cos[tab + i], s = sin[tab + i];
            const x1 = x[o + i], x2 = x[o + i + half];
            out[o + i] = x1 * c - x2 * s;
            out[o + i + half] = x2 * c + x1 * s;
          }
        }
      }
    }
  },

  ropeBackward(dout, dx, B, T, H, hd, pos0, theta) {
    const half = hd / 2;
    const { cos, sin } = ropeTables(T, hd, pos0, theta);
    for (let b = 0; b < B; b++) {
      for (let t = 0; t < T; t++) {
        const tab = t * half;
        for (let h = 0; h < H; h++) {
          const o = ((b * T + t) * H + h) * hd;
          for (let i = 0; i < half; i++) {
            const c = cos[tab + i], s = sin[tab + i];
            const d1 = dout[o + i], d2 = dout[o + i + half];
            dx[o + i] += d1 * c + d2 * s;
            dx[o + i + half] += d2 * c - d1 * s;
          }
        }
      }
    }
  },

  attentionForward(q, k, v, out, probs, B, Tq, Tk, H, KV, hd) {
    attnForward({ q, k, v, out }, probs, B, Tq, Tk, H, KV, hd, contiguous(H, KV, hd));
  },

  attentionBackward(dout, q, k, v, probs, dq, dk, dv, B, Tq, Tk, H, KV, hd) {
    attnBackward({ q, k, v, out: dout }, { q: dq, k: dk, v: dv, out: dout }, probs, B, Tq, Tk, H, KV, hd,
      contiguous(H, KV, hd));
  },

  embeddingForward(ids, table, out, N, C) {
    for (let n = 0; n < N; n++) {
      const src = ids[n] * C, dst = n * C;
      for (let c = 0; c < C; c++) out[dst + c] = table[src + c];
    }
  },

  embeddingForwardBf16(ids, table, out, N, C) {
    for (let n = 0; n < N; n++) out.set(widen(table, ids[n] * C, C, 1, C).subarray(0, C), n * C);
  },

  embeddingBackward(ids, dout, dtable, N, C) {
    for (let n = 0; n < N; n++) {
      const dst = ids[n] * C, src = n * C;
      for (let c = 0; c < C; c++) dtable[dst + c] += dout[src + c];
    }
  },

  crossEntropy(logits, targets, eps, N, V, style, losses, dlogits, gradScale, qK = 0, qIds = null, qProbs = null) {
    if (qK > 0) {
      if (!qIds || !qProbs) throw new Error('crossEntropy: a teacher target (qK > 0) needs qIds and qProbs');
      crossEntropyTeacher(logits, targets, eps, N, V, losses, dlogits, gradScale, qK, qIds, qProbs);
      return;
    }
    const hf = style === EPS_STYLE_HF;
    for (let n = 0; n < N; n++) {
      const o = n * V;
      const tgt = targets[n];
      if (tgt < 0) {
        losses[n] = 0;
        if (dlogits) dlogits.fill(0, o, o + V);
        continue;
      }
      const e = eps[n];
      // target distribution q: qGold on the gold token, qOther on each other one
      const qOther = hf ? e / V : V > 1 ? e / (V - 1) : 0;
      const qGold = hf ? 1 - e + e / V : 1 - e;
      // read everything the loss needs before dlogits (which may alias logits) is written
      let max = -Infinity, sumX = 0;
      for (let v = 0; v < V; v++) { const x = logits[o + v]; sumX += x; if (x > max) max = x; }
      const xGold = logits[o + tgt];
      let sum = 0;
      if (dlogits) {
        for (let v = 0; v < V; v++) { const ex = Math.exp(logits[o + v] - max); dlogits[o + v] = ex; sum += ex; }
      } else {
        for (let v = 0; v < V; v++) sum += Math.exp(logits[o + v] - max);
      }
      const lse = max + Math.log(sum);
      // -sum_v q_v log p_v with log p_v = x_v - lse and sum_v q_v = 1
      losses[n] = lse - qGold * xGold - qOther * (sumX - xGold);
      if (dlogits) {
        const inv = 1 / sum;
        for (let v = 0; v < V; v++) dlogits[o + v] = gradScale * (dlogits[o + v] * inv - qOther);
        dlogits[o + tgt] -= gradScale * (qGold - qOther);
      }
    }
  },

  adamw(p, g, m, v, n, lr, beta1, beta2, eps, weightDecay, step) {
    const decay = 1 - lr * weightDecay;
    const bc1 = 1 - Math.pow(beta1, step);
    const bc2Sqrt = Math.sqrt(1 - Math.pow(beta2, step));
    const stepSize = lr / bc1;
    for (let i = 0; i < n; i++) {
      const gi = g[i];
      // read the moments back after storing, so float32 state rounds exactly where PyTorch's does
      m[i] = beta1 * m[i] + (1 - beta1) * gi;
      v[i] = beta2 * v[i] + (1 - beta2) * gi * gi;
      p[i] = p[i] * decay - (stepSize * m[i]) / (Math.sqrt(v[i]) / bc2Sqrt + eps);
    }
  },

  sumSquares(x, n) {
    let s = 0;
    for (let i = 0; i < n; i++) s += x[i] * x[i];
    return s;
  },

  attentionQkvForward(qkv, out, probs, B, T, H, hd) {
    attnForward({ q: qkv, k: qkv, v: qkv, out }, probs, B, T, T, H, H, hd, packed(H * hd));
  },

  attentionQkvBackward(dout, qkv, probs, dqkv, B, T, H, hd) {
    attnBackward({ q: qkv, k: qkv, v: qkv, out: dout }, { q: dqkv, k: dqkv, v: dqkv, out: dout }, probs, B, T, T, H, H,
      hd, packed(H * hd));
  },

  axpy(alpha, x, y, n) {
    for (let i = 0; i < n; i++) y[i] += alpha * x[i];
  },

  addRows(a, b, out, n, m) {
    for (let r = 0; r < n; r += m) for (let j = 0; j < m; j++) out[r + j] = a[r + j] + b[j];
  },

  biasGeluForward(x, b, out, N, C) {
    // the pre-activation rounds to the buffers' precision, as when a linear layer stores x + b before its GELU
    const r = roundTo(x);
    for (let n = 0; n < N; n++) {
      const o = n * C;
      for (let c = 0; c < C; c++) out[o + c] = gelu(r(x[o + c] + b[c]));
    }
  },

  biasGeluBackward(dout, x, b, dx, db, N, C) {
    const r = roundTo(x);
    for (let n = 0; n < N; n++) {
      const o = n * C;
      for (let c = 0; c < C; c++) {
        const g = dout[o + c] * geluGrad(r(x[o + c] + b[c]));
        dx[o + c] += g;
        db[c] += g;
      }
    }
  },
};
