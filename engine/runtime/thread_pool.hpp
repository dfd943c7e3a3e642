// ThreadPool: a fixed set of worker threads that run one fork-join region at a
// time, with the calling thread taking part as thread 0. Not a task queue: the
// kernels split their work statically (by output rows or heads), so a region's
// result never depends on timing, only on the thread count.
//
// Workers spin briefly after a region (decode issues thousands of tiny regions
// per second, and a futex wake costs more than the work), then sleep on an
// atomic wait so an idle pool costs no CPU.
//
// Indices 1 .. size()-1 are claimed, not assigned: whichever thread comes
// first runs an index, the caller included once its own index 0 is done. On
// a machine whose cores other jobs share, a worker is often not running when
// a region starts; the caller then runs its index instead of waiting a
// scheduler time slice for it. Every index still runs exactly once, so a
// region's result does not change.
#pragma once

#include <atomic>
#include <cstdint>
#include <exception>
#include <thread>
#include <vector>

namespace flashnas {

struct ThreadPoolOptions {
  int threads = 1;          // total, including the calling thread
  bool pin_threads = true;  // pin worker i to the i-th allowed CPU (pthread_setaffinity_np)
};

class ThreadPool {
 public:
  explicit ThreadPool(ThreadPoolOptions options);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return n_threads_; }
  // True when every worker was pinned to its own CPU (false with 1 thread, or
  // when the platform refused).
  bool pinned() const { return pinned_; }

  // Runs fn(thread_index) for every index in [0, size()) exactly once, at most
  // size() at a time, and returns when all are done; index 0 runs on the
  // calling thread, the others on whichever thread claims them first (see
  // above). The first exception thrown by any index is rethrown here. Not
  // reentrant: call from one thread at a time.
  template <class F>
  void run(F&& fn) {
    if (n_threads_ == 1) {
      fn(0);
      return;
    }
    run_erased(&invoke<std::remove_reference_t<F>>, static_cast<void*>(&fn));
  }

 private:
  using Invoker = void (*)(void* fn, int thread_index);
  template <class F>
  static void invoke(void* fn, int thread_index) {
    (*static_cast<F*>(fn))(thread_index);
  }
  void run_erased(Invoker invoker, void* fn);
  void worker_loop();
  void run_guarded(int thread_index);
  // Claims the next unclaimed index of region `generation` (false when there is
  // none, or that region is over), runs it and counts it done.
  bool run_next(uint32_t generation);

  int n_threads_ = 1;
  bool pinned_ = false;
  std::vector<std::thread> workers_;
  Invoker invoker_ = nullptr;
  void* fn_ = nullptr;
  std::atomic<uint32_t> generation_{0};  // bumped once per region; workers wait on it (32-bit: futex-sized)
  std::atomic<uint64_t> claim_{0};       // (generation << 32) | next index to hand out
  std::atomic<int> pending_{0};          // indices 1.. of the current region not yet done
  std::atomic<bool> stop_{false};
  std::exception_ptr error_;             // first failure of the current region
  std::atomic<bool> has_error_{false};
};

// Pins the calling thread to the first CPU it is allowed to run on (benchmarks
// call this so thread 0 does not migrate). Returns false if the platform refused.
bool pin_calling_thread();

}  // namespace flashnas
