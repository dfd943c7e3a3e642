// DeviceApi: the operations behind /v1/devices (register, list, read, revoke,
// import measurements; scoped to the caller's project) and /v1/agent (the device
// protocol of app/device_tasks.hpp, for the device a token belongs to). Agents'
// claims also run the lease rescuer (at most once a second), so tasks held by an
// agent that vanished go back to the queue even where no worker runs.
#pragma once

#include <nlohmann/json_fwd.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "app/device_tasks.hpp"
#include "store/records.hpp"
#include "store/task_queue.hpp"

namespace flashnas::store {
class ConnectionPool;
}

namespace flashnas::server {

class DeviceApi {
 public:
  DeviceApi(store::ConnectionPool& pool, store::QueueOptions queue, double agent_lease_seconds);

  // {"device": ..., "token": "fnd_..."}; nullopt when the name is taken (409).
  std::optional<nlohmann::json> add(int64_t project_id, const nlohmann::json& body);
  nlohmann::json list(int64_t project_id);
  std::optional<store::Device> get(int64_t project_id, int64_t device_id);
  // The device after revoking; nullopt when absent. Already revoked: unchanged.
  std::optional<store::Device> revoke(int64_t project_id, int64_t device_id);
  // {"imported": n, "ids": [...]}; nullopt when absent.
  std::optional<nlohmann::json> import(int64_t project_id, int64_t device_id, const nlohmann::json& body);

  // The device protocol. `device` comes from the token (never from the request).
  nlohmann::json claim(const store::Device& device, const nlohmann::json& body);
  app::LeaseOutcome heartbeat(const store::Device& device, int64_t task_id, const nlohmann::json& body);
  app::LeaseOutcome result(const store::Device& device, int64_t task_id, const nlohmann::json& body);
  app::LeaseOutcome release(const store::Device& device, int64_t task_id, const nlohmann::json& body);
  app::LeaseOutcome fail(const store::Device& device, int64_t task_id, const nlohmann::json& body);

 private:
  void rescue_now_and_then();

  store::ConnectionPool& pool_;
  store::QueueOptions queue_;
  double lease_seconds_;
  std::atomic<int64_t> last_rescue_ms_{0};
};

}  // namespace flashnas::server
