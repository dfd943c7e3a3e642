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
#include <span>
#include <vector>

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
  int64_t interleaved_with = 0;     // other models whose runs alternated with this one's
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

// Times several models together, interleaving their runs: each pass runs every
// model once (warm-up passes first), `repeats` passes make a round, and the
// noise gate adds rounds only for the models still above the threshold, their
// runs interleaved among themselves. On a machine whose speed drifts (shared
// hosts, thermal throttling), consecutive runs of one model share the same slow
// or fast period, so their median carries the drift; interleaved, each model's
// samples are spread over the whole measurement and every model sees the same
// mix of periods. With several models every run starts with the caches
// holding another model's data, as in an application that does not run the
// model back to back. All models are held in memory at once: the caller bounds the batch.
// Returns one measurement per model, in order.
std::vector<LatencyMeasurement> measure_latency_interleaved(std::span<const Model* const> models,
                                                            const LatencyOptions& options);

nlohmann::json latency_measurement_to_json(const LatencyMeasurement& m);

}  // namespace flashnas::latency
