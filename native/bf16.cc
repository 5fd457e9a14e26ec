// bfloat16 frozen weights: widen a block of the weight to float32, then sgemm on it (Debian's OpenBLAS 0.3.21 has no
// sbgemm, and a bf16 x bf16 dot product would round the activations: the result must be the float32 product with the
// widened weight, as PyTorch's W.to(torch.bfloat16).float()). Widening is O(weights) per call against the product's
// O(weights x rows) (measured: ~0.22 ns per weight, a few % of a 512-row product).
#include "bf16.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "gemm.h"

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

namespace ual {

// floats per widened block (16 MB: every linear layer of a 0.5B model in one to three blocks, so activations are
// packed by sgemm no more than that many times); a block is at least MIN_COLS columns wide so sgemm stays efficient
constexpr int64_t BLOCK = int64_t(1) << 22;
constexpr int64_t MIN_COLS = 64;

// n split into equal blocks of at most `most` (at least MIN_COLS): no thin last block
static int64_t even_blocks(int64_t n, int64_t most) {
  const int64_t per = std::min(n, std::max(MIN_COLS, most));
  const int64_t count = (n + per - 1) / per;
  return (n + count - 1) / count;
}

void bf16_widen(const uint16_t* src, float* dst, int64_t n) {
  int64_t i = 0;
#if defined(__AVX512F__)
  for (; i + 16 <= n; i += 16) {
    const __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + i));
    _mm512_storeu_si512(dst + i, _mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
  }
#endif
  for (; i < n; i++) {
    const uint32_t b = uint32_t(src[i]) << 16;
    std::memcpy(dst + i, &b, 4);
  }
}

static float* scratch(int64_t n) {
  static std::vector<float> buf;  // the addon runs on Node's main thread only
  if (int64_t(buf.size()) < n) buf.resize(size_t(n));
  return buf.data();
}

void gemm_bf16(bool transB, int M, int N, int K, float alpha, const float* A, int lda, const uint16_t* B, float beta,
               float* C, int ldc) {
  if (M <= 0 || N <= 0) return;
  if (K <= 0) {
    sgemm(false, transB, M, N, 0, alpha, A, lda, nullptr, 1, beta, C, ldc);
    return;
  }
  const int64_t k = K, n = N;
  if (transB) {
    // B (N, K): a block of rows is a block of C's columns, each with its whole sum over K
    const int64_t nb = even_blocks(n, BLOCK / k);
    float* W = scratch(nb * k);
    for (int64_t j0 = 0; j0 < n; j0 += nb) {
      const int64_t m = std::min(nb, n - j0);
      bf16_widen(B + j0 * k, W, m * k);
      sgemm(false, true, M, int(m), K, alpha, A, lda, W, K, beta, C + j0, ldc);
    }
    return;
  }
  if (BLOCK / k >= MIN_COLS || n <= MIN_COLS) {
    // B (K, N) with a short K: blocks of columns (a strided gather), each with its whole sum over K
    const int64_t nb = even_blocks(n, BLOCK / k);
    float* W = scratch(nb * k);
    for (int64_t j0 = 0; j0 < n; j0 += nb) {
      const int64_t m = std::min(nb, n - j0);
      for (int64_t r = 0; r < k; r++) bf16_widen(B + r * n + j0, W + r * m, m);
      sgemm(false, false, M, int(m), K, alpha, A, lda, W, int(m), beta, C + j0, ldc);
    }
    return;
  }
  // B (K, N) with a long K (the LM head's gradient, K = vocabulary): blocks of rows, their partial products added
  // into C in float32 as sgemm itself adds its K panels
  const int64_t kb = std::max<int64_t>(1, BLOCK / n);
  float* W = scratch(kb * n);
  for (int64_t k0 = 0; k0 < k; k0 += kb) {
    const int64_t m = std::min(kb, k - k0);
    bf16_widen(B + k0 * n, W, m * n);
    sgemm(false, false, M, N, int(m), alpha, A + k0, lda, W, N, k0 == 0 ? beta : 1.0f, C, ldc);
  }
}

void embedding_forward_bf16(const int32_t* ids, const uint16_t* table, float* out, int64_t N, int64_t C) {
  for (int64_t i = 0; i < N; i++) bf16_widen(table + int64_t(ids[i]) * C, out + i * C, C);
}

}  // namespace ual
