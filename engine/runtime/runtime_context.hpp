// RuntimeContext: the execution resources a forward pass runs on (for now the
// thread pool). Owned by the caller and passed by reference, so the engine has
// no global state; one context can serve many sessions, one call at a time.
#pragma once

#include "engine/runtime/thread_pool.hpp"

namespace flashnas {

struct RuntimeOptions {
  int threads = 1;          // total threads including the caller
  bool pin_threads = true;  // pin worker threads to CPUs where the platform allows
};

class RuntimeContext {
 public:
  explicit RuntimeContext(RuntimeOptions options = {})
      : pool_(ThreadPoolOptions{options.threads, options.pin_threads}) {}

  ThreadPool& pool() { return pool_; }
  int threads() const { return pool_.size(); }
  bool pinned() const { return pool_.pinned(); }  // every worker pinned to its own CPU

 private:
  ThreadPool pool_;
};

}  // namespace flashnas
