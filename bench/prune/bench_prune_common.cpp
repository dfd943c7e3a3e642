// Shared set-up of the pruning benchmarks (see bench_prune_common.hpp).
#include "bench/prune/bench_prune_common.hpp"

#include <algorithm>
#include <chrono>

#include "engine/model/gguf_reader.hpp"
#include "engine/prune/prune_inputs.hpp"
#include "engine/util/error.hpp"

namespace flashnas::bench {

std::string read_text(const std::string& path) { return read_text_file(path, "data_dir"); }

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

PruneBenchSetup load_stories260k(int64_t calib_tokens, const std::string& cache_dir) {
  PruneBenchSetup s;
  const std::string model_path = data_file("stories260K.gguf");
  s.backbone = load_gguf(model_path);
  CalibrationOptions opt;
  opt.max_tokens = calib_tokens;
  opt.window = 256;
  const auto t0 = std::chrono::steady_clock::now();
  s.stats = calibrate_from_files(s.backbone, model_path, data_file("tinystories-train-sample.txt"), opt,
                                 cache_dir, nullptr, &s.stats_from_cache);
  s.calibration_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return s;
}

}  // namespace flashnas::bench
