// Shared set-up of the pruning benchmarks: locating the stories260K assets,
// loading the backbone and its (cached) calibration statistics.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "bench/support/data_file.hpp"
#include "engine/model/model.hpp"
#include "engine/prune/calibration_stats.hpp"

namespace flashnas::bench {

std::string read_text(const std::string& path);
double median(std::vector<double> v);

struct PruneBenchSetup {
  Model backbone;
  CalibrationStats stats;
  bool stats_from_cache = false;
  double calibration_seconds = 0.0;  // load or compute
};

// stories260K.gguf, calibrated on the first `calib_tokens` tokens of
// tinystories-train-sample.txt in windows of 256, cached in `cache_dir`.
PruneBenchSetup load_stories260k(int64_t calib_tokens, const std::string& cache_dir);

}  // namespace flashnas::bench
