// LatencyOptions: what one latency measurement runs (prompt length, decode
// tokens, threads, repeats, warm-up, weight format, noise gate), as a plain
// struct with validation and JSON so a worker task or a device agent can carry
// it. Not the measuring code (measure_latency.hpp).
#pragma once

#include <nlohmann/json_fwd.hpp>

#include <cstdint>
#include <string>
#include <string_view>

#include "engine/runtime/weight_matrix.hpp"
#include "engine/util/json_reader_fwd.hpp"

namespace flashnas::latency {

// What the timer reads.
//   wall:       elapsed time (steady clock): the latency a user sees.
//   thread_cpu: CPU time of the measuring thread (CLOCK_THREAD_CPUTIME_ID). On a
//               machine shared with other work, wall time counts the slices the
//               scheduler gives to others; thread CPU time does not, so it is the
//               better estimate of the undisturbed single-thread latency (cache
//               and memory-bandwidth interference remain). Single thread only.
enum class LatencyClock : uint8_t { wall, thread_cpu };
std::string_view latency_clock_name(LatencyClock clock);
LatencyClock parse_latency_clock(std::string_view text, const std::string& field);

struct LatencyOptions {
  int64_t prompt_len = 256;     // P: tokens prefilled; decode is timed at context P
  int64_t decode_tokens = 16;   // K: decode steps timed after each prefill
  int threads = 1;
  bool pin_threads = true;      // pin threads to CPUs where the platform allows
  int64_t repeats = 5;          // R: timed runs per round
  int64_t warmup = 1;           // W: untimed runs first (page faults, caches, frequency)
  WeightFormat weights = WeightFormat::f32;  // f32 or q8_0 (engine/runtime/weight_matrix.hpp)
  // Noise gate: when the coefficient of variation of the prefill or decode
  // samples exceeds cv_threshold, another round of R repeats is added, at most
  // max_extra_rounds times; if it is still above, the result is flagged noisy.
  double cv_threshold = 0.05;
  int64_t max_extra_rounds = 2;
  uint64_t token_seed = 7;      // the random prompt's tokens (latency does not depend on them)
  LatencyClock clock = LatencyClock::wall;

  // Records every broken rule as {field, reason}, fields under `prefix`
  // ("latency.repeats"). The JSON reader and the flags share these checks.
  void validate(FieldErrors& errors, const std::string& prefix = "") const;
  // Throws one InvalidInput naming every broken rule ("prompt_len", "repeats", ...).
  void validate() const;
};

nlohmann::json latency_options_to_json(const LatencyOptions& options);
// Missing fields keep their defaults; unknown fields are refused; validates.
// Every bad field is reported, in one InvalidInput.
LatencyOptions latency_options_from_json(const nlohmann::json& j);
// The LatencyOptions fields of `r`'s object, validated, errors recorded in
// r.errors(). Other fields are left to the caller (an object that carries more
// than the options, like a job's "latency"), who reports unknown ones with finish().
LatencyOptions read_latency_options(JsonObjectReader& r);

}  // namespace flashnas::latency
