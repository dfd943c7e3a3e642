// The device protocol, server side: what a device agent does with the queue, over HTTP
// (server/routes_devices.cpp) and with the same semantics as a worker's:
// claim latency tasks of its device's kind in its project (leased, counted as
// an attempt), heartbeat, post the measurement (landing exactly once, while
// the lease holds), give a task back untouched, or fail it for a retry. Every
// call checks the task is the device's (its kind and project); a task of
// anyone else is "not found", so a token tells nothing about other tasks.
// The agent gets what to measure, never a checkpoint: latency depends on the
// shape alone, so it builds random weights of that shape itself. The wire
// types are protocol/device_protocol.hpp's.
#pragma once

#include <pqxx/pqxx>
#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <vector>

#include "protocol/device_protocol.hpp"
#include "store/records.hpp"
#include "store/task_queue.hpp"

namespace flashnas::app {

using protocol::DeviceMeasurement;
using protocol::DeviceTask;

// Claims up to `limit` tasks of one job (a batch the agent measures
// interleaved, as workers do). Runs in `db`'s own short transactions.
std::vector<DeviceTask> claim_device_tasks(pqxx::connection& db, const store::Device& device,
                                           const std::string& agent_name, int limit, double lease_seconds);

enum class LeaseOutcome : uint8_t {
  done,       // the call took effect
  lost,       // the lease no longer holds (expired and rescued, job cancelled, finished)
  not_found,  // no such task of this device's kind and project
};

LeaseOutcome complete_device_task(pqxx::transaction_base& tx, const store::Device& device, int64_t task_id,
                                  const std::string& lease_token, const DeviceMeasurement& measurement,
                                  const store::QueueOptions& queue);
LeaseOutcome heartbeat_device_task(pqxx::transaction_base& tx, const store::Device& device, int64_t task_id,
                                   const std::string& lease_token, double lease_seconds);
LeaseOutcome release_device_task(pqxx::transaction_base& tx, const store::Device& device, int64_t task_id,
                                 const std::string& lease_token);
// A failure on the device (out of memory, say): retried after a back-off until
// the task's attempts are used up, like a worker's retryable failure.
LeaseOutcome fail_device_task(pqxx::transaction_base& tx, const store::Device& device, int64_t task_id,
                              const std::string& lease_token, const std::string& error,
                              const store::QueueOptions& queue);

}  // namespace flashnas::app
