// The device protocol's wire types: what the server hands a device agent to
// measure and what the agent posts back, with their JSON. Shared by the server
// side (app/device_tasks.hpp) and the agent (agent/), which links no database
// code, so it lives below both. Parsing validates: the agent trusts nothing
// the network gives it, the server nothing an agent posts.
//
//   POST /v1/agent/claim {"agent", "limit"}  -> {"tasks": [DeviceTask, ...], "lease_seconds"}
//   POST /v1/agent/tasks/{id}/heartbeat {"lease_token"}
//   POST /v1/agent/tasks/{id}/result    {"lease_token", "measurement": DeviceMeasurement}
//   POST /v1/agent/tasks/{id}/release   {"lease_token"}
//   POST /v1/agent/tasks/{id}/fail      {"lease_token", "error"}
#pragma once

#include <nlohmann/json.hpp>

#include <string>

#include "engine/latency/latency_options.hpp"
#include "engine/model/arch_config.hpp"

namespace flashnas::latency {
struct MeasuredLatency;  // engine/latency/study.hpp (kept out: Eigen clashes with <resolv.h>'s _res in HTTP code)
}

namespace flashnas::protocol {

// One claimed task: build random weights of `config` (quantised when
// options.weights says so) and time it with `options`.
struct DeviceTask {
  int64_t task_id = 0;
  int64_t job_id = 0;
  std::string lease_token;
  ArchConfig config;
  latency::LatencyOptions options;
};
nlohmann::json device_task_to_json(const DeviceTask& task);
DeviceTask device_task_from_json(const nlohmann::json& j);

// One task's measurement: medians, relative spreads (MAD / median), every
// timed run, and the device's environment (CPU, threads, build flags, thermal state).
struct DeviceMeasurement {
  double ttft_ms = 0.0, decode_ms_per_token = 0.0;
  double prefill_spread = 0.0, decode_spread = 0.0;
  nlohmann::json samples = nlohmann::json::object();
  nlohmann::json environment = nlohmann::json::object();
};
nlohmann::json device_measurement_to_json(const DeviceMeasurement& m);
// Positive finite times, objects where objects belong; InvalidInput naming the field.
DeviceMeasurement device_measurement_from_json(const nlohmann::json& j);

// What the engine's measurer reports, as the protocol carries it (workers
// store the same figures for their own measurements).
DeviceMeasurement measurement_of(const latency::MeasuredLatency& measured);

}  // namespace flashnas::protocol
