// The worker pool: N threads, each with its own database connection, that claim
// tasks of the configured roles (a batch of one job's tasks for kinds registered
// with a batch size), run their handlers, and complete or fail them (exactly
// once, through the lease token); idle threads sleep until a NOTIFY on the task
// channel or a poll interval. A database that goes away (a restart) is waited
// for: threads reconnect with back-off, and a finished task's outcome is landed
// once the database is back, while its lease holds. Stopping: no new claims;
// running handlers get a grace period, after which their tasks are released.
#pragma once

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "store/task_queue.hpp"
#include "workers/lease_keeper.hpp"
#include "workers/task_handler.hpp"

namespace flashnas::worker {

struct WorkerOptions {
  std::string database_url;
  std::vector<store::TaskKind> roles;  // task kinds to claim; each needs a registered handler
  int concurrency = 1;             // worker threads (and connections)
  std::string worker_id;           // recorded on claimed tasks; default host:pid
  store::QueueOptions queue;       // lease length, back-off
  double heartbeat_seconds = 10;
  double rescue_seconds = 15;
  double poll_seconds = 2;         // an idle thread re-checks the queue this often without a NOTIFY
  double grace_seconds = 30;       // on stop, running handlers get this long before their tasks are released
};

// Throws InvalidInput naming the option when the options do not make sense
// (e.g. a heartbeat not well inside the lease, an unknown role, no handler).
void validate(const WorkerOptions& options, const HandlerRegistry& handlers);

struct WorkerStats {
  int64_t claimed = 0, succeeded = 0, failed = 0, lost = 0;
};

class WorkerPool {
 public:
  WorkerPool(WorkerOptions options, const HandlerRegistry& handlers);
  ~WorkerPool();  // shutdown() if still running

  void start();
  // Stops claiming, waits up to grace_seconds for running handlers, then releases
  // the tasks still held. Returns true when every thread finished (false: some
  // handler is still running and the caller should exit the process).
  bool shutdown();
  WorkerStats stats() const;

 private:
  void run_thread(int index);
  // Runs the handler on claimed tasks (one kind, one job) and lands each outcome.
  void run_batch(std::unique_ptr<pqxx::connection>& conn, const std::vector<store::Task>& tasks);
  // Completes or fails one task in its own transaction, reconnecting and trying
  // again while the database is unreachable (a restart), within the lease.
  bool land(std::unique_ptr<pqxx::connection>& conn, const store::Task& task,
            const std::optional<app::TaskResult>& result, std::string error, store::Failure failure);
  void wait_for_work(pqxx::connection& conn);

  WorkerOptions options_;
  const HandlerRegistry& handlers_;
  LeaseKeeper keeper_;
  std::atomic<bool> stopping_{false};
  std::vector<std::thread> threads_;
  std::atomic<int> running_threads_{0};
  mutable std::mutex mutex_;
  std::condition_variable finished_;
  WorkerStats stats_;
  bool shut_down_ = false;
};

// "host:pid", the default worker id.
std::string default_worker_id();

}  // namespace flashnas::worker
