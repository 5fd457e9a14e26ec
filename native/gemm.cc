// sgemm for the native kernels. With OpenBLAS: cblas_sgemm calls. Without: a GotoBLAS/BLIS-style blocked GEMM
// (pack op(B) into KCxNR panels and op(A) into MRxKC panels, 6x16 register-tiled FMA micro-kernel), so the fallback
// still reaches a useful fraction of peak. Either way, products large enough to gain from it are cut into chunks that
// run on the thread pool (pool.h), each chunk a single-threaded GEMM.
#include "gemm.h"

#include <algorithm>
#include <cstdint>
#include <vector>

#include "pool.h"
#include "simd.h"

#ifdef UAL_OPENBLAS
#include <cblas.h>
#endif

namespace ual {

// C = beta * C over an (M, N) block; beta == 0 stores zeros so stale NaN/inf never leak into the result.
static void scale_c(float beta, float* C, int M, int N, int ldc) {
  if (beta == 1.0f) return;
  for (int i = 0; i < M; i++) {
    float* c = C + int64_t(i) * ldc;
    if (beta == 0.0f) std::fill(c, c + N, 0.0f);
    else for (int j = 0; j < N; j++) c[j] *= beta;
  }
}

// How a product is spread over the pool: below kParallelFlops one thread is as fast (a second only adds the hand-off
// and packs its own copy of an operand), so it runs on the caller; above it the product is cut along M or N, along
// the side whose cut duplicates less packing (each chunk packs all of the other operand), into one chunk per thread
// (more chunks balance better when the OS deschedules a worker, but each packs that operand again: measured slower).
// Crossover measured here (OpenBLAS 0.3.21 SkylakeX kernels, 2 cores): 128x128x64 (2.1 MFLOP) 14-17 us on one thread
// or two, 128x128x128 (4.2 MFLOP) 31 us on one, 19 on two; 512x512x128 428 -> 222 us.
constexpr double kParallelFlops = 3.0e6;
constexpr int kChunksPerThread = 1;

struct Split {
  bool alongM;
  int64_t units, grain, align, chunks;
};

static Split plan_split(int M, int N, int K) {
  Split s{true, 1, 1, 1, 1};
  const int threads = pool_threads();
  if (threads <= 1 || in_parallel() || 2.0 * M * N * K < kParallelFlops) return s;
  s.alongM = N <= M;
  s.align = 16;
  const int64_t dim = s.alongM ? M : N;
  s.units = (dim + s.align - 1) / s.align;
  const int64_t want = std::min<int64_t>(s.units, int64_t(threads) * kChunksPerThread);
  s.grain = (s.units + want - 1) / want;
  s.chunks = (s.units + s.grain - 1) / s.grain;
  return s;
}

// Computes C by the plan: part(m, n, A', B', C') multiplies one chunk (a block of rows or columns of C, with the
// operands offset to it); a plan of one chunk is a single call on this thread.
template <class Part>
static void run_split(const Split& s, bool transA, bool transB, int M, int N, const float* A, int lda, const float* B,
                      int ldb, float* C, int ldc, Part&& part) {
  if (s.chunks <= 1) { part(M, N, A, B, C); return; }
  parallel_for(s.units, s.grain, [&](int64_t u0, int64_t u1) {
    const int lo = int(u0 * s.align), hi = int(std::min<int64_t>(u1 * s.align, s.alongM ? M : N));
    if (s.alongM) part(hi - lo, N, transA ? A + lo : A + int64_t(lo) * lda, B, C + int64_t(lo) * ldc);
    else part(M, hi - lo, A, transB ? B + int64_t(lo) * ldb : B + lo, C + lo);
  });
}

#ifdef UAL_OPENBLAS

// One thread's share of a product: OpenBLAS runs single-threaded in the calling thread (see set_threads).
static void blas_part(bool transA, bool transB, int M, int N, int K, float alpha, const float* A, int lda,
                      const float* B, int ldb, float beta, float* C, int ldc) {
  if (M == 1) {
    // one row (KV-cache decoding): sgemm would pack all of B first; sgemv streams it once
    if (beta == 0.0f) std::fill(C, C + N, 0.0f);
    const int incA = transA ? lda : 1;
    if (transB) cblas_sgemv(CblasRowMajor, CblasNoTrans, N, K, alpha, B, ldb, A, incA, beta, C, 1);
    else cblas_sgemv(CblasRowMajor, CblasTrans, K, N, alpha, B, ldb, A, incA, beta, C, 1);
    return;
  }
  cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans, M, N, K, alpha,
              A, lda, B, ldb, beta, C, ldc);
}

void sgemm(bool transA, bool transB, int M, int N, int K, float alpha, const float* A, int lda, const float* B,
           int ldb, float beta, float* C, int ldc) {
  if (M <= 0 || N <= 0) return;
  // cblas rejects lda = 0 when K = 0 (xerbla prints and returns); the result is just beta * C anyway
  if (K <= 0) { scale_c(beta, C, M, N, ldc); return; }
  run_split(plan_split(M, N, K), transA, transB, M, N, A, lda, B, ldb, C, ldc,
            [&](int m, int n, const float* a, const float* b, float* c) {
              blas_part(transA, transB, m, n, K, alpha, a, lda, b, ldb, beta, c, ldc);
            });
}

// The pool (pool.h) is the only one: OpenBLAS stays at one thread, and its share of each product runs on ours.
void set_threads(int n) {
  openblas_set_num_threads(1);
  set_pool_threads(n);
}
int get_threads() { return pool_threads(); }
bool have_openblas() { return true; }
const char* blas_config() { return openblas_get_config(); }

#else  // portable GEMM

void set_threads(int n) { set_pool_threads(n); }
int get_threads() { return pool_threads(); }
bool have_openblas() { return false; }
const char* blas_config() {
#ifdef UAL_AVX2
  return "portable blocked sgemm (6x16 AVX2/FMA micro-kernel)";
#else
  return "portable blocked sgemm (generic C micro-kernel)";
#endif
}

constexpr int MR = 6, NR = 16;     // register tile: 12 ymm accumulators
constexpr int KC = 256;            // A micro-panel 6 KB + B micro-panel 16 KB stay in L1
constexpr int MC = 144;            // packed A block (144 KB) stays in L2
constexpr int NC = 3072;           // packed B block (3 MB) streams from L3

struct Packs {
  std::vector<float> a, b;
};

// op(A)(i, p) for row-major A: (M, K) or, transposed, stored (K, M)
static void pack_a(bool tA, const float* A, int lda, int i0, int mc, int p0, int kc, int M, float* dst) {
  for (int ir = 0; ir < mc; ir += MR) {
    float* d = dst + int64_t(ir) * kc;
    int rows = std::min(MR, M - (i0 + ir));
    if (!tA) {
      for (int r = 0; r < MR; r++) {
        if (r < rows) {
          const float* s = A + int64_t(i0 + ir + r) * lda + p0;
          for (int p = 0; p < kc; p++) d[p * MR + r] = s[p];
        } else {
          for (int p = 0; p < kc; p++) d[p * MR + r] = 0.0f;
        }
      }
    } else {
      for (int p = 0; p < kc; p++) {
        const float* s = A + int64_t(p0 + p) * lda + i0 + ir;
        for (int r = 0; r < MR; r++) d[p * MR + r] = r < rows ? s[r] : 0.0f;
      }
    }
  }
}

// op(B)(p, j) for row-major B: (K, N) or, transposed, stored (N, K)
static void pack_b(bool tB, const float* B, int ldb, int p0, int kc, int j0, int nc, int N, float* dst) {
  for (int jr = 0; jr < nc; jr += NR) {
    float* d = dst + int64_t(jr) * kc;
    int cols = std::min(NR, N - (j0 + jr));
    if (!tB) {
      for (int p = 0; p < kc; p++) {
        const float* s = B + int64_t(p0 + p) * ldb + j0 + jr;
        for (int c = 0; c < NR; c++) d[p * NR + c] = c < cols ? s[c] : 0.0f;
      }
    } else {
      for (int c = 0; c < NR; c++) {
        if (c < cols) {
          const float* s = B + int64_t(j0 + jr + c) * ldb + p0;
          for (int p = 0; p < kc; p++) d[p * NR + c] = s[p];
        } else {
          for (int p = 0; p < kc; p++) d[p * NR + c] = 0.0f;
        }
      }
    }
  }
}

// C[0:mr, 0:nr] += alpha * (a panel @ b panel)
static void micro_kernel(int kc, const float* a, const float* b, float* C, int ldc, float alpha, int mr, int nr) {
  alignas(32) float tile[MR * NR];
#ifdef UAL_AVX2
  __m256 c00 = _mm256_setzero_ps(), c01 = _mm256_setzero_ps(), c10 = _mm256_setzero_ps(), c11 = _mm256_setzero_ps();
  __m256 c20 = _mm256_setzero_ps(), c21 = _mm256_setzero_ps(), c30 = _mm256_setzero_ps(), c31 = _mm256_setzero_ps();
  __m256 c40 = _mm256_setzero_ps(), c41 = _mm256_setzero_ps(), c50 = _mm256_setzero_ps(), c51 = _mm256_setzero_ps();
  for (int p = 0; p < kc; p++) {
    __m256 b0 = _mm256_load_ps(b), b1 = _mm256_load_ps(b + 8);
    __m256 a0 = _mm256_broadcast_ss(a), a1 = _mm256_broadcast_ss(a + 1);
    c00 = _mm256_fmadd_ps(a0, b0, c00); c01 = _mm256_fmadd_ps(a0, b1, c01);
    c10 = _mm256_fmadd_ps(a1, b0, c10); c11 = _mm256_fmadd_ps(a1, b1, c11);
    a0 = _mm256_broadcast_ss(a + 2); a1 = _mm256_broadcast_ss(a + 3);
    c20 = _mm256_fmadd_ps(a0, b0, c20); c21 = _mm256_fmadd_ps(a0, b1, c21);
    c30 = _mm256_fmadd_ps(a1, b0, c30); c31 = _mm256_fmadd_ps(a1, b1, c31);
    a0 = _mm256_broadcast_ss(a + 4); a1 = _mm256_broadcast_ss(a + 5);
    c40 = _mm256_fmadd_ps(a0, b0, c40); c41 = _mm256_fmadd_ps(a0, b1, c41);
    c50 = _mm256_fmadd_ps(a1, b0, c50); c51 = _mm256_fmadd_ps(a1, b1, c51);
    a += MR;
    b += NR;
  }
  __m256 va = _mm256_set1_ps(alpha);
  __m256 acc[MR][2] = {{c00, c01}, {c10, c11}, {c20, c21}, {c30, c31}, {c40, c41}, {c50, c51}};
  if (mr == MR && nr == NR) {
    for (int r = 0; r < MR; r++) {
      float* c = C + int64_t(r) * ldc;
      _mm256_storeu_ps(c, _mm256_fmadd_ps(va, acc[r][0], _mm256_loadu_ps(c)));
      _mm256_storeu_ps(c + 8, _mm256_fmadd_ps(va, acc[r][1], _mm256_loadu_ps(c + 8)));
    }
    return;
  }
  for (int r = 0; r < MR; r++) {
    _mm256_store_ps(tile + r * NR, acc[r][0]);
    _mm256_store_ps(tile + r * NR + 8, acc[r][1]);
  }
  for (int r = 0; r < mr; r++)
    for (int c = 0; c < nr; c++) C[int64_t(r) * ldc + c] = fma_(alpha, tile[r * NR + c], C[int64_t(r) * ldc + c]);
#else
  for (int i = 0; i < MR * NR; i++) tile[i] = 0.0f;
  for (int p = 0; p < kc; p++) {
    for (int r = 0; r < MR; r++) {
      float ar = a[r];
      for (int c = 0; c < NR; c++) tile[r * NR + c] += ar * b[c];
    }
    a += MR;
    b += NR;
  }
  for (int r = 0; r < mr; r++)
    for (int c = 0; c < nr; c++) C[int64_t(r) * ldc + c] += alpha * tile[r * NR + c];
#endif
}

static void sgemm_serial(bool tA, bool tB, int M, int N, int K, float alpha, const float* A, int lda, const float* B,
                         int ldb, float* C, int ldc, Packs& packs) {
  int ncMax = std::min(NC, (N + NR - 1) / NR * NR);
  int mcMax = std::min(MC, (M + MR - 1) / MR * MR);
  int kcMax = std::min(KC, K);
  // +8 floats so the data can be moved to a 32-byte boundary for aligned micro-kernel loads
  if (packs.b.size() < size_t(ncMax) * kcMax + 8) packs.b.resize(size_t(ncMax) * kcMax + 8);
  if (packs.a.size() < size_t(mcMax) * kcMax + 8) packs.a.resize(size_t(mcMax) * kcMax + 8);
  auto align32 = [](float* p) { return reinterpret_cast<float*>((reinterpret_cast<uintptr_t>(p) + 31) & ~uintptr_t(31)); };
  float* bp = align32(packs.b.data());
  float* ap = align32(packs.a.data());
  for (int j0 = 0; j0 < N; j0 += NC) {
    int nc = std::min(NC, N - j0);
    int ncPad = (nc + NR - 1) / NR * NR;
    for (int p0 = 0; p0 < K; p0 += KC) {
      int kc = std::min(KC, K - p0);
      pack_b(tB, B, ldb, p0, kc, j0, ncPad, N, bp);
      for (int i0 = 0; i0 < M; i0 += MC) {
        int mc = std::min(MC, M - i0);
        int mcPad = (mc + MR - 1) / MR * MR;
        pack_a(tA, A, lda, i0, mcPad, p0, kc, M, ap);
        for (int jr = 0; jr < nc; jr += NR) {
          int nr = std::min(NR, nc - jr);
          for (int ir = 0; ir < mc; ir += MR) {
            int mr = std::min(MR, mc - ir);
            micro_kernel(kc, ap + int64_t(ir) * kc, bp + int64_t(jr) * kc, C + int64_t(i0 + ir) * ldc + j0 + jr, ldc,
                         alpha, mr, nr);
          }
        }
      }
    }
  }
}

void sgemm(bool transA, bool transB, int M, int N, int K, float alpha, const float* A, int lda, const float* B,
           int ldb, float beta, float* C, int ldc) {
  if (M <= 0 || N <= 0) return;
  scale_c(beta, C, M, N, ldc);
  if (K <= 0 || alpha == 0.0f) return;
  // one pack buffer pair per thread, kept across calls (re-allocating megabytes per call costs page faults)
  static thread_local Packs packs;
  run_split(plan_split(M, N, K), transA, transB, M, N, A, lda, B, ldb, C, ldc,
            [&](int m, int n, const float* a, const float* b, float* c) {
              sgemm_serial(transA, transB, m, n, K, alpha, a, lda, b, ldb, c, ldc, packs);
            });
}

#endif

}  // namespace ual
