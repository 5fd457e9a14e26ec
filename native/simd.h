// Vector helpers shared by the kernels: a Cephes-style expf (measured < 1 ulp over [-87, 88.7], like the Sleef exp
// PyTorch vectorises with) and double-precision row reductions. AVX2 bodies and scalar tails run the same algorithm,
// so results do not depend on where an element falls in a row.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define UAL_AVX2 1
#endif

namespace ual {

// Explicit fused multiply-add where the vector code uses one; -ffp-contract=off keeps every other a*b+c unfused.
#if defined(UAL_AVX2) || defined(__FP_FAST_FMAF)
inline float fma_(float a, float b, float c) { return std::fmaf(a, b, c); }
#else
inline float fma_(float a, float b, float c) { return a * b + c; }
#endif

namespace expc {
// Clamp range: below -104 the result underflows to 0, above 88.8 it overflows to inf (2^n is applied in two halves
// so denormals and the overflow boundary come out right without special cases).
constexpr float lo = -104.0f, hi = 88.8f;
constexpr float log2e = 1.44269504088896341f;
constexpr float ln2hi = 0.693359375f, ln2lo = -2.12194440e-4f;
constexpr float p0 = 1.9875691500e-4f, p1 = 1.3981999507e-3f, p2 = 8.3334519073e-3f;
constexpr float p3 = 4.1665795894e-2f, p4 = 1.6666665459e-1f, p5 = 5.0000001201e-1f;
}  // namespace expc

inline float pow2i(int n) {
  uint32_t b = uint32_t(n + 127) << 23;
  float f;
  std::memcpy(&f, &b, 4);
  return f;
}

inline float exp_(float x) {
  using namespace expc;
  if (x != x) return x;
  float t = x < lo ? lo : (x > hi ? hi : x);
  float n = std::nearbyint(t * log2e);
  float r = fma_(-n, ln2hi, t);
  r = fma_(-n, ln2lo, r);
  float p = fma_(p0, r, p1);
  p = fma_(p, r, p2);
  p = fma_(p, r, p3);
  p = fma_(p, r, p4);
  p = fma_(p, r, p5);
  p = fma_(p, r * r, r) + 1.0f;
  int ni = int(n);
  int n1 = ni >> 1;
  return p * pow2i(n1) * pow2i(ni - n1);
}

#ifdef UAL_AVX2
inline __m256 exp8(__m256 x) {
  using namespace expc;
  // max(lo, x) and min(hi, .) return their second operand when it is NaN, so NaN flows through to the result
  __m256 t = _mm256_min_ps(_mm256_set1_ps(hi), _mm256_max_ps(_mm256_set1_ps(lo), x));
  __m256 n = _mm256_round_ps(_mm256_mul_ps(t, _mm256_set1_ps(log2e)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(ln2hi), t);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(ln2lo), r);
  __m256 p = _mm256_fmadd_ps(_mm256_set1_ps(p0), r, _mm256_set1_ps(p1));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(p2));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(p3));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(p4));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(p5));
  p = _mm256_add_ps(_mm256_fmadd_ps(p, _mm256_mul_ps(r, r), r), _mm256_set1_ps(1.0f));
  __m256i ni = _mm256_cvtps_epi32(n);
  __m256i n1 = _mm256_srai_epi32(ni, 1);
  __m256i n2 = _mm256_sub_epi32(ni, n1);
  const __m256i bias = _mm256_set1_epi32(127);
  __m256 s1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n1, bias), 23));
  __m256 s2 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n2, bias), 23));
  return _mm256_mul_ps(_mm256_mul_ps(p, s1), s2);
}

inline double hsum4d(__m256d v) {
  __m128d s = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
  return _mm_cvtsd_f64(_mm_add_sd(s, _mm_unpackhi_pd(s, s)));
}

inline float hmax8(__m256 v) {
  __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  m = _mm_max_ps(m, _mm_movehl_ps(m, m));
  m = _mm_max_ss(m, _mm_shuffle_ps(m, m, 1));
  return _mm_cvtss_f32(m);
}
#endif

// Row max; NaN handling is irrelevant here because callers feed the max into exp, which propagates NaN anyway.
inline float row_max(const float* x, int64_t n) {
  float m = -INFINITY;
  int64_t i = 0;
#ifdef UAL_AVX2
  if (n >= 8) {
    __m256 vm = _mm256_set1_ps(-INFINITY);
    for (; i + 8 <= n; i += 8) vm = _mm256_max_ps(vm, _mm256_loadu_ps(x + i));
    m = hmax8(vm);
  }
#endif
  for (; i < n; i++) m = x[i] > m ? x[i] : m;
  return m;
}

// sum x (double accumulation in independent lanes: vectorisable without letting the compiler reassociate)
inline double sum_d(const float* x, int64_t n) {
  int64_t i = 0;
  double s = 0;
#ifdef UAL_AVX2
  __m256d a0 = _mm256_setzero_pd(), a1 = _mm256_setzero_pd();
  for (; i + 8 <= n; i += 8) {
    __m256 v = _mm256_loadu_ps(x + i);
    a0 = _mm256_add_pd(a0, _mm256_cvtps_pd(_mm256_castps256_ps128(v)));
    a1 = _mm256_add_pd(a1, _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)));
  }
  s = hsum4d(_mm256_add_pd(a0, a1));
#else
  double a[4] = {0, 0, 0, 0};
  for (; i + 4 <= n; i += 4)
    for (int l = 0; l < 4; l++) a[l] += x[i + l];
  s = (a[0] + a[1]) + (a[2] + a[3]);
#endif
  for (; i < n; i++) s += x[i];
  return s;
}

// sum a*b in double; float*float is exact in double, so only the additions round
inline double dot_d(const float* a, const float* b, int64_t n) {
  int64_t i = 0;
  double s = 0;
#ifdef UAL_AVX2
  __m256d a0 = _mm256_setzero_pd(), a1 = _mm256_setzero_pd();
  for (; i + 8 <= n; i += 8) {
    __m256 va = _mm256_loadu_ps(a + i), vb = _mm256_loadu_ps(b + i);
    a0 = _mm256_fmadd_pd(_mm256_cvtps_pd(_mm256_castps256_ps128(va)), _mm256_cvtps_pd(_mm256_castps256_ps128(vb)), a0);
    a1 = _mm256_fmadd_pd(_mm256_cvtps_pd(_mm256_extractf128_ps(va, 1)), _mm256_cvtps_pd(_mm256_extractf128_ps(vb, 1)), a1);
  }
  s = hsum4d(_mm256_add_pd(a0, a1));
#else
  double acc[4] = {0, 0, 0, 0};
  for (; i + 4 <= n; i += 4)
    for (int l = 0; l < 4; l++) acc[l] += double(a[i + l]) * double(b[i + l]);
  s = (acc[0] + acc[1]) + (acc[2] + acc[3]);
#endif
  for (; i < n; i++) s += double(a[i]) * double(b[i]);
  return s;
}

// sum (x - mean)^2 in double (LayerNorm's two-pass variance)
inline double sumsq_centered_d(const float* x, int64_t n, double mean) {
  int64_t i = 0;
  double s = 0;
#ifdef UAL_AVX2
  __m256d a0 = _mm256_setzero_pd(), a1 = _mm256_setzero_pd(), m = _mm256_set1_pd(mean);
  for (; i + 8 <= n; i += 8) {
    __m256 v = _mm256_loadu_ps(x + i);
    __m256d d0 = _mm256_sub_pd(_mm256_cvtps_pd(_mm256_castps256_ps128(v)), m);
    __m256d d1 = _mm256_sub_pd(_mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)), m);
    a0 = _mm256_fmadd_pd(d0, d0, a0);
    a1 = _mm256_fmadd_pd(d1, d1, a1);
  }
  s = hsum4d(_mm256_add_pd(a0, a1));
#else
  double acc[4] = {0, 0, 0, 0};
  for (; i + 4 <= n; i += 4)
    for (int l = 0; l < 4; l++) { double d = double(x[i + l]) - mean; acc[l] += d * d; }
  s = (acc[0] + acc[1]) + (acc[2] + acc[3]);
#endif
  for (; i < n; i++) { double d = double(x[i]) - mean; s += d * d; }
  return s;
}

// y[i] = exp(x[i] - shift) (y may be x; with kStore false nothing is written); returns the sum in double.
template <bool kStore>
inline double exp_shift_sum(const float* x, float* y, int64_t n, float shift) {
  int64_t i = 0;
  double s = 0;
#ifdef UAL_AVX2
  __m256d a0 = _mm256_setzero_pd(), a1 = _mm256_setzero_pd();
  __m256 vs = _mm256_set1_ps(shift);
  for (; i + 8 <= n; i += 8) {
    __m256 e = exp8(_mm256_sub_ps(_mm256_loadu_ps(x + i), vs));
    if (kStore) _mm256_storeu_ps(y + i, e);
    a0 = _mm256_add_pd(a0, _mm256_cvtps_pd(_mm256_castps256_ps128(e)));
    a1 = _mm256_add_pd(a1, _mm256_cvtps_pd(_mm256_extractf128_ps(e, 1)));
  }
  s = hsum4d(_mm256_add_pd(a0, a1));
#endif
  for (; i < n; i++) {
    float e = exp_(x[i] - shift);
    if (kStore) y[i] = e;
    s += e;
  }
  return s;
}

}  // namespace ual
