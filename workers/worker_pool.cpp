// The worker pool (see worker_pool.hpp).
#include "workers/worker_pool.hpp"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <chrono>

#include "app/job_service.hpp"
#include "common/public_error.hpp"
#include "engine/util/error.hpp"
#include "store/database.hpp"

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
    if (!handlers.find(r)) {
      throw InvalidInput("this worker has no handler for '" + std::string(store::name_of(r)) + "'", "--roles");
    }
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
  const pqxx::connection* listening = nullptr;  // the connection `wakeup` listens on
  auto retry_delay = std::chrono::milliseconds(250);
  while (!stopping_) {
    try {
      if (!conn || !conn->is_open()) conn = store::open_connection(options_.database_url);
      if (listening != conn.get()) {
        wakeup.reset();
        wakeup = std::make_unique<Wakeup>(*conn);
        listening = conn.get();
      }
      std::vector<store::Task> tasks;
      {
        // claim_tasks is one atomic statement: autocommit saves BEGIN and COMMIT.
        pqxx::nontransaction tx(*conn);
        // A kind measured in batches: more tasks of the same job, claimed now.
        tasks = app::claim_batch(tx, {options_.roles, name, options_.queue.lease_seconds, 1, std::nullopt},
                                 [this](store::TaskKind kind) { return handlers_.max_batch(kind); });
      }
      retry_delay = std::chrono::milliseconds(250);
      if (tasks.empty()) {
        wakeup->woken = false;
        wait_for_work(*conn);
        continue;
      }
      run_batch(conn, tasks);
    } catch (const std::exception& e) {
      spdlog::warn("{}: {} (retrying in {} ms)", name, e.what(), retry_delay.count());
      wakeup.reset();
      listening = nullptr;
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

void WorkerPool::run_batch(std::unique_ptr<pqxx::connection>& conn, const std::vector<store::Task>& tasks) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stats_.claimed += static_cast<int64_t>(tasks.size());
  }
  const store::TaskKind kind = tasks.front().kind;
  auto lost = std::make_shared<std::atomic<bool>>(false);
  for (const auto& t : tasks) keeper_.hold(t.id, *t.lease_token, lost);
  const auto started = Clock::now();
  const TaskHandler* handler = handlers_.find(kind);

  std::vector<app::TaskResult> results;
  std::string error;
  store::Failure failure = store::Failure::retryable;
  try {
    if (!handler) throw InvalidInput("no handler for task kind '" + std::string(store::name_of(kind)) + "'", "kind");
    TaskContext ctx{tasks, *conn, *lost};
    results = (*handler)(ctx);
    FLASHNAS_CHECK(results.size() == tasks.size(), "the {} handler returned {} results for {} tasks",
                   store::name_of(kind), results.size(), tasks.size());
  } catch (const std::exception& e) {
    // Clients see this through the trial: a public message, the raw text logged.
    error = public_message(e, fmt::format("task {} ({})", tasks.front().id, store::name_of(kind)));
    if (is_public_error(e)) failure = store::Failure::permanent;
    results.clear();
  }
  for (const auto& t : tasks) keeper_.drop(t.id);
  const double seconds = std::chrono::duration<double>(Clock::now() - started).count();
  for (size_t i = 0; i < tasks.size(); ++i) {
    const std::optional<app::TaskResult> result =
        results.empty() ? std::nullopt : std::optional<app::TaskResult>(std::move(results[i]));
    land(conn, tasks[i], result, error, failure);
  }
  spdlog::info("{} task(s) of kind {} ran in {:.2f} s", tasks.size(), store::name_of(kind), seconds);
}

bool WorkerPool::land(std::unique_ptr<pqxx::connection>& conn, const store::Task& task,
                      const std::optional<app::TaskResult>& result, std::string error, store::Failure failure) {
  const std::string& token = *task.lease_token;
  bool landed = false, completed = false, refused = !result;
  auto delay = std::chrono::milliseconds(250);
  auto reconnect_later = [&](const std::exception& e, int attempt) {
    conn.reset();
    if (attempt >= 40 || stopping_) {
      spdlog::warn("task {}: database unreachable, outcome dropped ({}); the lease will expire", task.id, e.what());
      return false;
    }
    spdlog::warn("task {}: database unreachable ({}), retrying in {} ms", task.id, e.what(), delay.count());
    std::this_thread::sleep_for(delay);
    delay = std::min(delay * 2, std::chrono::milliseconds(2000));
    return true;
  };
  for (int attempt = 0;; ++attempt) {
    try {
      if (!conn || !conn->is_open()) conn = store::open_connection(options_.database_url);
      if (!refused) {
        try {
          pqxx::work tx(*conn);  // the result and everything it settles, together
          landed = app::complete_task(tx, task, token, *result, options_.queue);
          tx.commit();
          completed = true;
        } catch (const pqxx::broken_connection&) {
          throw;
        } catch (const pqxx::in_doubt_error&) {
          throw;
        } catch (const InvalidInput& e) {
          // A result its kind must not report: a bug, not bad luck.
          error = "invalid result: " + public_message(e, fmt::format("task {}", task.id));
          failure = store::Failure::permanent;
          refused = true;
        } catch (const std::exception& e) {
          error = public_message(e, fmt::format("completing task {}", task.id));
          failure = store::Failure::retryable;
          refused = true;
        }
      }
      if (!completed) {
        pqxx::work tx(*conn);
        const auto after = app::fail_task(tx, task.id, token, error, failure, options_.queue);
        tx.commit();
        landed = after.has_value();
        if (after) {
          spdlog::warn("task {} ({}) failed, now {}: {}", task.id, store::name_of(task.kind),
                       store::name_of(after->state), error);
        }
      }
      break;
    } catch (const pqxx::broken_connection& e) {
      // The database went away (a restart): reconnect and land it again. If the
      // commit did happen, the token no longer holds and nothing changes twice.
      if (!reconnect_later(e, attempt)) break;
    } catch (const pqxx::in_doubt_error& e) {
      if (!reconnect_later(e, attempt)) break;
    }
  }
  std::lock_guard<std::mutex> lock(mutex_);
  if (!landed) {
    ++stats_.lost;
    spdlog::warn("task {} ({}): lease lost; outcome dropped", task.id, store::name_of(task.kind));
  } else if (completed) {
    ++stats_.succeeded;
  } else {
    ++stats_.failed;
  }
  return landed;
}

}  // namespace flashnas::worker
