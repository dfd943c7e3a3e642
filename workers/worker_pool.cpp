// The worker pool (see worker_pool.hpp).
#include "workers/worker_pool.hpp"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <chrono>

#include "engine/util/error.hpp"
#include "store/database.hpp"
#include "store/job_service.hpp"

namespace flashnas::worker {
namespace {

using Clock = std::chrono::steady_clock;

// LISTEN on the task channel for the lifetime of a worker thread's connection.
class Wakeup : public pqxx::notification_receiver {
 public:
  explicit Wakeup(pqxx::connection_base& conn) : pqxx::notification_receiver(conn, store::kTaskChannel) {}
  void operator()(const std::string&, int) override { woken = true; }
  bool woken = false;
};

std::chrono::milliseconds to_ms(double seconds) {
  return std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000));
}

}  // namespace

std::string default_worker_id() {
  char host[256] = {0};
  if (gethostname(host, sizeof(host) - 1) != 0) host[0] = '\0';
  return std::string(host[0] ? host : "worker") + ":" + std::to_string(::getpid());
}

void validate(const WorkerOptions& o, const HandlerRegistry& handlers) {
  if (o.roles.empty()) throw InvalidInput("at least one role is needed", "--roles");
  for (const auto& r : o.roles) {
    store::check_task_kind(r, "--roles");
    if (!handlers.find(r)) throw InvalidInput("this worker has no handler for '" + r + "'", "--roles");
  }
  if (o.concurrency < 1 || o.concurrency > 256) throw InvalidInput("must be in [1, 256]", "--concurrency");
  if (!(o.queue.lease_seconds >= 1)) throw InvalidInput("must be at least 1 second", "--lease-seconds");
  if (!(o.heartbeat_seconds > 0) || o.heartbeat_seconds * 2 > o.queue.lease_seconds) {
    throw InvalidInput("must be positive and at most half the lease", "--heartbeat-seconds");
  }
  if (!(o.poll_seconds > 0)) throw InvalidInput("must be positive", "--poll-seconds");
  if (!(o.grace_seconds >= 0)) throw InvalidInput("must not be negative", "--grace-seconds");
  if (!(o.rescue_seconds >= 0)) throw InvalidInput("must not be negative", "--rescue-seconds");
}

WorkerPool::WorkerPool(WorkerOptions options, const HandlerRegistry& handlers)
    : options_(std::move(options)),
      handlers_(handlers),
      keeper_(LeaseKeeperOptions{options_.database_url, options_.queue, options_.heartbeat_seconds,
                                 options_.rescue_seconds}) {
  if (options_.worker_id.empty()) options_.worker_id = default_worker_id();
  validate(options_, handlers_);
}

WorkerPool::~WorkerPool() {
  if (!shut_down_) shutdown();
}

void WorkerPool::start() {
  keeper_.start();
  for (int i = 0; i < options_.concurrency; ++i) {
    ++running_threads_;
    threads_.emplace_back([this, i] { run_thread(i); });
  }
}

bool WorkerPool::shutdown() {
  if (shut_down_) return true;
  shut_down_ = true;
  stopping_ = true;
  {
    std::unique_lock<std::mutex> lock(mutex_);
    finished_.wait_for(lock, to_ms(options_.grace_seconds), [this] { return running_threads_ == 0; });
  }
  const int released = keeper_.release_all();
  if (released > 0) spdlog::warn("released {} running task(s) back to the queue", released);
  keeper_.stop();
  bool all_done = false;
  {
    std::unique_lock<std::mutex> lock(mutex_);
    // Threads that were only waiting for work notice `stopping_` within a poll slice.
    all_done = finished_.wait_for(lock, std::chrono::seconds(2), [this] { return running_threads_ == 0; });
  }
  if (all_done) {
    for (auto& t : threads_) t.join();
  } else {
    for (auto& t : threads_) t.detach();  // a handler ignores its stop flag; the caller exits
  }
  return all_done;
}

WorkerStats WorkerPool::stats() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return stats_;
}

void WorkerPool::run_thread(int index) {
  const std::string name = options_.worker_id + "/" + std::to_string(index);
  std::unique_ptr<pqxx::connection> conn;
  std::unique_ptr<Wakeup> wakeup;
  auto retry_delay = std::chrono::milliseconds(250);
  while (!stopping_) {
    try {
      if (!conn || !conn->is_open()) {
        wakeup.reset();
        conn = store::open_connection(options_.database_url);
        wakeup = std::make_unique<Wakeup>(*conn);
      }
      std::vector<store::Task> tasks;
      {
        // claim_tasks is one atomic statement: autocommit saves BEGIN and COMMIT.
        pqxx::nontransaction tx(*conn);
        tasks = store::claim_tasks(tx, options_.roles, name, options_.queue, 1);
      }
      retry_delay = std::chrono::milliseconds(250);
      if (tasks.empty()) {
        wakeup->woken = false;
        wait_for_work(*conn);
        continue;
      }
      run_task(*conn, tasks.front());
    } catch (const std::exception& e) {
      spdlog::warn("{}: {} (retrying in {} ms)", name, e.what(), retry_delay.count());
      wakeup.reset();
      conn.reset();
      const auto until = Clock::now() + retry_delay;
      while (!stopping_ && Clock::now() < until) std::this_thread::sleep_for(std::chrono::milliseconds(50));
      retry_delay = std::min(retry_delay * 2, std::chrono::milliseconds(10000));
    }
  }
  std::lock_guard<std::mutex> lock(mutex_);
  --running_threads_;
  finished_.notify_all();
}

// Sleeps until a NOTIFY arrives, the poll interval passes, or the pool stops;
// in short slices so that stopping is noticed quickly.
void WorkerPool::wait_for_work(pqxx::connection& conn) {
  const auto until = Clock::now() + to_ms(options_.poll_seconds);
  while (!stopping_ && Clock::now() < until) {
    if (conn.await_notification(0, 200000) > 0) return;
  }
}

void WorkerPool::run_task(pqxx::connection& conn, const store::Task& task) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    ++stats_.claimed;
  }
  const std::string token = *task.lease_token;
  auto lost = std::make_shared<std::atomic<bool>>(false);
  keeper_.hold(task.id, token, lost);
  const auto started = Clock::now();
  const TaskHandler* handler = handlers_.find(task.kind);

  std::optional<nlohmann::json> result;
  std::string error;
  store::Failure failure = store::Failure::retryable;
  try {
    if (!handler) throw InvalidInput("no handler for task kind '" + task.kind + "'", "kind");
    TaskContext ctx{task, conn, options_.storage_dir, *lost};
    result = (*handler)(ctx);
  } catch (const InvalidInput& e) {
    // Name the field unless the message already does.
    const std::string what = e.what();
    error = e.field().empty() || what.find(e.field()) != std::string::npos ? what : e.field() + ": " + what;
    failure = store::Failure::permanent;
  } catch (const std::exception& e) {
    error = e.what();
  }
  keeper_.drop(task.id);

  bool landed = false;
  if (result) {
    try {
      if (task.job_id || task.trial_id) {
        pqxx::work tx(conn);  // the result, its trial and job settle together
        landed = store::complete_task(tx, task.id, token, *result);
        tx.commit();
      } else {
        pqxx::nontransaction tx(conn);  // a task of no job changes one row: one statement
        landed = store::complete_task(tx, task.id, token, *result);
      }
    } catch (const InvalidInput& e) {
      // The handler returned a result its kind must not report: a bug, not bad luck.
      error = std::string("invalid result: ") + (e.field().empty() ? "" : e.field() + ": ") + e.what();
      failure = store::Failure::permanent;
      result.reset();
    }
  }
  if (!result) {
    pqxx::work tx(conn);
    const auto after = store::fail_task(tx, task.id, token, error, failure, options_.queue);
    tx.commit();
    landed = after.has_value();
    if (after) spdlog::warn("task {} ({}) failed, now {}: {}", task.id, task.kind, after->state, error);
  }
  const double seconds = std::chrono::duration<double>(Clock::now() - started).count();
  std::lock_guard<std::mutex> lock(mutex_);
  if (!landed) {
    ++stats_.lost;
    spdlog::warn("task {} ({}): lease lost after {:.2f} s; outcome dropped", task.id, task.kind, seconds);
  } else if (result) {
    ++stats_.succeeded;
    spdlog::info("task {} ({}) succeeded in {:.2f} s", task.id, task.kind, seconds);
  } else {
    ++stats_.failed;
  }
}

}  // namespace flashnas::worker
