// measure_latency: times one model on this machine the way a deployment runs it:
// time to first token (prefill of a P-token prompt including the first logits)
// and decode milliseconds per token at context P (K decode steps after the
// prefill), with warm-up runs, repeats, a noise gate and the environment.
// The worker's `latency` task, a device agent and `flashnas bench-latency` all
// call this; it does not build models (synthetic_model.hpp) or model latency
// (latency_model.hpp).
#pragma once

#include <nlohmann/json_fwd.hpp>

#include <cstdint>

#include "engine/latency/latency_environment.hpp"
#include "engine/latency/latency_options.hpp"
#include "engine/latency/latency_stats.hpp"
#include "engine/model/model.hpp"

namespace flashnas::latency {

struct LatencyMeasurement {
  SampleStats ttft_ms;              // one sample per timed run: prefill of P tokens + first logits
  SampleStats decode_ms_per_token;  // one sample per timed run: (K decode steps) / K
  int64_t rounds = 0;               // rounds of `repeats` runs (1 + extra rounds taken)
  bool noisy = false;               // CV still above the threshold after the last round
  int64_t params = 0;               // parameters of the model timed
  LatencyOptions options;           // what was run
  LatencyEnvironment environment;   // where it ran
};

// Validates `options` (InvalidInput naming the field), then times `model`.
// Decode positions run up to P + K, which the model's context length need not
// cover (RoPE extrapolates; latency does not care). With weights q8_0 the
// model's matrices are quantised once before the timed runs (those whose row
// length is not a multiple of 32 run in F32, as llama.cpp's quantiser keeps them
// in another type).
LatencyMeasurement measure_latency(const Model& model, const LatencyOptions& options);

nlohmann::json latency_measurement_to_json(const LatencyMeasurement& m);

}  // namespace flashnas::latency
