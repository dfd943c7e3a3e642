// Times the latency model's fit on N architectures and its prediction at M
// others (issue 4: N = 800, M = 10,000 in under 2 s). The features are real
// latency features of random architectures of a mobile-shaped space; the
// latencies come from a smooth synthetic law (measuring 800 models would take
// hours, and the fit's cost does not depend on where the numbers came from).
// Prints one JSON object; the figure is the median over --runs.
//
// usage: bench_latency_model [--train N] [--predict M] [--runs R]
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <nlohmann/json.hpp>
#include <random>
#include <string>

#include "engine/latency/features.hpp"
#include "engine/latency/latency_model.hpp"
#include "engine/latency/latency_stats.hpp"
#include "engine/latency/model_shape.hpp"
#include "engine/model/arch_cost.hpp"
#include "engine/search/arch_space.hpp"

using namespace flashnas;
using namespace flashnas::latency;

namespace {

constexpr int64_t kPrompt = 256;

struct Data {
  Eigen::MatrixXd x;
  Eigen::VectorXd ttft, decode;
};

Data make_data(const search::ArchSpace& space, const ModelShape& shape, int64_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> noise(0.0, 0.02);
  Data d{Eigen::MatrixXd(n, kLatencyFeatureCount), Eigen::VectorXd(n), Eigen::VectorXd(n)};
  for (int64_t i = 0; i < n; ++i) {
    const ArchConfig c = shape_to_config(shape, space.sample_arch(rng));
    d.x.row(i) = latency_features(c, kPrompt).transpose();
    const double eff = 1.0 - 0.3 * std::exp(-static_cast<double>(c.d_model) / 384.0);
    d.ttft(i) = (prefill_flops(c, kPrompt) / (5e7 * eff) + 0.05 * static_cast<double>(c.n_layers())) *
                std::exp(noise(rng));
    d.decode(i) = (weight_bytes_per_decode_token(c) / 1e7 + 0.01 * static_cast<double>(c.n_layers())) *
                  std::exp(noise(rng));
  }
  return d;
}

int64_t arg(int argc, char** argv, const char* name, int64_t fallback) {
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::strcmp(argv[i], name) == 0) return std::strtoll(argv[i + 1], nullptr, 10);
  }
  return fallback;
}

}  // namespace

int main(int argc, char** argv) {
  const int64_t n_train = arg(argc, argv, "--train", 800);
  const int64_t n_predict = arg(argc, argv, "--predict", 10000);
  const int64_t runs = std::max<int64_t>(1, arg(argc, argv, "--runs", 3));

  search::ArchSpaceOptions so;
  so.n_layers = {4, 16, 1};
  so.d_model = {256, 1024, 64};
  so.d_ffn = {512, 4096, 256};
  so.sliding_windows = {64, 128};
  const search::ArchSpace space(so);
  const ModelShape shape{8, 2, 64, 32000, true};
  const Data train = make_data(space, shape, n_train, 1);
  const Data query = make_data(space, shape, n_predict, 2);

  using Clock = std::chrono::steady_clock;
  std::vector<double> fit_s, predict_s, total_s, cpu_s;
  double max_rel_err = 0.0;
  for (int64_t r = 0; r < runs; ++r) {
    const std::clock_t c0 = std::clock();
    const auto t0 = Clock::now();
    const LatencyModel model = LatencyModel::fit(train.x, train.ttft, train.decode);
    const auto t1 = Clock::now();
    const LatencyPredictions p = model.predict(query.x);
    const auto t2 = Clock::now();
    fit_s.push_back(std::chrono::duration<double>(t1 - t0).count());
    predict_s.push_back(std::chrono::duration<double>(t2 - t1).count());
    total_s.push_back(std::chrono::duration<double>(t2 - t0).count());
    // Process CPU time: on a machine shared with other work the better estimate of the cost.
    cpu_s.push_back(static_cast<double>(std::clock() - c0) / CLOCKS_PER_SEC);
    max_rel_err = (p.ttft_ms.array() / query.ttft.array() - 1.0).abs().maxCoeff();
  }
  const nlohmann::json out = {
      {"bench", "latency_model_fit_predict"},
      {"train_points", n_train},
      {"predict_points", n_predict},
      {"features", kLatencyFeatureCount},
      {"runs", runs},
      {"fit_seconds_median", median_of(fit_s)},
      {"predict_seconds_median", median_of(predict_s)},
      {"total_seconds_median", median_of(total_s)},
      {"total_seconds", total_s},
      {"total_cpu_seconds_median", median_of(cpu_s)},
      {"target_seconds", 2.0},
      {"max_relative_error_prefill", max_rel_err},
  };
  std::printf("%s\n", out.dump(2).c_str());
  return 0;
}
