// bfloat16 frozen weights (--base-dtype bf16): the weight is widened to float32 a block at a time into a small scratch
// and multiplied with the float32 sgemm, so activations are never rounded and every sum accumulates in float32.
#pragma once

#include <cstdint>

namespace ual {

// bf16 bits -> float32 values (bf16 is float32's top half: exact); AVX-512 when built for it.
void bf16_widen(const uint16_t* src, float* dst, int64_t n);

// Row-major C (M, N) = alpha * A (M, K) @ op(B) + beta * C; B is bf16, stored (K, N), or (N, K) when transB.
void gemm_bf16(bool transB, int M, int N, int K, float alpha, const float* A, int lda, const uint16_t* B, float beta,
               float* C, int ldc);

// out (N, C) = table[ids[n]] widened; ids already checked.
void embedding_forward_bf16(const int32_t* ids, const uint16_t* table, float* out, int64_t N, int64_t C);

}  // namespace ual
