// Test-retest of the latency measurement protocol on this machine: how far two
// independent measurements of the same architectures disagree, with the runs of
// each architecture back to back (measure_latency, one model after another) or
// interleaved across the batch (measure_latency_interleaved). The held-out
// accuracy of a latency model cannot beat the noise of the measurements it is
// scored against, so this bounds what a study can show here.
//
// A architectures are drawn from the space; the four passes run in the order
// sequential, interleaved, sequential, interleaved, so slow drift of the host
// hits both protocols alike. For each protocol and each statistic of the
// repeats (median, min, interquartile mean) it reports the median |log(a/b)|
// between the two passes and the share of architectures whose two values agree
// within 5% and 10%. Prints one JSON object.
//
// usage: bench_latency_protocol --space SPACE.json --shape SHAPE.json
//          [--archs A] [--repeats R] [--prompt-len P] [--decode-tokens K] [--seed S]
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "engine/latency/json_file.hpp"
#include "engine/latency/latency_stats.hpp"
#include "engine/latency/measure_latency.hpp"
#include "engine/latency/model_shape.hpp"
#include "engine/runtime/synthetic_model.hpp"
#include "engine/search/arch_space.hpp"

using namespace flashnas;
using namespace flashnas::latency;

namespace {

const char* arg(int argc, char** argv, const char* name, const char* fallback) {
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::strcmp(argv[i], name) == 0) return argv[i + 1];
  }
  return fallback;
}

int64_t int_arg(int argc, char** argv, const char* name, int64_t fallback, int64_t lo, int64_t hi) {
  const char* text = arg(argc, argv, name, nullptr);
  if (!text) return fallback;
  char* end = nullptr;
  const long long v = std::strtoll(text, &end, 10);
  if (*end != '\0' || v < lo || v > hi) {
    std::fprintf(stderr, "%s must be an integer in [%lld, %lld], got '%s'\n", name,
                 static_cast<long long>(lo), static_cast<long long>(hi), text);
    std::exit(2);
  }
  return v;
}

using Pass = std::vector<LatencyMeasurement>;

// Agreement of two passes over the same architectures, for one target.
nlohmann::json agreement(const Pass& a, const Pass& b, bool decode, LatencyStatistic stat) {
  std::vector<double> gaps;
  int64_t within_5 = 0, within_10 = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    const SampleStats& x = decode ? a[i].decode_ms_per_token : a[i].ttft_ms;
    const SampleStats& y = decode ? b[i].decode_ms_per_token : b[i].ttft_ms;
    const double gap = std::abs(std::log(statistic_of(x, stat) / statistic_of(y, stat)));
    gaps.push_back(gap);
    within_5 += gap <= std::log(1.05);
    within_10 += gap <= std::log(1.10);
  }
  const double n = static_cast<double>(gaps.size());
  return {{"median_abs_log_ratio", median_of(gaps)},
          {"within_5", static_cast<double>(within_5) / n},
          {"within_10", static_cast<double>(within_10) / n}};
}

}  // namespace

int main(int argc, char** argv) {
  const char* space_path = arg(argc, argv, "--space", nullptr);
  const char* shape_path = arg(argc, argv, "--shape", nullptr);
  if (!space_path || !shape_path) {
    std::fprintf(stderr, "usage: bench_latency_protocol --space SPACE.json --shape SHAPE.json "
                         "[--archs A] [--repeats R] [--prompt-len P] [--decode-tokens K] [--seed S]\n");
    return 2;
  }
  try {
    const search::ArchSpace space(search::arch_space_options_from_json(read_json_file(space_path, "--space")));
    const ModelShape shape = model_shape_from_json(read_json_file(shape_path, "--shape"), "--shape");
    const int64_t n_archs = int_arg(argc, argv, "--archs", 10, 2, 100);
    LatencyOptions options;
    options.repeats = int_arg(argc, argv, "--repeats", 8, 2, 1000);
    options.prompt_len = int_arg(argc, argv, "--prompt-len", 256, 1, 1 << 16);
    options.decode_tokens = int_arg(argc, argv, "--decode-tokens", 16, 1, 1 << 16);
    options.max_extra_rounds = 0;  // the protocol under test, without the gate
    std::mt19937_64 rng(static_cast<uint64_t>(int_arg(argc, argv, "--seed", 0, 0, INT64_MAX)));

    std::vector<Model> models;
    std::vector<const Model*> pointers;
    nlohmann::json archs = nlohmann::json::array();
    models.reserve(static_cast<size_t>(n_archs));
    for (int64_t i = 0; i < n_archs; ++i) {
      const CandidateArch a = space.sample_arch(rng);
      archs.push_back(candidate_arch_to_json(a));
      models.push_back(make_synthetic_model(shape_to_config(shape, a), 1234));
      pointers.push_back(&models.back());
    }

    auto sequential = [&] {
      Pass pass;
      for (const Model& m : models) pass.push_back(measure_latency(m, options));
      return pass;
    };
    auto interleaved = [&] { return measure_latency_interleaved(pointers, options); };
    const time_t started = std::time(nullptr);
    const Pass s1 = sequential(), i1 = interleaved(), s2 = sequential(), i2 = interleaved();

    nlohmann::json protocols = nlohmann::json::object();
    for (const auto& [name, a, b] : {std::tuple{"sequential", &s1, &s2},
                                     std::tuple{"interleaved", &i1, &i2}}) {
      for (LatencyStatistic stat :
           {LatencyStatistic::median, LatencyStatistic::min, LatencyStatistic::iqm}) {
        protocols[name][std::string(latency_statistic_name(stat))] = {
            {"ttft", agreement(*a, *b, false, stat)}, {"decode", agreement(*a, *b, true, stat)}};
      }
    }
    char stamp[32];
    std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&started));
    const nlohmann::json out = {{"started", stamp},
                                {"seconds", static_cast<double>(std::time(nullptr) - started)},
                                {"options", latency_options_to_json(options)},
                                {"archs", archs},
                                {"environment", latency_environment_to_json(s1.front().environment)},
                                {"test_retest", protocols}};
    std::printf("%s\n", out.dump(2).c_str());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_latency_protocol: %s\n", e.what());
    return 1;
  }
  return 0;
}
