// The environment a latency measurement ran in: CPU model, thread count and
// pinning, build type and git revision. Measurements are only comparable within
// one environment, so every result carries it. Not the measurement itself.
#pragma once

#include <nlohmann/json_fwd.hpp>

#include <string>

namespace flashnas::latency {

struct LatencyEnvironment {
  std::string cpu_model;      // "model name" of /proc/cpuinfo, or "unknown"
  int logical_cpus = 0;       // std::thread::hardware_concurrency()
  int threads = 1;            // threads the measurement used
  bool pinned = false;        // every thread (including the caller) pinned to a CPU
  std::string build_type;     // CMAKE_BUILD_TYPE of flashnas_engine
  std::string git_revision;   // short revision at configure time
  std::string weights;        // weight format timed: "f32" | "q8_0"
};

// CPU model of this machine from /proc/cpuinfo ("unknown" when unreadable).
std::string read_cpu_model();

// Fills cpu_model, logical_cpus, build_type and git_revision; the caller sets
// threads, pinned and weights (they depend on the run).
LatencyEnvironment capture_environment();

nlohmann::json latency_environment_to_json(const LatencyEnvironment& env);

}  // namespace flashnas::latency
