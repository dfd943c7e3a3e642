// The lease keeper (see lease_keeper.hpp).
#include "workers/lease_keeper.hpp"

#include <spdlog/spdlog.h>

#include "store/database.hpp"
#include "app/job_service.hpp"

namespace flashnas::worker {
namespace {

std::chrono::milliseconds to_ms(double seconds) {
  return std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000));
}

}  // namespace

LeaseKeeper::LeaseKeeper(LeaseKeeperOptions options) : options_(std::move(options)) {}

LeaseKeeper::~LeaseKeeper() { stop(); }

void LeaseKeeper::start() { thread_ = std::thread([this] { run(); }); }

void LeaseKeeper::stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void LeaseKeeper::hold(int64_t task_id, const std::string& token, std::shared_ptr<std::atomic<bool>> lost) {
  std::lock_guard<std::mutex> lock(mutex_);
  held_[task_id] = Held{token, std::move(lost)};
}

void LeaseKeeper::drop(int64_t task_id) {
  std::lock_guard<std::mutex> lock(mutex_);
  held_.erase(task_id);
}

size_t LeaseKeeper::held() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return held_.size();
}

void LeaseKeeper::run() {
  auto next_rescue = std::chrono::steady_clock::now();
  std::unique_lock<std::mutex> lock(mutex_);
  while (!stopping_) {
    lock.unlock();
    try {
      if (!conn_ || !conn_->is_open()) conn_ = store::open_connection(options_.database_url);
      heartbeat_all();
      if (options_.rescue_seconds > 0 && std::chrono::steady_clock::now() >= next_rescue) {
        rescue();
        next_rescue = std::chrono::steady_clock::now() + to_ms(options_.rescue_seconds);
      }
    } catch (const std::exception& e) {
      // A lost connection must not kill the process: the leases are long enough
      // to survive a few missed heartbeats, and the next round reconnects.
      spdlog::warn("lease keeper: {}", e.what());
      conn_.reset();
    }
    lock.lock();
    wake_.wait_for(lock, to_ms(options_.heartbeat_seconds), [this] { return stopping_; });
  }
}

void LeaseKeeper::heartbeat_all() {
  std::map<int64_t, Held> snapshot;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    snapshot = held_;
  }
  for (const auto& [id, h] : snapshot) {
    pqxx::work tx(*conn_);
    const bool ok = store::task_heartbeat(tx, id, h.token, options_.queue.lease_seconds);
    tx.commit();
    if (!ok) {
      spdlog::warn("task {}: lease lost (cancelled or rescued); its result will be dropped", id);
      h.lost->store(true);
      drop(id);
    }
  }
}

void LeaseKeeper::rescue() {
  pqxx::work tx(*conn_);
  const auto rescued = app::rescue_expired_tasks(tx, options_.queue);
  tx.commit();
  for (const auto& t : rescued) {
    spdlog::info("task {} ({}): lease expired on {}, now {}", t.id, t.kind, t.worker_id.value_or("?"), t.state);
  }
}

int LeaseKeeper::release_all() {
  std::map<int64_t, Held> snapshot;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    snapshot.swap(held_);
  }
  if (snapshot.empty()) return 0;
  int released = 0;
  try {
    // A separate connection: the keeper thread may be mid-heartbeat on its own.
    auto conn = store::open_connection(options_.database_url);
    for (const auto& [id, h] : snapshot) {
      pqxx::work tx(*conn);
      if (store::task_release(tx, id, h.token)) ++released;
      tx.commit();
      // Only now tell the handler: told earlier, it could finish and complete the
      // task with its still-valid token before the release commits.
      h.lost->store(true);
    }
  } catch (const std::exception& e) {
    spdlog::error("releasing held tasks: {} (their leases will expire and be rescued)", e.what());
  }
  for (const auto& [id, h] : snapshot) h.lost->store(true);  // any left unreleased stop too
  return released;
}

}  // namespace flashnas::worker
