// DeviceClient (see device_client.hpp).
#include "client/device_client.hpp"

#include <fmt/format.h>

namespace flashnas::client {

DeviceClient::Claim DeviceClient::claim(const std::string& agent_name, int limit) {
  const Response r = api_.post("/v1/agent/claim", {{"agent", agent_name}, {"limit", limit}}, {});
  Claim out;
  if (!r.body.is_object() || !r.body.contains("tasks") || !r.body["tasks"].is_array()) {
    throw ClientError(ClientErrorKind::server_error, r.status, "POST /v1/agent/claim: the answer has no tasks list");
  }
  for (const auto& t : r.body["tasks"]) out.tasks.push_back(protocol::device_task_from_json(t));
  if (r.body.contains("lease_seconds") && r.body["lease_seconds"].is_number()) {
    out.lease_seconds = r.body["lease_seconds"].get<double>();
  }
  return out;
}

bool DeviceClient::lease_call(const protocol::DeviceTask& task, const std::string& verb, nlohmann::json body) {
  body["lease_token"] = task.lease_token;
  try {
    api_.post(fmt::format("/v1/agent/tasks/{}/{}", task.task_id, verb), body, {.idempotent = true});
    return true;
  } catch (const ClientError& e) {
    if (e.kind() == ClientErrorKind::refused && (e.status() == 409 || e.status() == 404)) return false;
    throw;
  }
}

bool DeviceClient::heartbeat(const protocol::DeviceTask& task) { return lease_call(task, "heartbeat", {}); }

bool DeviceClient::post_result(const protocol::DeviceTask& task, const protocol::DeviceMeasurement& m) {
  return lease_call(task, "result", {{"measurement", protocol::device_measurement_to_json(m)}});
}

bool DeviceClient::release(const protocol::DeviceTask& task) { return lease_call(task, "release", {}); }

bool DeviceClient::fail(const protocol::DeviceTask& task, const std::string& error) {
  return lease_call(task, "fail", {{"error", error}});
}

}  // namespace flashnas::client
