// Causal grouped-query attention, forward and backward, as per-(batch, head) sgemm calls on strided views of
// q/k/v (B, T, heads, hd) with the mask and softmax in C. Query rows go in blocks so each block's products stop at
// the last key it can see: causal attention then costs little more than the visible half of QK^T. The (batch, head)
// problems are independent and run in parallel on the pool, each with single-threaded GEMMs: a head's products are
// far too small to split (one thread where a second only spins).
#include <algorithm>
#include <cmath>
#include <vector>

#include "gemm.h"
#include "kernels.h"
#include "pool.h"
#include "simd.h"

namespace ual {

// Query rows per block: big enough for efficient sgemm, small enough that the masked triangle wasted per block is
// small. About T/4 between 16 and 64 rows, measured (one thread, hd 64): T 64 best at 16 rows, T 128 at 32 (11% less
// backward time than 64), T 256 32-64 alike, T 512 at 64 (16 rows: 30% slower).
static int64_t row_block(int64_t Tq) {
  return std::min<int64_t>(Tq, std::clamp<int64_t>((Tq / 4 + 7) / 8 * 8, 16, 64));
}

// per-thread scratch, two slots: forward's unsaved probabilities, or backward's dS and its recomputed probabilities
static float* scratch(size_t n, int slot = 0) {
  static thread_local std::vector<float> buf[2];
  if (buf[slot].size() < n) buf[slot].resize(n);
  return buf[slot].data();
}

// Token row strides (elements from one position to the next) of q, k, v and out: (B, T, heads, hd) tensors have
// heads * hd; q, k and v read out of one packed (B, T, 3C) projection have 3C.
struct Strides {
  int64_t q, k, v, o;
};

// P (rb, kl) of query rows i0.. (the first at absolute position pos0) against keys 0..kl-1 into S (row stride Tk):
// scale * Q K^T, then each row's causal softmax, masked entries 0 up to column fill_to. Forward and the backward that
// recomputes unsaved probabilities make the same calls, so they get the same bits.
static void softmax_block(const float* qb, int ldq, const float* kb, int ldk, float* S, int64_t Tk, int64_t rb,
                          int64_t kl, int64_t pos0, int64_t hd, float scale, int64_t fill_to) {
  sgemm(false, true, int(rb), int(kl), int(hd), scale, qb, ldq, kb, ldk, 0.0f, S, int(Tk));
  for (int64_t r = 0; r < rb; r++) {
    float* row = S + r * Tk;
    const int64_t cnt = pos0 + r + 1;
    const float mx = row_max(row, cnt);
    const float inv = float(1.0 / exp_shift_sum<true>(row, row, cnt, mx));
    for (int64_t j = 0; j < cnt; j++) row[j] *= inv;
    std::fill(row + cnt, row + fill_to, 0.0f);
  }
}

static void forward(const float* q, const float* k, const float* v, float* out, float* probs, int64_t B, int64_t Tq,
                    int64_t Tk, int64_t H, int64_t KV, int64_t hd, Strides ld) {
  const float scale = float(1.0 / std::sqrt(double(hd)));
  const int64_t group = H / KV, off = Tk - Tq;
  const int ldp = int(Tk);
  const int64_t R = row_block(Tq);
  parallel_for(B * H, 1, [&](int64_t u0, int64_t u1) {
    float* tmp = probs ? nullptr : scratch(size_t(R * Tk));
    for (int64_t u = u0; u < u1; u++) {
      const int64_t b = u / H, h = u % H, g = h / group;
      const float* qb = q + b * Tq * ld.q + h * hd;
      const float* kb = k + b * Tk * ld.k + g * hd;
      const float* vb = v + b * Tk * ld.v + g * hd;
      float* ob = out + b * Tq * ld.o + h * hd;
      for (int64_t i0 = 0; i0 < Tq; i0 += R) {
        const int64_t rb = std::min(R, Tq - i0);
        const int64_t kl = off + i0 + rb;  // keys visible to the block's last row
        float* S = probs ? probs + ((b * H + h) * Tq + i0) * Tk : tmp;
        softmax_block(qb + i0 * ld.q, int(ld.q), kb, int(ld.k), S, Tk, rb, kl, off + i0, hd, scale, probs ? Tk : kl);
        // O = P V
        sgemm(false, false, int(rb), int(hd), int(kl), 1.0f, S, ldp, vb, int(ld.v), 0.0f, ob + i0 * ld.o, int(ld.o));
      }
    }
  });
}

// dq, dk, dv have the strides of q, k, v.
static void backward(const float* dout, const float* q, const float* k, const float* v, const float* probs, float* dq,
                     float* dk, float* dv, int64_t B, int64_t Tq, int64_t Tk, int64_t H, int64_t KV, int64_t hd,
                     Strides ld) {
  const float scale = float(1.0 / std::sqrt(double(hd)));
  const int64_t group = H / KV, off = Tk - Tq;
  const int ldp = int(Tk);
  const int lq = int(ld.q), lk = int(ld.k), lv = int(ld.v), lo = int(ld.o);
  const int64_t R = row_block(Tq);
  // one unit per (batch, kv head): the query heads sharing a kv head (GQA) add into the same dK/dV, so they run in
  // one thread, in head order (the sums come out as in a serial loop)
  parallel_for(B * KV, 1, [&](int64_t u0, int64_t u1) {
    float* dS = scratch(size_t(R * Tk));
    float* Pr = probs ? nullptr : scratch(size_t(R * Tk), 1);  // the block's probabilities, recomputed
    for (int64_t u = u0; u < u1; u++) {
      const int64_t b = u / KV, g = u % KV;
      const float* kb = k + b * Tk * ld.k + g * hd;
      const float* vb = v + b * Tk * ld.v + g * hd;
      float* dkb = dk + b * Tk * ld.k + g * hd;
      float* dvb = dv + b * Tk * ld.v + g * hd;
      for (int64_t h = g * group; h < (g + 1) * group; h++) {
        const float* qb = q + b * Tq * ld.q + h * hd;
        const float* dob = dout + b * Tq * ld.o + h * hd;
        float* dqb = dq + b * Tq * ld.q + h * hd;
        for (int64_t i0 = 0; i0 < Tq; i0 += R) {
          const int64_t rb = std::min(R, Tq - i0);
          const int64_t kl = off + i0 + rb;
          const int ldS = int(kl);
          const float* P = probs ? probs + ((b * H + h) * Tq + i0) * Tk : Pr;
          if (!probs) softmax_block(qb + i0 * lq, lq, kb, lk, Pr, Tk, rb, kl, off + i0, hd, scale, kl);
          // dV += P^T dO
          sgemm(true, false, int(kl), int(hd), int(rb), 1.0f, P, ldp, dob + i0 * lo, lo, 1.0f, dvb, lv);
          // dP = dO V^T
          sgemm(false, true, int(rb), int(kl), int(hd), 1.0f, dob + i0 * lo, lo, vb, lv, 0.0f, dS, ldS);
          // softmax backward: dS = P * (dP - rowsum(P * dP))
          for (int64_t r = 0; r < rb; r++) {
            const float* p = P + r * Tk;
            float* d = dS + r * kl;
            const int64_t cnt = off + i0 + r + 1;
            const float dot = float(dot_d(p, d, cnt));
            for (int64_t j = 0; j < cnt; j++) d[j] = p[j] * (d[j] - dot);
            std::fill(d + cnt, d + kl, 0.0f);
          }
          // dQ += scale dS K ; dK += scale dS^T Q
          sgemm(false, false, int(rb), int(hd), int(kl), scale, dS, ldS, kb, lk, 1.0f, dqb + i0 * lq, lq);
          sgemm(true, false, int(kl), int(hd), int(rb), scale, dS, ldS, qb + i0 * lq, lq, 1.0f, dkb, lk);
        }
      }
    }
  });
}

void attention_forward(const float* q, const float* k, const float* v, float* out, float* probs, int64_t B,
                       int64_t Tq, int64_t Tk, int64_t H, int64_t KV, int64_t hd) {
  forward(q, k, v, out, probs, B, Tq, Tk, H, KV, hd, {H * hd, KV * hd, KV * hd, H * hd});
}

void attention_backward(const float* dout, const float* q, const float* k, const float* v, const float* probs,
                        float* dq, float* dk, float* dv, int64_t B, int64_t Tq, int64_t Tk, int64_t H, int64_t KV,
                        int64_t hd) {
  backward(dout, q, k, v, probs, dq, dk, dv, B, Tq, Tk, H, KV, hd, {H * hd, KV * hd, KV * hd, H * hd});
}

void attention_qkv_forward(const float* qkv, float* out, float* probs, int64_t B, int64_t T, int64_t H, int64_t hd) {
  const int64_t C = H * hd;
  forward(qkv, qkv + C, qkv + 2 * C, out, probs, B, T, T, H, H, hd, {3 * C, 3 * C, 3 * C, C});
}

void attention_qkv_backward(const float* dout, const float* qkv, const float* probs, float* dqkv, int64_t B, int64_t T,
                            int64_t H, int64_t hd) {
  const int64_t C = H * hd;
  backward(dout, qkv, qkv + C, qkv + 2 * C, probs, dqkv, dqkv + C, dqkv + 2 * C, B, T, T, H, H, hd,
           {3 * C, 3 * C, 3 * C, C});
}

}  // namespace ual
