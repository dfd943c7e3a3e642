// Fork-join thread pool: see thread_pool.hpp for why it spins then sleeps.
#include "engine/runtime/thread_pool.hpp"

#include <pthread.h>
#include <sched.h>
#include <unistd.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

#include "engine/util/error.hpp"

namespace flashnas {

namespace {

// About 20-50 microseconds of spinning: longer than the gap between two regions
// of one decode step, much shorter than any pause a user would notice.
constexpr int kSpinIterations = 20000;

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();
#endif
}

std::vector<int> allowed_cpus() {
  std::vector<int> cpus;
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) != 0) return cpus;
  for (int c = 0; c < CPU_SETSIZE; ++c) {
    if (CPU_ISSET(c, &set)) cpus.push_back(c);
  }
  return cpus;
}

// CPUs for the pool: the caller's first (thread 0 runs on the caller), then the
// workers'. New threads inherit the caller's affinity, so a caller that pinned
// itself to one CPU (as latency measurement does) would put every worker on that
// same CPU, spinning against it: then the other online CPUs are used instead.
std::vector<int> pool_cpus() {
  std::vector<int> cpus = allowed_cpus();
  if (cpus.size() != 1) return cpus;
  const long online = sysconf(_SC_NPROCESSORS_ONLN);
  for (int c = 0; c < online && c < CPU_SETSIZE; ++c) {
    if (c != cpus[0]) cpus.push_back(c);
  }
  return cpus;
}

bool pin_to(pthread_t thread, int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  return pthread_setaffinity_np(thread, sizeof(set), &set) == 0;
}

}  // namespace

bool pin_calling_thread() {
  const std::vector<int> cpus = allowed_cpus();
  return !cpus.empty() && pin_to(pthread_self(), cpus[0]);
}

ThreadPool::ThreadPool(ThreadPoolOptions options) : n_threads_(options.threads) {
  if (n_threads_ < 1 || n_threads_ > 256) {
    throw InvalidInput(fmt::format("thread count must be in [1, 256], got {}", n_threads_),
                       "threads");
  }
  const std::vector<int> cpus = pool_cpus();
  // Pinning only helps when every thread gets its own CPU.
  bool pin = options.pin_threads && n_threads_ > 1 &&
             static_cast<int>(cpus.size()) >= n_threads_;
  bool all_pinned = pin;
  // Unpinned workers may run on any of the CPUs (not just a pinned caller's one).
  cpu_set_t any;
  CPU_ZERO(&any);
  for (int c : cpus) CPU_SET(c, &any);
  workers_.reserve(static_cast<size_t>(n_threads_ - 1));
  for (int i = 1; i < n_threads_; ++i) {
    workers_.emplace_back([this] { worker_loop(); });
    const pthread_t handle = workers_.back().native_handle();
    if (pin) {
      all_pinned = pin_to(handle, cpus[static_cast<size_t>(i)]) && all_pinned;
    } else if (!cpus.empty()) {
      pthread_setaffinity_np(handle, sizeof(any), &any);  // best effort
    }
  }
  pinned_ = all_pinned;
}

ThreadPool::~ThreadPool() {
  stop_.store(true, std::memory_order_release);
  generation_.fetch_add(1, std::memory_order_acq_rel);
  generation_.notify_all();
  for (std::thread& t : workers_) t.join();
}

void ThreadPool::run_guarded(int thread_index) {
  try {
    invoker_(fn_, thread_index);
  } catch (...) {
    if (!has_error_.exchange(true)) error_ = std::current_exception();
  }
}

bool ThreadPool::run_next(uint32_t generation) {
  uint64_t c = claim_.load(std::memory_order_acquire);
  for (;;) {
    if (static_cast<uint32_t>(c >> 32) != generation) return false;
    const int index = static_cast<int>(c & 0xffffffffu);
    if (index >= n_threads_) return false;
    // Acquire: invoker_ and fn_ of this region, published before claim_.
    if (claim_.compare_exchange_weak(c, c + 1, std::memory_order_acq_rel,
                                     std::memory_order_acquire)) {
      run_guarded(index);
      if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) pending_.notify_one();
      return true;
    }
  }
}

void ThreadPool::run_erased(Invoker invoker, void* fn) {
  // No index of the previous region is still running (it returned only when
  // pending_ reached 0), so its fields may be overwritten.
  invoker_ = invoker;
  fn_ = fn;
  error_ = nullptr;
  has_error_.store(false, std::memory_order_relaxed);
  pending_.store(n_threads_ - 1, std::memory_order_relaxed);
  const uint32_t generation = generation_.load(std::memory_order_relaxed) + 1;
  claim_.store(static_cast<uint64_t>(generation) << 32 | 1u, std::memory_order_release);
  generation_.store(generation, std::memory_order_release);
  generation_.notify_all();
  run_guarded(0);
  while (run_next(generation)) {  // indices no worker has taken yet
  }
  for (int spin = 0; pending_.load(std::memory_order_acquire) != 0; ++spin) {
    if (spin < kSpinIterations) {
      cpu_relax();
    } else {
      int left = pending_.load(std::memory_order_acquire);
      if (left != 0) pending_.wait(left, std::memory_order_acquire);
    }
  }
  if (error_) std::rethrow_exception(error_);
}

void ThreadPool::worker_loop() {
  uint32_t seen = 0;
  for (;;) {
    uint32_t now = generation_.load(std::memory_order_acquire);
    for (int spin = 0; now == seen; ++spin) {
      if (spin < kSpinIterations) {
        cpu_relax();
      } else {
        generation_.wait(seen, std::memory_order_acquire);
      }
      now = generation_.load(std::memory_order_acquire);
    }
    seen = now;
    if (stop_.load(std::memory_order_acquire)) return;
    while (run_next(seen)) {  // the region may be over already: then nothing
    }
  }
}

}  // namespace flashnas
