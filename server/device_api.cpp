// DeviceApi (see device_api.hpp).
#include "server/device_api.hpp"

#include <nlohmann/json.hpp>

#include "app/devices.hpp"
#include "app/job_service.hpp"
#include "engine/util/json_reader.hpp"
#include "store/database.hpp"
#include "store/device_repository.hpp"

namespace flashnas::server {
namespace {

using nlohmann::json;

// {"lease_token": ...} and whatever else the call reads, parsed strictly.
struct LeaseBody {
  std::string lease_token;
  std::optional<json> measurement;
  std::string error;
};

LeaseBody read_lease_body(const json& body, bool with_measurement, bool with_error) {
  FieldErrors errors;
  JsonObjectReader r(body, "", errors);
  LeaseBody out;
  out.lease_token = r.string("lease_token", true, 64).value_or("");
  if (with_measurement) {
    if (const json* m = r.object("measurement", true)) out.measurement = *m;
  }
  if (with_error) out.error = r.string("error", true, 2000).value_or("");
  r.finish();
  errors.throw_if_any();
  return out;
}

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

DeviceApi::DeviceApi(store::ConnectionPool& pool, store::QueueOptions queue, double agent_lease_seconds)
    : pool_(pool), queue_(queue), lease_seconds_(agent_lease_seconds) {}

std::optional<json> DeviceApi::add(int64_t project_id, const json& body) {
  const app::DeviceRegistration registration = app::parse_device_registration(body);
  const auto added = pool_.transact([&](pqxx::transaction_base& tx) {
    return app::register_device(tx, project_id, registration);
  });
  if (!added) return std::nullopt;
  return json{{"device", added->device}, {"token", added->token}};
}

json DeviceApi::list(int64_t project_id) {
  return {{"items", pool_.read([&](pqxx::transaction_base& tx) { return store::device_list(tx, project_id); })}};
}

std::optional<store::Device> DeviceApi::get(int64_t project_id, int64_t device_id) {
  return pool_.read([&](pqxx::transaction_base& tx) { return store::device_get(tx, project_id, device_id); });
}

std::optional<store::Device> DeviceApi::revoke(int64_t project_id, int64_t device_id) {
  return pool_.transact([&](pqxx::transaction_base& tx) {
    store::device_revoke(tx, project_id, device_id);
    return store::device_get(tx, project_id, device_id);
  });
}

std::optional<json> DeviceApi::import(int64_t project_id, int64_t device_id, const json& body) {
  const auto measurements = app::parse_measurement_import(body);
  return pool_.transact([&](pqxx::transaction_base& tx) -> std::optional<json> {
    const auto device = store::device_get(tx, project_id, device_id);
    if (!device) return std::nullopt;
    if (device->revoked_at) throw InvalidInput("the device is revoked", "device");
    const auto ids = app::import_measurements(tx, *device, measurements);
    return json{{"imported", ids.size()}, {"ids", ids}};
  });
}

void DeviceApi::rescue_now_and_then() {
  int64_t last = last_rescue_ms_.load();
  const int64_t now = now_ms();
  if (now - last < 1000 || !last_rescue_ms_.compare_exchange_strong(last, now)) return;
  pool_.transact([&](pqxx::transaction_base& tx) { return app::rescue_expired_tasks(tx, queue_); });
}

json DeviceApi::claim(const store::Device& device, const json& body) {
  FieldErrors errors;
  JsonObjectReader r(body, "", errors);
  const std::string agent = r.string("agent", true, 100).value_or("");
  const int limit = static_cast<int>(r.integer("limit", false, 1, 64).value_or(1));
  r.finish();
  errors.throw_if_any();
  rescue_now_and_then();
  const auto tasks = [&] {
    auto lease = pool_.acquire();
    return app::claim_device_tasks(*lease, device, agent, limit, lease_seconds_);
  }();
  json items = json::array();
  for (const auto& t : tasks) items.push_back(protocol::device_task_to_json(t));
  return {{"tasks", items}, {"lease_seconds", lease_seconds_}};
}

app::LeaseOutcome DeviceApi::heartbeat(const store::Device& device, int64_t task_id, const json& body) {
  const LeaseBody b = read_lease_body(body, false, false);
  return pool_.transact([&](pqxx::transaction_base& tx) {
    return app::heartbeat_device_task(tx, device, task_id, b.lease_token, lease_seconds_);
  });
}

app::LeaseOutcome DeviceApi::result(const store::Device& device, int64_t task_id, const json& body) {
  const LeaseBody b = read_lease_body(body, true, false);
  const protocol::DeviceMeasurement m = protocol::device_measurement_from_json(*b.measurement);
  return pool_.transact([&](pqxx::transaction_base& tx) {
    return app::complete_device_task(tx, device, task_id, b.lease_token, m, queue_);
  });
}

app::LeaseOutcome DeviceApi::release(const store::Device& device, int64_t task_id, const json& body) {
  const LeaseBody b = read_lease_body(body, false, false);
  return pool_.transact(
      [&](pqxx::transaction_base& tx) { return app::release_device_task(tx, device, task_id, b.lease_token); });
}

app::LeaseOutcome DeviceApi::fail(const store::Device& device, int64_t task_id, const json& body) {
  const LeaseBody b = read_lease_body(body, false, true);
  return pool_.transact([&](pqxx::transaction_base& tx) {
    return app::fail_device_task(tx, device, task_id, b.lease_token, b.error, queue_);
  });
}

}  // namespace flashnas::server
