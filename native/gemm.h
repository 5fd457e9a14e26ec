// The one GEMM every native kernel calls: cblas_sgemm when built with OpenBLAS (UAL_OPENBLAS), otherwise the
// portable cache-blocked GEMM in gemm.cc, spread over the thread pool (pool.h) by size. Also owns the thread count:
// set_threads sizes the pool and keeps OpenBLAS at one thread, so the pool is the only one.
#pragma once

namespace ual {

// Row-major C (M, N) = alpha * op(A) @ op(B) + beta * C with cblas semantics and leading dimensions;
// beta == 0 overwrites C without reading it (NaN in C does not survive), K == 0 only applies beta.
void sgemm(bool transA, bool transB, int M, int N, int K, float alpha, const float* A, int lda, const float* B,
           int ldb, float beta, float* C, int ldc);

void set_threads(int n);
int get_threads();
// "openblas" or "portable", and a longer description (OpenBLAS's own build config) for info().
bool have_openblas();
const char* blas_config();

}  // namespace ual
