// Devices of a project, as the API offers them: registering one (its token
// shown once, stored hashed), revoking it, and importing latency measurements
// made outside flashnas (flashnas's own JSON, or llama-bench's `-o json`
// output mapped onto architectures the user names). Bodies are parsed here,
// once, every bad field reported; each call works on the caller's transaction.
// Not the device protocol of agents (device_tasks.hpp).
#pragma once

#include <pqxx/pqxx>
#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <vector>

#include "engine/model/arch_config.hpp"
#include "store/records.hpp"

namespace flashnas::app {

// {"kind", "name", "description": {"cpu", "threads", "runtime"}}
struct DeviceRegistration {
  std::string kind, name;
  nlohmann::json description = nlohmann::json::object();
};
DeviceRegistration parse_device_registration(const nlohmann::json& body);

struct RegisteredDevice {
  store::Device device;
  std::string token;  // "fnd_...": returned once, never stored
};
// Nullopt when the project already has a device of that kind and name.
std::optional<RegisteredDevice> register_device(pqxx::transaction_base& tx, int64_t project_id,
                                                const DeviceRegistration& registration);

// One measurement to import, validated: the full architecture measured and its
// medians (decode may be absent: prefill alone still informs TTFT models).
struct ImportedMeasurement {
  ArchConfig arch;
  int64_t prompt_len = 0, decode_tokens = 0;
  double prefill_ms = 0.0;
  std::optional<double> decode_ms_per_token;
  std::optional<double> prefill_spread, decode_spread;  // relative (stddev or MAD over the median)
  nlohmann::json environment = nlohmann::json::object();
};

// The body of POST /v1/devices/{id}/measurements:
//  {"format": "flashnas", "prompt_len", "decode_tokens", "environment"?,
//   "measurements": [{"arch": ARCH, "prefill_ms", "decode_ms_per_token"?, "prefill_spread"?,
//                     "decode_spread"?, "environment"?}, ...]}
//  {"format": "llama-bench", "results": [llama-bench -o json rows],
//   "models": {"<model_filename>": ARCH, ...}}
// ARCH is flashnas's architecture JSON (as trials and measurements show it) or,
// under {"hf_config": {...}}, a Hugging Face config.json. A llama-bench prompt
// test (n_prompt > 0, n_gen = 0) gives the prefill time (avg_ns), a generation
// test (n_prompt = 0, n_gen > 0) the decode time per token (avg_ns / n_gen); a
// model's prompt tests each become one measurement with its generation test.
std::vector<ImportedMeasurement> parse_measurement_import(const nlohmann::json& body);

// Stores the measurements for `device` (its kind, marked imported); returns their ids.
std::vector<int64_t> import_measurements(pqxx::transaction_base& tx, const store::Device& device,
                                         const std::vector<ImportedMeasurement>& measurements);

}  // namespace flashnas::app
