// Task handlers: what a worker runs for one task kind, and the registry that
// maps kinds to handlers. A handler gets the claimed tasks (one, or for a kind
// registered with a batch size, up to that many tasks of one job, e.g. latency
// tasks measured together, interleaved) and returns one typed result per task
// (app/task_contract.hpp), or throws: InvalidInput means retrying cannot help
// (the tasks fail now, with its message shown to clients), any other exception
// is retried with back-off until max_attempts (then dead), and only its error
// id is shown to clients (the text goes to the log).
// Handlers run concurrently on several worker threads: they must be thread-safe.
#pragma once

#include <pqxx/pqxx>

#include <atomic>
#include <functional>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "app/task_contract.hpp"
#include "store/records.hpp"

namespace flashnas::worker {

struct TaskContext {
  std::span<const store::Task> tasks;  // one, or a batch of one job's tasks of one kind
  // This worker thread's own connection, idle while the handler runs (the lease
  // is renewed on another connection). Use short transactions only.
  pqxx::connection& db;
  // Set when a lease was lost (rescued, job cancelled) or the worker is shutting
  // down past its grace period: stop early if you can; results will be dropped.
  const std::atomic<bool>& stop;

  const store::Task& task() const { return tasks.front(); }
  bool should_stop() const { return stop.load(std::memory_order_relaxed); }
};

// One result per task of ctx.tasks, in order.
using TaskHandler = std::function<std::vector<app::TaskResult>(TaskContext& ctx)>;

class HandlerRegistry {
 public:
  // max_batch > 1: the worker may claim up to that many tasks of one job for one call.
  // Throws InvalidInput when the kind already has a handler.
  void add(store::TaskKind kind, TaskHandler handler, int max_batch = 1);
  const TaskHandler* find(store::TaskKind kind) const;  // nullptr when absent
  int max_batch(store::TaskKind kind) const;
  std::vector<store::TaskKind> kinds() const;

 private:
  struct Entry {
    TaskHandler handler;
    int max_batch = 1;
  };
  std::map<store::TaskKind, Entry> handlers_;
};

}  // namespace flashnas::worker
