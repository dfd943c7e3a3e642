// The measurement flags every latency command shares (bench-latency,
// latency-study): their specs and how they become LatencyOptions.
#pragma once

#include <vector>

#include "common/flags.hpp"
#include "engine/latency/latency_options.hpp"

namespace flashnas::cli {

// --prompt-len, --decode-tokens, --threads, --repeats, --warmup, --weights,
// --cv-threshold, --max-extra-rounds, --no-pin, --clock.
std::vector<FlagSpec> latency_measurement_flags();

// Reads those flags into validated LatencyOptions (defaults where absent).
latency::LatencyOptions latency_options_from_flags(const Flags& flags);

}  // namespace flashnas::cli
