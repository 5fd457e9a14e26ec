// The one thread pool of the native kernels: GEMM splits, attention heads, row and elementwise kernels all run on
// it, and OpenBLAS itself is kept to one thread (its own pool would spin beside this one). parallel_for hands out
// chunks dynamically and the calling thread takes part, so a worker that the OS has descheduled (2 cores shared with
// other processes) costs at most the chunk it already holds, never the whole call.
#pragma once

#include <cstdint>
#include <type_traits>

namespace ual {

using RangeFn = void (*)(void* ctx, int64_t begin, int64_t end);

// fn(ctx, begin, end) over [0, n) in chunks of `grain` items (the last one shorter); runs inline when the pool has
// one thread, when n <= grain, when called from inside a parallel_for, or while another thread owns the pool.
void parallel_for_raw(int64_t n, int64_t grain, RangeFn fn, void* ctx);

template <class F>
void parallel_for(int64_t n, int64_t grain, F&& f) {
  using Fn = std::remove_reference_t<F>;
  parallel_for_raw(n, grain, [](void* c, int64_t b, int64_t e) { (*static_cast<Fn*>(c))(b, e); }, &f);
}

// True inside a chunk of a parallel_for: kernels called from there (a head's GEMMs) should not plan their own split.
bool in_parallel();

// Threads a parallel_for may use, the caller included (UAL_THREADS, else every usable core).
int pool_threads();
void set_pool_threads(int n);

}  // namespace ual
