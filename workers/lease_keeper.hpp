// The lease keeper: one thread per worker process, on its own connection, that
// renews the leases of every task the process holds (heartbeats), flags a task
// whose lease was lost (rescued elsewhere or its job cancelled), runs the
// rescuer for expired leases of any worker, and on shutdown releases what is
// still held. Not the claim loop (worker_pool.hpp).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "store/task_queue.hpp"

namespace flashnas::worker {

struct LeaseKeeperOptions {
  std::string database_url;
  store::QueueOptions queue;       // lease length and back-off
  double heartbeat_seconds = 10;   // renew every held lease this often (well below the lease)
  double rescue_seconds = 15;      // look for expired leases this often (0: never)
};

class LeaseKeeper {
 public:
  explicit LeaseKeeper(LeaseKeeperOptions options);
  ~LeaseKeeper();  // stops the thread (without releasing: call release_all first if wanted)

  void start();
  void stop();

  // Registers a held task; `lost` is set when its lease is gone.
  void hold(int64_t task_id, const std::string& token, std::shared_ptr<std::atomic<bool>> lost);
  void drop(int64_t task_id);
  size_t held() const;

  // Gives every held task back to the queue (shutdown past the grace period),
  // flagging each as lost. Returns how many were released.
  int release_all();

 private:
  struct Held {
    std::string token;
    std::shared_ptr<std::atomic<bool>> lost;
  };
  void run();
  void heartbeat_all();
  void rescue();

  LeaseKeeperOptions options_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::map<int64_t, Held> held_;
  bool stopping_ = false;
  std::thread thread_;
  std::unique_ptr<pqxx::connection> conn_;  // the keeper thread's own
};

}  // namespace flashnas::worker
