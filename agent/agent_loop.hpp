// The agent's loop: claim a batch of latency tasks of the device's kind, build
// random weights of each architecture (latency depends on the shape alone, so
// no checkpoint travels), measure them interleaved with the engine's protocol,
// and post each result with the device's environment, while a heartbeat keeps
// the leases. Unreachable server: back off (1 s doubling to 30 s) and go on.
// A stop request (SIGTERM): give back what it holds and return.
#pragma once

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "client/device_client.hpp"

namespace flashnas::agent {

struct AgentOptions {
  client::ClientOptions client;      // server URL and the device token
  std::string name;                  // recorded on claimed tasks (default host:pid)
  int batch = 8;                     // tasks of one job measured together
  std::optional<int> threads;        // override the job's thread count (this device's cores)
  std::vector<int> pin_cpus;         // CPUs the agent runs on (empty: any)
  double idle_seconds = 1.0;         // re-claim interval when the queue is empty
  bool once = false;                 // exit after the first batch (tests, one-off runs)
};

// Set from the signal thread; the loop notices within a second, or at once when waiting.
class StopFlag {
 public:
  void request();
  bool requested() const { return stop_.load(); }
  // Waits up to `seconds`; true when a stop was requested.
  bool wait_for(double seconds);

 private:
  std::atomic<bool> stop_{false};
  std::mutex mutex_;
  std::condition_variable cv_;
};

// Returns the process exit code: 0 after a stop, 6 when the server refuses the
// token (revoked or unknown: retrying cannot help).
int run_agent(const AgentOptions& options, StopFlag& stop);

}  // namespace flashnas::agent
