// Capturing the measurement environment (CPU model, build, revision).
#include "engine/latency/latency_environment.hpp"

#include <nlohmann/json.hpp>

#include <fstream>
#include <thread>

#ifndef FLASHNAS_GIT_REVISION
#define FLASHNAS_GIT_REVISION "unknown"
#endif
#ifndef FLASHNAS_BUILD_TYPE
#define FLASHNAS_BUILD_TYPE "unknown"
#endif

namespace flashnas::latency {

std::string read_cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  // x86 says "model name", some ARM kernels "Hardware" or "Processor".
  for (const char* key : {"model name", "Hardware", "Processor"}) {
    in.clear();
    in.seekg(0);
    while (std::getline(in, line)) {
      if (line.rfind(key, 0) != 0) continue;
      const auto colon = line.find(':');
      if (colon == std::string::npos) continue;
      std::string value = line.substr(colon + 1);
      const auto first = value.find_first_not_of(" \t");
      if (first == std::string::npos) continue;
      return value.substr(first);
    }
  }
  return "unknown";
}

LatencyEnvironment capture_environment() {
  LatencyEnvironment env;
  env.cpu_model = read_cpu_model();
  env.logical_cpus = static_cast<int>(std::thread::hardware_concurrency());
  env.build_type = FLASHNAS_BUILD_TYPE;
  env.git_revision = FLASHNAS_GIT_REVISION;
  return env;
}

nlohmann::json latency_environment_to_json(const LatencyEnvironment& env) {
  return {{"cpu_model", env.cpu_model},   {"logical_cpus", env.logical_cpus},
          {"threads", env.threads},       {"pinned", env.pinned},
          {"build_type", env.build_type}, {"git_revision", env.git_revision},
          {"weights", env.weights}};
}

}  // namespace flashnas::latency
