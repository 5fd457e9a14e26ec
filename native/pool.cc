// The thread pool behind parallel_for (pool.h): persistent workers that keep polling briefly after each job (kernels
// come back to back within a training step) and then sleep on a condition variable, so an idle process burns no CPU.
#include "pool.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#if defined(__x86_64__) || defined(_M_X64) || defined(__i386__)
#include <immintrin.h>
#define UAL_PAUSE() _mm_pause()
#elif defined(__aarch64__)
#define UAL_PAUSE() asm volatile("yield")
#else
#define UAL_PAUSE() ((void)0)
#endif

namespace ual {
namespace {

// How long an idle worker keeps spinning before it sleeps: longer than the JS work between two kernels of a step
// (tens of microseconds), far shorter than OpenBLAS's own spin (about 0.1 s), which is what a second core wastes.
constexpr auto kSpin = std::chrono::microseconds(300);

struct Job {
  RangeFn fn;
  void* ctx;
  int64_t n, grain, chunks;
  std::atomic<int64_t> next{0};
  std::atomic<int64_t> done{0};
};

// Claim chunks of j until none are left; returns after finishing the last one this thread claimed.
void work_on(Job& j) {
  for (;;) {
    const int64_t c = j.next.fetch_add(1, std::memory_order_relaxed);
    if (c >= j.chunks) return;
    const int64_t b = c * j.grain;
    const int64_t e = b + j.grain < j.n ? b + j.grain : j.n;
    j.fn(j.ctx, b, e);
    j.done.fetch_add(1, std::memory_order_release);
  }
}

thread_local bool t_inside = false;  // this thread is running a chunk: nested parallel_for runs inline

class Pool {
 public:
  int threads() const { return threads_.load(std::memory_order_relaxed); }

  void resize(int n) {
    std::lock_guard<std::mutex> own(owner_);
    stop_workers();
    for (int i = 1; i < n; i++) workers_.emplace_back([this] { run(); });
    threads_.store(n);
  }

  // false when another thread is using the pool (then the caller runs the range itself)
  bool run_job(Job& j) {
    std::unique_lock<std::mutex> own(owner_, std::try_to_lock);
    if (!own.owns_lock() || workers_.empty()) return false;
    job_.store(&j, std::memory_order_seq_cst);
    epoch_.fetch_add(1, std::memory_order_seq_cst);
    if (sleepers_.load(std::memory_order_seq_cst) > 0) {
      std::lock_guard<std::mutex> lk(sleep_);
      wake_.notify_all();
    }
    t_inside = true;
    work_on(j);
    t_inside = false;
    // a worker still finishing its chunk; yield now and then in case the OS has descheduled it
    for (int i = 1; j.done.load(std::memory_order_acquire) < j.chunks; i++) {
      UAL_PAUSE();
      if ((i & 1023) == 0) std::this_thread::yield();
    }
    // no worker may still hold a pointer to j once this returns: unpublish, then wait for those inside to leave
    job_.store(nullptr, std::memory_order_seq_cst);
    while (inside_.load(std::memory_order_seq_cst) > 0) UAL_PAUSE();
    return true;
  }

 private:
  void run() {
    uint64_t seen = epoch_.load(std::memory_order_acquire);
    for (;;) {
      if (!wait_for_epoch(seen)) return;
      seen = epoch_.load(std::memory_order_acquire);
      inside_.fetch_add(1, std::memory_order_seq_cst);
      if (Job* j = job_.load(std::memory_order_seq_cst)) {
        t_inside = true;
        work_on(*j);
        t_inside = false;
      }
      inside_.fetch_sub(1, std::memory_order_seq_cst);
    }
  }

  // spin, then sleep, until the epoch moves past `seen`; false when the worker is asked to stop
  bool wait_for_epoch(uint64_t seen) {
    auto until = std::chrono::steady_clock::now() + kSpin;
    for (int i = 0;; i++) {
      if (epoch_.load(std::memory_order_acquire) != seen) return true;
      if (stop_.load(std::memory_order_relaxed)) return false;
      // yield rather than pause: on a machine shared with other processes the idle worker then gives its core away
      // instead of burning its time slice, and is less likely to be preempted in the middle of its next chunk while
      // the caller waits for it (measured under load: steps 0-20% faster; on an idle machine alike)
      std::this_thread::yield();
      if ((i & 15) == 15 && std::chrono::steady_clock::now() > until) break;
    }
    std::unique_lock<std::mutex> lk(sleep_);
    sleepers_.fetch_add(1, std::memory_order_seq_cst);
    wake_.wait(lk, [&] { return epoch_.load(std::memory_order_seq_cst) != seen || stop_.load(); });
    sleepers_.fetch_sub(1, std::memory_order_seq_cst);
    return !stop_.load();
  }

  void stop_workers() {
    {
      std::lock_guard<std::mutex> lk(sleep_);
      stop_.store(true);
      wake_.notify_all();
    }
    for (auto& w : workers_) w.join();
    workers_.clear();
    stop_.store(false);
  }

  std::vector<std::thread> workers_;
  std::mutex owner_;  // held by the thread whose job the workers run (and by resize)
  std::mutex sleep_;
  std::condition_variable wake_;
  std::atomic<Job*> job_{nullptr};
  std::atomic<uint64_t> epoch_{0};
  std::atomic<int> inside_{0};
  std::atomic<int> sleepers_{0};
  std::atomic<bool> stop_{false};
  std::atomic<int> threads_{1};
};

// never destroyed: joining workers from a static destructor at process exit could only add a way to hang
Pool& pool() {
  static Pool* p = new Pool();
  return *p;
}

}  // namespace

void parallel_for_raw(int64_t n, int64_t grain, RangeFn fn, void* ctx) {
  if (n <= 0) return;
  if (grain < 1) grain = 1;
  if (n <= grain || t_inside || pool().threads() == 1) {
    fn(ctx, 0, n);
    return;
  }
  Job j;
  j.fn = fn;
  j.ctx = ctx;
  j.n = n;
  j.grain = grain;
  j.chunks = (n + grain - 1) / grain;
  if (!pool().run_job(j)) fn(ctx, 0, n);
}

bool in_parallel() { return t_inside; }

int pool_threads() { return pool().threads(); }

void set_pool_threads(int n) {
  if (n < 1) n = 1;
  if (n != pool().threads()) pool().resize(n);
}

}  // namespace ual
