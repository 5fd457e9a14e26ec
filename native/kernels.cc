// Row and elementwise kernels: norms, activations, RoPE, embeddings, fused smoothed cross-entropy, AdamW. They run
// on the thread pool over rows or element ranges; reductions over rows (norm weight gradients) are summed per fixed
// block of rows and then in block order, so results do not depend on the thread count. Sums within a row accumulate
// in double like the js reference.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "kernels.h"
#include "pool.h"
#include "simd.h"

namespace ual {

static float* scratch(size_t n) {
  static thread_local std::vector<float> buf;
  if (buf.size() < n) buf.resize(n);
  return buf.data();
}

// Work per chunk of a parallel_for: elementwise kernels take ranges of kElemGrain elements, row kernels enough rows
// to cover about as many elements (a chunk is then tens of microseconds: the hand-off is noise).
constexpr int64_t kElemGrain = 16384;
static int64_t row_grain(int64_t C) { return C >= kElemGrain ? 1 : kElemGrain / (C > 0 ? C : 1); }

// Rows of a weight-gradient reduction are summed in blocks of this many elements' worth of rows (fixed by the shape,
// not the thread count), each block into its own partial row, then the partials are added in block order.
static int64_t reduce_rows(int64_t C) { return C >= 32768 ? 1 : 32768 / (C > 0 ? C : 1); }

// dst (C) += the blocks partial rows of C, in block order
static void add_partials(const float* partial, int64_t blocks, int64_t C, float* dst) {
  for (int64_t k = 0; k < blocks; k++)
    for (int64_t c = 0; c < C; c++) dst[c] += partial[k * C + c];
}

// ---- LayerNorm / RMSNorm ----

void layernorm_forward(const float* x, const float* w, const float* b, float* out, float* mean, float* rstd,
                       int64_t N, int64_t C, double eps) {
  parallel_for(N, row_grain(C), [&](int64_t n0, int64_t n1) {
    for (int64_t n = n0; n < n1; n++) {
      const float* xr = x + n * C;
      float* o = out + n * C;
      double m = sum_d(xr, C) / double(C);
      // two-pass variance in double: no E[x^2] - E[x]^2 cancellation
      double var = sumsq_centered_d(xr, C, m) / double(C);
      float mf = float(m), rf = float(1.0 / std::sqrt(var + eps));
      for (int64_t c = 0; c < C; c++) o[c] = (xr[c] - mf) * rf * w[c] + b[c];
      mean[n] = mf;
      rstd[n] = rf;
    }
  });
}

// Row update shared by both norm backwards (mean0 = 0 for RMSNorm). __restrict: gradients never alias inputs, and
// without it GCC gives up vectorising a loop with this many pointers.
static void norm_backward_row(const float* __restrict g, const float* __restrict norm, const float* __restrict dn,
                              float* __restrict dx, float* __restrict dw, float* __restrict db, int64_t C, float mean0,
                              float mean1, float r) {
  for (int64_t c = 0; c < C; c++) {
    if (db) db[c] += g[c];
    dw[c] += g[c] * norm[c];
    dx[c] += (dn[c] - mean0 - norm[c] * mean1) * r;
  }
}

// Backward of both norms over N rows (mean == nullptr for RMSNorm, which has no centring and no bias): dx per row in
// parallel, dw (and db) summed per block of rows into partials, then added to dw/db in block order.
static void norm_backward(const float* dout, const float* x, const float* w, const float* mean, const float* rstd,
                          float* dx, float* dw, float* db, int64_t N, int64_t C) {
  const int64_t rows = reduce_rows(C);
  const int64_t blocks = (N + rows - 1) / rows;
  std::vector<float> pw(size_t(blocks * C), 0.0f), pb(db ? size_t(blocks * C) : 0, 0.0f);
  parallel_for(blocks, 1, [&](int64_t k0, int64_t k1) {
    float* norm = scratch(2 * size_t(C));
    float* dn = norm + C;
    for (int64_t k = k0; k < k1; k++) {
      for (int64_t n = k * rows; n < std::min(N, (k + 1) * rows); n++) {
        const float* g = dout + n * C;
        const float* xr = x + n * C;
        const float m = mean ? mean[n] : 0.0f, r = rstd[n];
        for (int64_t c = 0; c < C; c++) {
          norm[c] = (xr[c] - m) * r;
          dn[c] = g[c] * w[c];
        }
        // LayerNorm: dx = rstd * (dnorm - mean(dnorm) - norm * mean(dnorm * norm)) (llm.c); RMSNorm drops mean(dnorm)
        float dnMean = mean ? float(sum_d(dn, C) / double(C)) : 0.0f;
        float dnNormMean = float(dot_d(dn, norm, C) / double(C));
        norm_backward_row(g, norm, dn, dx + n * C, pw.data() + k * C, db ? pb.data() + k * C : nullptr, C, dnMean,
                          dnNormMean, r);
      }
    }
  });
  add_partials(pw.data(), blocks, C, dw);
  if (db) add_partials(pb.data(), blocks, C, db);
}

void layernorm_backward(const float* dout, const float* x, const float* w, const float* mean, const float* rstd,
                        float* dx, float* dw, float* db, int64_t N, int64_t C) {
  norm_backward(dout, x, w, mean, rstd, dx, dw, db, N, C);
}

void rmsnorm_forward(const float* x, const float* w, float* out, float* rstd, int64_t N, int64_t C, double eps) {
  parallel_for(N, row_grain(C), [&](int64_t n0, int64_t n1) {
    for (int64_t n = n0; n < n1; n++) {
      const float* xr = x + n * C;
      float* o = out + n * C;
      float rf = float(1.0 / std::sqrt(dot_d(xr, xr, C) / double(C) + eps));
      // HF order: (x * rsqrt(...)) * weight
      for (int64_t c = 0; c < C; c++) o[c] = xr[c] * rf * w[c];
      rstd[n] = rf;
    }
  });
}

void rmsnorm_backward(const float* dout, const float* x, const float* w, const float* rstd, float* dx, float* dw,
                      int64_t N, int64_t C) {
  norm_backward(dout, x, w, nullptr, rstd, dx, dw, nullptr, N, C);
}

// ---- GELU (tanh approximation) and SwiGLU ----
// 0.5 x (1 + tanh(u)) == x * sigmoid(2u) == x / (1 + exp(-2u)): no 1 + tanh cancellation for negative x, one exp.

constexpr float kGeluS = 0.7978845608028654f;  // sqrt(2 / pi)
constexpr float kGeluC = 0.044715f;
constexpr float kGeluC3 = 3.0f * 0.044715f;

static inline float gelu_u(float x) { return kGeluS * (x + kGeluC * (x * x * x)); }
static inline float gelu1(float v) { return v / (1.0f + exp_(-2.0f * gelu_u(v))); }

// d/dx = s + 2 x s (1 - s) u' with s = sigmoid(2u): the tanh form's 0.5(1+t) + 0.5 x (1-t^2) u' rewritten
static inline float gelu_grad1(float v) {
  float v2 = v * v;
  float u = kGeluS * (v + kGeluC * (v2 * v));
  float s = 1.0f / (1.0f + exp_(-2.0f * u));
  float du = kGeluS * (1.0f + kGeluC3 * v2);
  return s + ((2.0f * v) * (s * (1.0f - s))) * du;
}

#ifdef UAL_AVX2
static inline __m256 gelu8(__m256 v) {
  const __m256 S = _mm256_set1_ps(kGeluS), Cc = _mm256_set1_ps(kGeluC);
  __m256 u = _mm256_mul_ps(S, _mm256_add_ps(v, _mm256_mul_ps(Cc, _mm256_mul_ps(_mm256_mul_ps(v, v), v))));
  __m256 e = exp8(_mm256_mul_ps(_mm256_set1_ps(-2.0f), u));
  return _mm256_div_ps(v, _mm256_add_ps(_mm256_set1_ps(1.0f), e));
}

static inline __m256 gelu_grad8(__m256 v) {
  const __m256 S = _mm256_set1_ps(kGeluS), Cc = _mm256_set1_ps(kGeluC), C3 = _mm256_set1_ps(kGeluC3),
               one = _mm256_set1_ps(1.0f);
  __m256 v2 = _mm256_mul_ps(v, v);
  __m256 u = _mm256_mul_ps(S, _mm256_add_ps(v, _mm256_mul_ps(Cc, _mm256_mul_ps(v2, v))));
  __m256 s = _mm256_div_ps(one, _mm256_add_ps(one, exp8(_mm256_mul_ps(_mm256_set1_ps(-2.0f), u))));
  __m256 du = _mm256_mul_ps(S, _mm256_add_ps(one, _mm256_mul_ps(C3, v2)));
  __m256 ss = _mm256_mul_ps(s, _mm256_sub_ps(one, s));
  return _mm256_add_ps(s, _mm256_mul_ps(_mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(2.0f), v), ss), du));
}
#endif

// out = gelu(x + b) over n elements; b == nullptr adds nothing
static void gelu_forward_range(const float* x, const float* b, float* out, int64_t n) {
  int64_t i = 0;
#ifdef UAL_AVX2
  for (; i + 8 <= n; i += 8) {
    __m256 v = _mm256_loadu_ps(x + i);
    if (b) v = _mm256_add_ps(v, _mm256_loadu_ps(b + i));
    _mm256_storeu_ps(out + i, gelu8(v));
  }
#endif
  for (; i < n; i++) out[i] = gelu1(b ? x[i] + b[i] : x[i]);
}

// g = dout * gelu'(x + b); dx += g, and gsum += g when given (a bias's gradient)
static void gelu_backward_range(const float* dout, const float* x, const float* b, float* dx, float* gsum,
                                int64_t n) {
  int64_t i = 0;
#ifdef UAL_AVX2
  for (; i + 8 <= n; i += 8) {
    __m256 v = _mm256_loadu_ps(x + i);
    if (b) v = _mm256_add_ps(v, _mm256_loadu_ps(b + i));
    __m256 g = _mm256_mul_ps(_mm256_loadu_ps(dout + i), gelu_grad8(v));
    _mm256_storeu_ps(dx + i, _mm256_add_ps(_mm256_loadu_ps(dx + i), g));
    if (gsum) _mm256_storeu_ps(gsum + i, _mm256_add_ps(_mm256_loadu_ps(gsum + i), g));
  }
#endif
  for (; i < n; i++) {
    float g = dout[i] * gelu_grad1(b ? x[i] + b[i] : x[i]);
    dx[i] += g;
    if (gsum) gsum[i] += g;
  }
}

void gelu_forward(const float* x, float* out, int64_t n) {
  parallel_for(n, kElemGrain, [&](int64_t b, int64_t e) { gelu_forward_range(x + b, nullptr, out + b, e - b); });
}

void gelu_backward(const float* dout, const float* x, float* dx, int64_t n) {
  parallel_for(n, kElemGrain,
               [&](int64_t b, int64_t e) { gelu_backward_range(dout + b, x + b, nullptr, dx + b, nullptr, e - b); });
}

void bias_gelu_forward(const float* x, const float* b, float* out, int64_t N, int64_t C) {
  parallel_for(N, row_grain(C), [&](int64_t n0, int64_t n1) {
    for (int64_t n = n0; n < n1; n++) gelu_forward_range(x + n * C, b, out + n * C, C);
  });
}

void bias_gelu_backward(const float* dout, const float* x, const float* b, float* dx, float* db, int64_t N,
                        int64_t C) {
  const int64_t rows = reduce_rows(C);
  const int64_t blocks = (N + rows - 1) / rows;
  std::vector<float> partial(size_t(blocks * C), 0.0f);
  parallel_for(blocks, 1, [&](int64_t k0, int64_t k1) {
    for (int64_t k = k0; k < k1; k++)
      for (int64_t n = k * rows; n < std::min(N, (k + 1) * rows); n++)
        gelu_backward_range(dout + n * C, x + n * C, b, dx + n * C, partial.data() + k * C, C);
  });
  add_partials(partial.data(), blocks, C, db);
}

static void swiglu_forward_range(const float* gate, const float* up, float* out, int64_t n) {
  int64_t i = 0;
#ifdef UAL_AVX2
  const __m256 one = _mm256_set1_ps(1.0f), zero = _mm256_setzero_ps();
  for (; i + 8 <= n; i += 8) {
    __m256 g = _mm256_loadu_ps(gate + i);
    __m256 silu = _mm256_div_ps(g, _mm256_add_ps(one, exp8(_mm256_sub_ps(zero, g))));
    _mm256_storeu_ps(out + i, _mm256_mul_ps(silu, _mm256_loadu_ps(up + i)));
  }
#endif
  for (; i < n; i++) {
    float g = gate[i];
    out[i] = (g / (1.0f + exp_(0.0f - g))) * up[i];
  }
}

void swiglu_forward(const float* gate, const float* up, float* out, int64_t n) {
  parallel_for(n, kElemGrain, [&](int64_t b, int64_t e) { swiglu_forward_range(gate + b, up + b, out + b, e - b); });
}

static void swiglu_backward_range(const float* dout, const float* gate, const float* up, float* dgate, float* dup, int64_t n) {
  int64_t i = 0;
#ifdef UAL_AVX2
  const __m256 one = _mm256_set1_ps(1.0f), zero = _mm256_setzero_ps();
  for (; i + 8 <= n; i += 8) {
    __m256 g = _mm256_loadu_ps(gate + i), d = _mm256_loadu_ps(dout + i);
    __m256 s = _mm256_div_ps(one, _mm256_add_ps(one, exp8(_mm256_sub_ps(zero, g))));
    _mm256_storeu_ps(dup + i, _mm256_add_ps(_mm256_loadu_ps(dup + i), _mm256_mul_ps(d, _mm256_mul_ps(g, s))));
    __m256 ds = _mm256_mul_ps(s, _mm256_add_ps(one, _mm256_mul_ps(g, _mm256_sub_ps(one, s))));
    __m256 dg = _mm256_mul_ps(_mm256_mul_ps(d, _mm256_loadu_ps(up + i)), ds);
    _mm256_storeu_ps(dgate + i, _mm256_add_ps(_mm256_loadu_ps(dgate + i), dg));
  }
#endif
  for (; i < n; i++) {
    float g = gate[i], d = dout[i];
    float s = 1.0f / (1.0f + exp_(0.0f - g));
    dup[i] += d * (g * s);
    dgate[i] += (d * up[i]) * (s * (1.0f + g * (1.0f - s)));
  }
}

void swiglu_backward(const float* dout, const float* gate, const float* up, float* dgate, float* dup, int64_t n) {
  parallel_for(n, kElemGrain, [&](int64_t b, int64_t e) { swiglu_backward_range(dout + b, gate + b, up + b, dgate + b, dup + b, e - b); });
}

// ---- RoPE (rotate-half) ----

// cos/sin (T, hd/2) in float32 as PyTorch/HF build them: inv_freq and angle rounded to float, cos/sin of that float.
static void rope_tables(int64_t T, int64_t hd, int64_t pos0, double theta, float* cs, float* sn) {
  int64_t half = hd / 2;
  for (int64_t i = 0; i < half; i++) {
    float e = float(2 * i) / float(hd);
    float inv = 1.0f / float(std::pow(theta, double(e)));
    for (int64_t t = 0; t < T; t++) {
      float angle = float(pos0 + t) * inv;
      cs[t * half + i] = float(std::cos(double(angle)));
      sn[t * half + i] = float(std::sin(double(angle)));
    }
  }
}

void rope_forward(const float* x, float* out, int64_t B, int64_t T, int64_t H, int64_t hd, int64_t pos0,
                  double theta) {
  int64_t half = hd / 2;
  float* cs = scratch(size_t(T * hd));
  float* sn = cs + T * half;
  rope_tables(T, hd, pos0, theta, cs, sn);
  parallel_for(B * T, row_grain(H * hd), [&](int64_t r0, int64_t r1) {
    for (int64_t bt = r0; bt < r1; bt++) {
      const int64_t b = bt / T, t = bt % T;
      const float* c = cs + t * half;
      const float* s = sn + t * half;
      for (int64_t h = 0; h < H; h++) {
        int64_t o = ((b * T + t) * H + h) * hd;
        const float* x1 = x + o;
        const float* x2 = x1 + half;
        float* o1 = out + o;
        float* o2 = o1 + half;
        for (int64_t i = 0; i < half; i++) {
          float a = x1[i], bb = x2[i];
          o1[i] = a * c[i] - bb * s[i];
          o2[i] = bb * c[i] + a * s[i];
        }
      }
    }
  });
}

void rope_backward(const float* dout, float* dx, int64_t B, int64_t T, int64_t H, int64_t hd, int64_t pos0,
                   double theta) {
  int64_t half = hd / 2;
  float* cs = scratch(size_t(T * hd));
  float* sn = cs + T * half;
  rope_tables(T, hd, pos0, theta, cs, sn);
  parallel_for(B * T, row_grain(H * hd), [&](int64_t r0, int64_t r1) {
    for (int64_t bt = r0; bt < r1; bt++) {
      const int64_t b = bt / T, t = bt % T;
      const float* c = cs + t * half;
      const float* s = sn + t * half;
      for (int64_t h = 0; h < H; h++) {
        int64_t o = ((b * T + t) * H + h) * hd;
        const float* d1 = dout + o;
        const float* d2 = d1 + half;
        float* g1 = dx + o;
        float* g2 = g1 + half;
        for (int64_t i = 0; i < half; i++) {
          float a = d1[i], bb = d2[i];
          g1[i] += a * c[i] + bb * s[i];
          g2[i] += bb * c[i] - a * s[i];
        }
      }
    }
  });
}

// ---- embeddings ----

void embedding_forward(const int32_t* ids, const float* table, float* out, int64_t N, int64_t C) {
  parallel_for(N, row_grain(C), [&](int64_t n0, int64_t n1) {
    for (int64_t n = n0; n < n1; n++)
      std::memcpy(out + n * C, table + int64_t(ids[n]) * C, size_t(C) * sizeof(float));
  });
}

void embedding_backward(const int32_t* ids, const float* dout, float* dtable, int64_t N, int64_t C) {
  for (int64_t n = 0; n < N; n++) {
    float* d = dtable + int64_t(ids[n]) * C;
    const float* g = dout + n * C;
    for (int64_t c = 0; c < C; c++) d[c] += g[c];
  }
}

// ---- fused smoothed cross-entropy ----

void cross_entropy(const float* logits, const int32_t* targets, const float* eps, int64_t N, int64_t V, int style,
                   float* losses, float* dlogits, double gradScale) {
  const bool hf = style == 1;
  const float gs = float(gradScale);
  parallel_for(N, row_grain(V), [=](int64_t n0, int64_t n1) {
    for (int64_t n = n0; n < n1; n++) {
      const float* x = logits + n * V;
      float* d = dlogits ? dlogits + n * V : nullptr;
      int32_t t = targets[n];
      if (t < 0) {
        losses[n] = 0.0f;
        if (d) std::fill(d, d + V, 0.0f);
        continue;
      }
      double e = eps[n];
      // target distribution: qGold on the gold token, qOther on every other one (sums to 1)
      double qOther = hf ? e / double(V) : (V > 1 ? e / double(V - 1) : 0.0);
      double qGold = hf ? 1.0 - e + e / double(V) : 1.0 - e;
      // everything the loss needs is read before d (which may alias x) is written
      float mx = row_max(x, V);
      double sumX = sum_d(x, V);
      double xGold = x[t];
      double sum = d ? exp_shift_sum<true>(x, d, V, mx) : exp_shift_sum<false>(x, nullptr, V, mx);
      double lse = double(mx) + std::log(sum);
      // -sum_v q_v log p_v with log p_v = x_v - lse and sum_v q_v = 1
      losses[n] = float(lse - qGold * xGold - qOther * (sumX - xGold));
      if (d) {
        float eGold = d[t];
        float inv = float(1.0 / sum);
        float qo = float(qOther);
        int64_t v = 0;
#ifdef UAL_AVX2
        const __m256 vinv = _mm256_set1_ps(inv), vq = _mm256_set1_ps(qo), vg = _mm256_set1_ps(gs);
        for (; v + 8 <= V; v += 8)
          _mm256_storeu_ps(d + v, _mm256_mul_ps(vg, _mm256_sub_ps(_mm256_mul_ps(_mm256_loadu_ps(d + v), vinv), vq)));
#endif
        for (; v < V; v++) d[v] = gs * (d[v] * inv - qo);
        d[t] = gs * (eGold * inv - float(qGold));
      }
    }
  });
}

// Toward a sparse teacher q (qK entries per row): the uniform loop above is left as it was; here the loss needs
// sum_j q_j x_{id_j} instead of sum_v x_v, and the gradient is the plain softmax with 1-e taken off the gold token and
// e*q_j off each teacher token (a scatter of qK values; repeated ids add up).
void cross_entropy_teacher(const float* logits, const int32_t* targets, const float* eps, int64_t N, int64_t V,
                           float* losses, float* dlogits, double gradScale, int64_t qK, const int32_t* qIds,
                           const float* qProbs) {
  const float gs = float(gradScale);
  parallel_for(N, row_grain(V), [=](int64_t n0, int64_t n1) {
    for (int64_t n = n0; n < n1; n++) {
      const float* x = logits + n * V;
      float* d = dlogits ? dlogits + n * V : nullptr;
      int32_t t = targets[n];
      if (t < 0) {
        losses[n] = 0.0f;
        if (d) std::fill(d, d + V, 0.0f);
        continue;
      }
      double e = eps[n];
      const int32_t* ids = qIds + n * qK;
      const float* q = qProbs + n * qK;
      // everything the loss needs is read before d (which may alias x) is written
      float mx = row_max(x, V);
      double xGold = x[t];
      double qx = 0.0;
      for (int64_t j = 0; j < qK; j++) qx += double(q[j]) * double(x[ids[j]]);
      double sum = d ? exp_shift_sum<true>(x, d, V, mx) : exp_shift_sum<false>(x, nullptr, V, mx);
      double lse = double(mx) + std::log(sum);
      // -sum_v t_v log p_v with t = (1-e) onehot + e q, log p_v = x_v - lse and sum_v t_v = 1
      losses[n] = float(lse - (1.0 - e) * xGold - e * qx);
      if (d) {
        float eGold = d[t];
        float inv = float(1.0 / sum);
        int64_t v = 0;
#ifdef UAL_AVX2
        const __m256 vs = _mm256_set1_ps(gs * inv);
        for (; v + 8 <= V; v += 8) _mm256_storeu_ps(d + v, _mm256_mul_ps(vs, _mm256_loadu_ps(d + v)));
#endif
        for (; v < V; v++) d[v] = (gs * inv) * d[v];
        d[t] = gs * (eGold * inv - float(1.0 - e));
        for (int64_t j = 0; j < qK; j++) d[ids[j]] -= float(gradScale * e * double(q[j]));
      }
    }
  });
}

// ---- AdamW ----

// torch.optim.AdamW(foreach=False) as PyTorch's CPU kernels evaluate it, in float32 with scalars computed in double
// and cast to float: p.mul_(1 - lr*wd); m.mul_(b1).add_(g, alpha=1-b1); v.mul_(b2).addcmul_(g, g, value=1-b2);
// denom = v.sqrt() / sqrt(bc2) + eps; p.addcdiv_(m, denom, value=-lr/bc1). The two FMAs are where torch's vectorised
// add/addcmul fuse; with them p, m and v come out bit-identical to torch 1.13 (Debian python3-torch) over 5 steps.
void adamw(float* p, const float* g, float* m, float* v, int64_t n, double lr, double beta1, double beta2, double eps,
           double weightDecay, double step) {
  const float decay = float(1.0 - lr * weightDecay);
  const float b1 = float(beta1), w1 = float(1.0 - beta1), b2 = float(beta2), w2 = float(1.0 - beta2);
  const float bc2Sqrt = float(std::sqrt(1.0 - std::pow(beta2, step)));
  const float negStep = float(-(lr / (1.0 - std::pow(beta1, step))));
  const float epsf = float(eps);
  // the scalars are captured by value: by reference, every store to p/m/v could alias them and the loop would reload
  // them instead of vectorising
  parallel_for(n, kElemGrain, [=](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; i++) {
      float gi = g[i];
      float mi = fma_(gi, w1, m[i] * b1);
      float vi = fma_(w2 * gi, gi, v[i] * b2);
      float denom = std::sqrt(vi) / bc2Sqrt + epsf;
      p[i] = p[i] * decay + (negStep * mi) / denom;
      m[i] = mi;
      v[i] = vi;
    }
  });
}

double sum_squares(const float* x, int64_t n) { return dot_d(x, x, n); }

// ---- residual adds and gradient accumulation ----

void axpy(float alpha, const float* x, float* y, int64_t n) {
  parallel_for(n, kElemGrain, [=](int64_t i0, int64_t i1) {
    // alpha == 1 adds exactly (1 * x is x), so gradient sums match a plain +=
    for (int64_t i = i0; i < i1; i++) y[i] += alpha * x[i];
  });
}

void add_rows(const float* a, const float* b, float* out, int64_t n, int64_t m) {
  parallel_for(n, kElemGrain, [&](int64_t i0, int64_t i1) {
    // the range in pieces that each stay within one row of b
    for (int64_t i = i0, j = i0 % m; i < i1; j = 0) {
      const int64_t len = std::min(i1 - i, m - j);
      const float* ar = a + i;
      const float* br = b + j;
      float* o = out + i;
      for (int64_t t = 0; t < len; t++) o[t] = ar[t] + br[t];
      i += len;
    }
  });
}

}  // namespace ual
