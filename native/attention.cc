// Causal grouped-query attention, forward and backward, as per-(batch, head) sgemm calls on strided views of
// q/k/v (B, T, heads, hd) with the mask and softmax in C. Query rows go in blocks so each block's products stop at
// the last key it can see: causal attention then costs little more than the visible half of QK^T.
#include <algorithm>
#include <cmath>
#include <vector>

#include "gemm.h"
#include "kernels.h"
#include "simd.h"

namespace ual {

// Rows per block: big enough for efficient sgemm, small enough that the masked triangle wasted per block is small.
constexpr int64_t kRowBlock = 64;

static float* scratch(size_t n) {
  static thread_local std::vector<float> buf;
  if (buf.size() < n) buf.resize(n);
  return buf.data();
}

void attention_forward(const float* q, const float* k, const float* v, float* out, float* probs, int64_t B,
                       int64_t Tq, int64_t Tk, int64_t H, int64_t KV, int64_t hd) {
  const float scale = float(1.0 / std::sqrt(double(hd)));
  const int64_t group = H / KV, off = Tk - Tq;
  const int ldq = int(H * hd), ldkv = int(KV * hd), ldp = int(Tk);
  const int64_t R = std::min(kRowBlock, Tq);
  float* tmp = probs ? nullptr : scratch(size_t(R * Tk));
  for (int64_t b = 0; b < B; b++)
    for (int64_t h = 0; h < H; h++) {
      const int64_t g = h / group;
      const float* qb = q + (b * Tq * H + h) * hd;
      const float* kb = k + (b * Tk * KV + g) * hd;
      const float* vb = v + (b * Tk * KV + g) * hd;
      float* ob = out + (b * Tq * H + h) * hd;
      for (int64_t i0 = 0; i0 < Tq; i0 += R) {
        const int64_t rb = std::min(R, Tq - i0);
        const int64_t kl = off + i0 + rb;  // keys visible to the block's last row
        float* S = probs ? probs + ((b * H + h) * Tq + i0) * Tk : tmp;
        // S = scale * Q K^T over the visible keys
        sgemm(false, true, int(rb), int(kl), int(hd), scale, qb + i0 * ldq, ldq, kb, ldkv, 0.0f, S, ldp);
        for (int64_t r = 0; r < rb; r++) {
          float* row = S + r * Tk;
          const int64_t cnt = off + i0 + r + 1;
          const float mx = row_max(row, cnt);
          const float inv = float(1.0 / exp_shift_sum<true>(row, row, cnt, mx));
          for (int64_t j = 0; j < cnt; j++) row[j] *= inv;
          // masked entries are 0 (to Tk in the saved probs, to kl in the scratch that P V reads)
          std::fill(row + cnt, row + (probs ? Tk : kl), 0.0f);
        }
        // O = P V
        sgemm(false, false, int(rb), int(hd), int(kl), 1.0f, S, ldp, vb, ldkv, 0.0f, ob + i0 * ldq, ldq);
      }
    }
}

void attention_backward(const float* dout, const float* q, const float* k, const float* v, const float* probs,
                        float* dq, float* dk, float* dv, int64_t B, int64_t Tq, int64_t Tk, int64_t H, int64_t KV,
                        int64_t hd) {
  const float scale = float(1.0 / std::sqrt(double(hd)));
  const int64_t group = H / KV, off = Tk - Tq;
  const int ldq = int(H * hd), ldkv = int(KV * hd), ldp = int(Tk);
  const int64_t R = std::min(kRowBlock, Tq);
  float* dS = scratch(size_t(R * Tk));
  for (int64_t b = 0; b < B; b++)
    for (int64_t h = 0; h < H; h++) {
      // several query heads share kv head g (GQA): their dK/dV contributions add up through beta = 1
      const int64_t g = h / group;
      const float* qb = q + (b * Tq * H + h) * hd;
      const float* kb = k + (b * Tk * KV + g) * hd;
      const float* vb = v + (b * Tk * KV + g) * hd;
      const float* dob = dout + (b * Tq * H + h) * hd;
      float* dqb = dq + (b * Tq * H + h) * hd;
      float* dkb = dk + (b * Tk * KV + g) * hd;
      float* dvb = dv + (b * Tk * KV + g) * hd;
      for (int64_t i0 = 0; i0 < Tq; i0 += R) {
        const int64_t rb = std::min(R, Tq - i0);
        const int64_t kl = off + i0 + rb;
        const int ldS = int(kl);
        const float* P = probs + ((b * H + h) * Tq + i0) * Tk;
        // dV += P^T dO
        sgemm(true, false, int(kl), int(hd), int(rb), 1.0f, P, ldp, dob + i0 * ldq, ldq, 1.0f, dvb, ldkv);
        // dP = dO V^T
        sgemm(false, true, int(rb), int(kl), int(hd), 1.0f, dob + i0 * ldq, ldq, vb, ldkv, 0.0f, dS, ldS);
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
        sgemm(false, false, int(rb), int(hd), int(kl), scale, dS, ldS, kb, ldkv, 1.0f, dqb + i0 * ldq, ldq);
        sgemm(true, false, int(kl), int(hd), int(rb), scale, dS, ldS, qb + i0 * ldq, ldq, 1.0f, dkb, ldkv);
      }
    }
}

}  // namespace ual
