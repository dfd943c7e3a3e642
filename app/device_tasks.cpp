// The device protocol (see device_tasks.hpp).
#include "app/device_tasks.hpp"

#include <fmt/format.h>


#include "app/job_service.hpp"
#include "app/task_runners.hpp"
#include "store/job_repository.hpp"

namespace flashnas::app {
namespace {


// The task, if it is a latency task of the device's kind in the device's project.
std::optional<store::Task> task_of_device(pqxx::transaction_base& tx, const store::Device& device, int64_t task_id) {
  auto task = store::task_get(tx, task_id);
  if (!task || task->device_kind != device.kind || !task->job_id) return std::nullopt;
  const auto job = store::job_get_any_project(tx, *task->job_id);
  if (!job || job->project_id != device.project_id) return std::nullopt;
  return task;
}

}  // namespace

std::vector<DeviceTask> claim_device_tasks(pqxx::connection& db, const store::Device& device,
                                           const std::string& agent_name, int limit, double lease_seconds) {
  FLASHNAS_CHECK(device.project_id.has_value(), "device {} is not registered", device.id);
  store::ClaimRequest request{{store::TaskKind::latency},
                              fmt::format("device-{}/{}", device.id, agent_name),
                              lease_seconds,
                              1,
                              std::nullopt,
                              store::DeviceClaim{*device.project_id, device.kind}};
  std::vector<store::Task> tasks;
  {
    pqxx::nontransaction tx(db);
    tasks = claim_batch(tx, request, [limit](store::TaskKind) { return limit; });
  }
  if (tasks.empty()) return {};
  LatencyBatch batch;
  {
    pqxx::read_transaction tx(db);
    batch = latency_batch(tx, tasks);
  }
  std::vector<DeviceTask> out;
  for (size_t i = 0; i < tasks.size(); ++i) {
    out.push_back({tasks[i].id, *tasks[i].job_id, *tasks[i].lease_token, batch.configs[i], batch.options});
  }
  return out;
}

LeaseOutcome complete_device_task(pqxx::transaction_base& tx, const store::Device& device, int64_t task_id,
                                  const std::string& lease_token, const DeviceMeasurement& m,
                                  const store::QueueOptions& queue) {
  const auto task = task_of_device(tx, device, task_id);
  if (!task) return LeaseOutcome::not_found;
  if (task->state != store::TaskState::running || task->lease_token != lease_token) return LeaseOutcome::lost;
  const LatencyBatch batch = latency_batch(tx, std::span(&*task, 1));
  LatencyResult result = latency_result(batch, batch.configs.front(), m);
  result.device_id = device.id;
  return complete_task(tx, *task, lease_token, result, queue) ? LeaseOutcome::done : LeaseOutcome::lost;
}

LeaseOutcome heartbeat_device_task(pqxx::transaction_base& tx, const store::Device& device, int64_t task_id,
                                   const std::string& lease_token, double lease_seconds) {
  if (!task_of_device(tx, device, task_id)) return LeaseOutcome::not_found;
  return store::task_heartbeat(tx, task_id, lease_token, lease_seconds) ? LeaseOutcome::done : LeaseOutcome::lost;
}

LeaseOutcome release_device_task(pqxx::transaction_base& tx, const store::Device& device, int64_t task_id,
                                 const std::string& lease_token) {
  if (!task_of_device(tx, device, task_id)) return LeaseOutcome::not_found;
  return store::task_release(tx, task_id, lease_token) ? LeaseOutcome::done : LeaseOutcome::lost;
}

LeaseOutcome fail_device_task(pqxx::transaction_base& tx, const store::Device& device, int64_t task_id,
                              const std::string& lease_token, const std::string& error,
                              const store::QueueOptions& queue) {
  if (!task_of_device(tx, device, task_id)) return LeaseOutcome::not_found;
  const std::string message = fmt::format("device {} ({}): {}", device.id, device.name, error);
  return fail_task(tx, task_id, lease_token, message, store::Failure::retryable, queue) ? LeaseOutcome::done
                                                                                        : LeaseOutcome::lost;
}

}  // namespace flashnas::app
