// Task handlers: what a worker runs for one task kind, and the registry that
// maps kinds to handlers. A handler gets the claimed task and returns its
// result (a JSON object, see store/job_service.cpp for what each kind reports)
// or throws: InvalidInput means retrying cannot help (the task fails now), any
// other exception is retried with back-off until max_attempts (then dead).
// Handlers run concurrently on several worker threads: they must be thread-safe.
#pragma once

#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include <atomic>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "store/records.hpp"

namespace flashnas::worker {

struct TaskContext {
  const store::Task& task;
  // This worker thread's own connection, idle while the handler runs (the lease
  // is renewed on another connection). Use short transactions only.
  pqxx::connection& db;
  // Models and datasets live here; their rows' storage_path is relative to it.
  const std::string& storage_dir;
  // Set when the lease was lost (rescued, job cancelled) or the worker is
  // shutting down past its grace period: stop early if you can; the result will
  // be dropped anyway.
  const std::atomic<bool>& stop;

  bool should_stop() const { return stop.load(std::memory_order_relaxed); }
};

using TaskHandler = std::function<nlohmann::json(TaskContext& ctx)>;

class HandlerRegistry {
 public:
  // Throws InvalidInput for an unknown kind or a kind registered twice.
  void add(const std::string& kind, TaskHandler handler);
  const TaskHandler* find(const std::string& kind) const;  // nullptr when absent
  std::vector<std::string> kinds() const;

 private:
  std::map<std::string, TaskHandler> handlers_;
};

}  // namespace flashnas::worker
