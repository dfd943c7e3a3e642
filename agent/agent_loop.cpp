// The agent's loop (see agent_loop.hpp).
#include "agent/agent_loop.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <thread>

#include "engine/latency/study.hpp"
#include "engine/runtime/vector_math.hpp"

namespace flashnas::agent {
namespace {

using nlohmann::json;

// Temperatures the kernel exposes (/sys/class/thermal): a hot phone throttles,
// and a measurement taken throttled should say so.
json thermal_state() {
  json zones = json::array();
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/sys/class/thermal", ec)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind("thermal_zone", 0) != 0) continue;
    std::ifstream temp(entry.path() / "temp"), type(entry.path() / "type");
    long millicelsius = 0;
    std::string kind;
    if (!(temp >> millicelsius)) continue;
    std::getline(type, kind);
    zones.push_back({{"zone", name}, {"type", kind}, {"celsius", static_cast<double>(millicelsius) / 1000.0}});
  }
  return zones;
}

json agent_environment(const AgentOptions& options) {
  return {{"agent", options.name},
          {"pinned_cpus", options.pin_cpus},
          {"thermal", thermal_state()},
          {"build", {{"compiler", __VERSION__},
                     {"march", FLASHNAS_AGENT_MARCH},
                     {"simd", simd::kKernelIsa}}}};
}

// Renews the leases of a batch every third of the lease until stopped; a lease
// the server no longer honours is marked lost (its result will not be posted).
class Heartbeat {
 public:
  Heartbeat(client::DeviceClient& client, const std::vector<protocol::DeviceTask>& tasks, double lease_seconds)
      : client_(client), tasks_(tasks), lost_(tasks.size(), false),
        thread_([this, period = std::max(1.0, lease_seconds / 3)] { run(period); }) {}
  ~Heartbeat() {
    done_.request();
    thread_.join();
  }
  bool lost(size_t i) {
    std::lock_guard lock(mutex_);
    return lost_[i];
  }

 private:
  void run(double period) {
    while (!done_.wait_for(period)) {
      for (size_t i = 0; i < tasks_.size(); ++i) {
        if (lost(i)) continue;
        try {
          if (!client_.heartbeat(tasks_[i])) {
            spdlog::warn("task {}: lease lost (taken back by the server); its result will be dropped", tasks_[i].task_id);
            std::lock_guard lock(mutex_);
            lost_[i] = true;
          }
        } catch (const std::exception& e) {
          spdlog::warn("task {}: heartbeat failed: {}", tasks_[i].task_id, e.what());
        }
      }
    }
  }

  client::DeviceClient& client_;
  const std::vector<protocol::DeviceTask>& tasks_;
  std::mutex mutex_;
  std::vector<bool> lost_;
  StopFlag done_;
  std::thread thread_;
};

// Gives every task of the batch back (shutting down); best effort.
void release_all(client::DeviceClient& client, const std::vector<protocol::DeviceTask>& tasks) {
  for (const auto& t : tasks) {
    try {
      client.release(t);
    } catch (const std::exception& e) {
      spdlog::warn("task {}: release failed ({}); its lease will expire", t.task_id, e.what());
    }
  }
}

enum class BatchOutcome { done, stopped };

// Measures one claimed batch in a thread of its own, so a stop request need
// not wait for a long measurement: the tasks are released and the process
// leaves the measurement behind.
BatchOutcome measure_batch(const AgentOptions& options, client::DeviceClient& client,
                           const client::DeviceClient::Claim& claim, StopFlag& stop) {
  const auto& tasks = claim.tasks;
  latency::LatencyOptions measure = tasks.front().options;  // one job: one set of options
  if (options.threads) measure.threads = *options.threads;
  std::vector<ArchConfig> configs;
  for (const auto& t : tasks) configs.push_back(t.config);
  spdlog::info("job {}: measuring {} architectures (prompt {}, {} repeats, {} threads)", tasks.front().job_id,
               tasks.size(), measure.prompt_len, measure.repeats, measure.threads);

  Heartbeat heartbeat(client, tasks, claim.lease_seconds);
  // Shared with the measuring thread, which may outlive this call after a stop.
  struct Shared {
    std::mutex mutex;
    bool finished = false;
    std::vector<latency::MeasuredLatency> measured;
    std::string error;
    StopFlag done;
  };
  auto shared = std::make_shared<Shared>();
  std::thread([shared, measure, configs] {
    std::vector<latency::MeasuredLatency> measured;
    std::string error;
    try {
      measured = latency::local_measurer(measure)(configs);
    } catch (const std::exception& e) {
      error = e.what();
    }
    {
      std::lock_guard lock(shared->mutex);
      shared->measured = std::move(measured);
      shared->error = std::move(error);
      shared->finished = true;
    }
    shared->done.request();
  }).detach();
  while (!shared->done.wait_for(0.2)) {
    if (stop.requested()) {
      std::lock_guard lock(shared->mutex);
      if (!shared->finished) {
        release_all(client, tasks);
        return BatchOutcome::stopped;
      }
    }
  }
  std::lock_guard lock(shared->mutex);
  const json environment = agent_environment(options);
  for (size_t i = 0; i < tasks.size(); ++i) {
    if (heartbeat.lost(i)) continue;
    try {
      if (!shared->error.empty()) {
        client.fail(tasks[i], shared->error);
        continue;
      }
      protocol::DeviceMeasurement m = protocol::measurement_of(shared->measured.at(i));
      m.environment["device"] = environment;
      if (!client.post_result(tasks[i], m)) {
        spdlog::warn("task {}: lease lost before the result landed; dropped", tasks[i].task_id);
      }
    } catch (const std::exception& e) {
      spdlog::error("task {}: could not post the result: {}", tasks[i].task_id, e.what());
    }
  }
  return BatchOutcome::done;
}

}  // namespace

void StopFlag::request() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  cv_.notify_all();
}

bool StopFlag::wait_for(double seconds) {
  std::unique_lock lock(mutex_);
  cv_.wait_for(lock, std::chrono::duration<double>(seconds), [this] { return stop_.load(); });
  return stop_.load();
}

int run_agent(const AgentOptions& options, StopFlag& stop) {
  client::DeviceClient client(options.client);
  double backoff = 1.0;
  while (!stop.requested()) {
    client::DeviceClient::Claim claim;
    try {
      claim = client.claim(options.name, options.batch);
      backoff = 1.0;
    } catch (const client::ClientError& e) {
      if (e.kind() == client::ClientErrorKind::refused && (e.status() == 401 || e.status() == 403)) {
        spdlog::error("the server refuses this device token: {}", e.what());
        return 6;
      }
      spdlog::warn("claim failed ({}); retrying in {:.0f} s", e.what(), backoff);
      stop.wait_for(backoff);
      backoff = std::min(backoff * 2, 30.0);
      continue;
    }
    if (claim.tasks.empty()) {
      if (options.once) return 0;
      stop.wait_for(options.idle_seconds);
      continue;
    }
    if (measure_batch(options, client, claim, stop) == BatchOutcome::stopped || options.once) break;
  }
  return 0;
}

}  // namespace flashnas::agent
