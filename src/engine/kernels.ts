// The kernel contract: the heavy loops every backend implements (js = readable reference, native = C + OpenBLAS).
// Ops (src/engine/ops/*) call these through `kernels()`; they never loop over big buffers themselves.
//
// Conventions for every kernel:
// - Buffers are flat, row-major, contiguous. Shapes in comments use B, T, C, V, H, KV, hd, N (= rows).
// - Offsets and sizes count elements, not bytes.
// - Backward kernels ACCUMULATE into their gradient outputs (dx[i] += ...), never overwrite, so a tensor used
//   twice (tied embeddings, residuals) just receives two contributions.
// - The js backend accepts Float32Array and Float64Array (float64 is used by finite-difference gradient checks);
//   the native backend only Float32Array (ops route float64 tensors to js).

export type Arr = Float32Array | Float64Array;

export const EPS_STYLE_PAPER = 0; // 1-eps on gold, eps/(V-1) on every other token (UAL reference code)
export const EPS_STYLE_HF = 1; // (1-eps)*NLL + eps*mean_v(-log p) (transformers' LabelSmoother)

export interface Kernels {
  readonly name: 'js' | 'native';

  /**
   * C[b] = alpha * op(A[b]) @ op(B[b]) + beta * C[b], for b in [0, batch).
   * op(A) is (M, K): A is stored (M, K), or (K, M) when transA. op(B) is (K, N): B stored (K, N), or (N, K) when transB.
   * C is (M, N). A[b] starts at aOff + b*strideA (same for B, C). beta = 0 must ignore C's old contents (even NaN).
   */
  gemm(
    transA: boolean, transB: boolean, M: number, N: number, K: number, alpha: number,
    A: Arr, aOff: number, B: Arr, bOff: number, beta: number, C: Arr, cOff: number,
    batch: number, strideA: number, strideB: number, strideC: number,
  ): void;

  /**
   * gemm whose right operand is bfloat16 bits (a frozen base weight, --base-dtype bf16):
   * C (M, N) = alpha * A (M, K) @ op(B) + beta * C, with B stored (K, N), or (N, K) when transB; A, C float32.
   * B is widened to float32 exactly (bf16 is float32's top half) a block of rows or columns at a time into a small
   * scratch and multiplied with the float32 GEMM; A is never rounded. So C is the float32 product with the widened
   * weight: what PyTorch computes with W.to(torch.bfloat16).float(). beta = 0 must ignore C's old contents.
   */
  gemmBf16(
    transB: boolean, M: number, N: number, K: number, alpha: number,
    A: Arr, aOff: number, B: Uint16Array, beta: number, C: Arr, cOff: number,
  ): void;

  /** out (N, C) = table[ids[n]] widened to float32; table (V, C) is bfloat16 bits; ids validated in [0, V). */
  embeddingForwardBf16(ids: Int32Array, table: Uint16Array, out: Arr, N: number, C: number): void;

  /** out (N, C) = LayerNorm(x) * w + b; saves mean (N), rstd (N). */
  layernormForward(x: Arr, w: Arr, b: Arr, out: Arr, mean: Arr, rstd: Arr, N: number, C: number, eps: number): void;
  /** accumulates dx (N, C), dw (C), db (C). */
  layernormBackward(dout: Arr, x: Arr, w: Arr, mean: Arr, rstd: Arr, dx: Arr, dw: Arr, db: Arr, N: number, C: number): void;

  /** out (N, C) = x * rsqrt(mean(x^2) + eps) * w (Llama RMSNorm); saves rstd (N). */
  rmsnormForward(x: Arr, w: Arr, out: Arr, rstd: Arr, N: number, C: number, eps: number): void;
  rmsnormBackward(dout: Arr, x: Arr, w: Arr, rstd: Arr, dx: Arr, dw: Arr, N: number, C: number): void;

  /** tanh-approximate GELU (GPT-2's gelu_new), n elements. */
  geluForward(x: Arr, out: Arr, n: number): void;
  geluBackward(dout: Arr, x: Arr, dx: Arr, n: number): void;

  /** out = silu(gate) * up (Llama MLP), n elements. */
  swigluForward(gate: Arr, up: Arr, out: Arr, n: number): void;
  swigluBackward(dout: Arr, gate: Arr, up: Arr, dgate: Arr, dup: Arr, n: number): void;

  /**
   * Rotary embedding, rotate-half convention (HF Llama): x, out (B, T, H, hd); position of token t is pos0 + t.
   * inv_freq[i] = 1 / theta^(2i/hd) (float32, as PyTorch computes it), angle = pos * inv_freq[i] for i < hd/2,
   * out[..., i] = x[i]*cos - x[i+hd/2]*sin ; out[..., i+hd/2] = x[i+hd/2]*cos + x[i]*sin.
   */
  ropeForward(x: Arr, out: Arr, B: number, T: number, H: number, hd: number, pos0: number, theta: number): void;
  /** accumulates dx; the exact transpose of ropeForward. */
  ropeBackward(dout: Arr, dx: Arr, B: number, T: number, H: number, hd: number, pos0: number, theta: number): void;

  /**
   * Causal scaled-dot-product attention with grouped-query heads.
   * q (B, Tq, H, hd), k and v (B, Tk, KV, hd), out (B, Tq, H, hd); head h reads kv head floor(h / (H/KV)).
   * Query i sits at absolute position (Tk - Tq + i) and sees keys j <= that position (KV-cache generation has Tq < Tk).
   * Scale 1/sqrt(hd). probs (B, H, Tq, Tk) receives the softmax (masked entries 0) for backward; it may be null when
   * no gradient is needed.
   */
  attentionForward(
    q: Arr, k: Arr, v: Arr, out: Arr, probs: Arr | null,
    B: number, Tq: number, Tk: number, H: number, KV: number, hd: number,
  ): void;
  /**
   * accumulates dq, dk, dv (same layouts as q, k, v) from dout and the saved probs; probs null: the softmax is
   * recomputed from q and k exactly as attentionForward computed it (bit for bit the values it would have saved).
   */
  attentionBackward(
    dout: Arr, q: Arr, k: Arr, v: Arr, probs: Arr | null, dq: Arr, dk: Arr, dv: Arr,
    B: number, Tq: number, Tk: number, H: number, KV: number, hd: number,
  ): void;

  /** out (N, C) = table[ids[n]]. ids are validated in [0, V) before this is called. */
  embeddingForward(ids: Int32Array, table: Arr, out: Arr, N: number, C: number): void;
  /** dtable[ids[n]] += dout[n] (scatter-add). */
  embeddingBackward(ids: Int32Array, dout: Arr, dtable: Arr, N: number, C: number): void;

  /**
   * Fused smoothed cross-entropy over N rows of V logits (log-softmax + loss + gradient; no (N, V) target tensor).
   * targets[n] < 0 means ignored: losses[n] = 0 and its gradient row 0. eps[n] is that row's smoothing value.
   * style EPS_STYLE_PAPER: q = 1-eps on the gold token, eps/(V-1) elsewhere; loss_n = -sum_v q_v log p_v.
   * style EPS_STYLE_HF: loss_n = (1-eps)*(-log p_gold) + eps * mean_v(-log p_v).
   * Teacher target (qK > 0; style is then ignored): row n's target is (1-eps)*onehot(gold) + eps*q with q sparse,
   * qProbs[n*qK + j] on token qIds[n*qK + j] for j < qK (summing to 1; repeated ids add up); only rows with a target
   * are read. loss_n = lse - (1-eps)*x_gold - eps*sum_j q_j*x_{id_j}. The uniform styles never look at qIds/qProbs.
   * When dlogits is given it is OVERWRITTEN (not accumulated) with gradScale * (softmax - q_effective); it may
   * alias logits (in-place) to save memory.
   */
  crossEntropy(
    logits: Arr, targets: Int32Array, eps: Arr, N: number, V: number, style: number,
    losses: Arr, dlogits: Arr | null, gradScale: number,
    qK?: number, qIds?: Int32Array | null, qProbs?: Float32Array | null,
  ): void;

  /**
   * torch.optim.AdamW step on n elements, exactly as PyTorch's single-tensor implementation orders it:
   * p *= 1 - lr*wd; m = b1*m + (1-b1)*g; v = b2*v + (1-b2)*g^2;
   * denom = sqrt(v) / sqrt(1 - b2^step) + eps; p -= (lr / (1 - b1^step)) * m / denom.
   */
  adamw(
    p: Arr, g: Arr, m: Arr, v: Arr, n: number, lr: number, beta1: number, beta2: number,
    eps: number, weightDecay: number, step: number,
  ): void;

  /** sum of squares of x[0..n) in double precision (global-norm clipping). */
  sumSquares(x: Arr, n: number): number;

  /**
   * Causal multi-head self-attention reading q, k and v out of one packed projection (GPT-2's c_attn, no split
   * copies): qkv (B, T, 3, H, hd), i.e. each position's row is q | k | v; out (B, T, H, hd); probs (B, H, T, T) or
   * null, as attentionForward with Tq = Tk = T and KV = H.
   */
  attentionQkvForward(qkv: Arr, out: Arr, probs: Arr | null, B: number, T: number, H: number, hd: number): void;
  /** accumulates dqkv (the layout of qkv) from dout and the saved probs (null: recomputed, as attentionBackward). */
  attentionQkvBackward(dout: Arr, qkv: Arr, probs: Arr | null, dqkv: Arr, B: number, T: number, H: number, hd: number): void;

  /** y[i] += alpha * x[i] for i < n (gradient accumulation; alpha = 1 adds exactly). */
  axpy(alpha: number, x: Arr, y: Arr, n: number): void;
  /** out[i] = a[i] + b[i % m] for i < n: b (m) repeated over the n / m rows of a (a bias, a position table). */
  addRows(a: Arr, b: Arr, out: Arr, n: number, m: number): void;

  /** out (N, C) = gelu(x + b), b (C) broadcast over rows: a linear layer's bias fused into its GELU. */
  biasGeluForward(x: Arr, b: Arr, out: Arr, N: number, C: number): void;
  /** with g = dout * gelu'(x + b): accumulates dx (N, C) += g and db (C) += the column sums of g. */
  biasGeluBackward(dout: Arr, x: Arr, b: Arr, dx: Arr, db: Arr, N: number, C: number): void;
}
