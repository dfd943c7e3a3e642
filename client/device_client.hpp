// DeviceClient: the device protocol (protocol/device_protocol.hpp) from the
// agent's side, over ApiClient with a device token. Lease calls are safe to
// repeat (the lease token decides), so they are retried while the server is
// unreachable; a claim is not (a repeat could lease a second batch), so the
// agent's loop retries it with its own back-off. A lease the server no longer
// honours comes back as `false`, not as an error: the task is someone else's now.
#pragma once

#include <string>
#include <vector>

#include "client/api_client.hpp"
#include "protocol/device_protocol.hpp"

namespace flashnas::client {

class DeviceClient {
 public:
  explicit DeviceClient(ClientOptions options) : api_(std::move(options)) {}

  struct Claim {
    std::vector<protocol::DeviceTask> tasks;
    double lease_seconds = 60;
  };
  // Up to `limit` tasks of one job; none when the queue has nothing for the kind.
  Claim claim(const std::string& agent_name, int limit);

  bool heartbeat(const protocol::DeviceTask& task);
  bool post_result(const protocol::DeviceTask& task, const protocol::DeviceMeasurement& measurement);
  bool release(const protocol::DeviceTask& task);
  bool fail(const protocol::DeviceTask& task, const std::string& error);

 private:
  bool lease_call(const protocol::DeviceTask& task, const std::string& verb, nlohmann::json body);

  ApiClient api_;
};

}  // namespace flashnas::client
