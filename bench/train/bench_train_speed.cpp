// Training speed: tokens per second of a healing step (forward, loss,
// backward, gradient norm, AdamW) through heal_model itself, for an
// architecture on a shape with random weights (speed depends only on the
// shape). Prints one JSON object: per-step milliseconds after warm-up, their
// median and the tokens per second it gives. bench/train/speed_compare.py runs
// it interleaved with PyTorch's step on the same model.
#include <nlohmann/json.hpp>

#include <cstdio>
#include <fstream>
#include <random>

#include "common/flags.hpp"
#include "engine/latency/model_shape.hpp"
#include "engine/runtime/synthetic_model.hpp"
#include "engine/train/heal.hpp"
#include "engine/util/json_reader.hpp"

namespace {

nlohmann::json read_json(const std::string& path, const std::string& field) {
  std::ifstream in(path);
  if (!in) throw flashnas::InvalidInput("cannot read " + path, field);
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return flashnas::parse_json_object(text);
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

}  // namespace

int main(int argc, char** argv) {
  using namespace flashnas;
  const std::vector<FlagSpec> spec = {
      {"arch", true, "architecture JSON"},
      {"shape", true, "shape JSON (heads, head size, vocab, tied)"},
      {"batch", true, "sequences per step (default 8)"},
      {"ctx", true, "tokens per sequence (default 256)"},
      {"threads", true, "threads (default 1)"},
      {"steps", true, "timed steps (default 10)"},
      {"warmup", true, "untimed steps first (default 2)"},
      {"help", false, "show this help"},
  };
  try {
    const Flags flags(std::vector<std::string>(argv + 1, argv + argc), spec);
    if (print_help_if_asked(flags, spec, "bench_train_speed --arch A.json --shape S.json [flags]")) return 0;
    const auto shape = latency::model_shape_from_json(read_json(flags.require("shape"), "--shape"));
    const auto arch = candidate_arch_from_json(read_json(flags.require("arch"), "--arch"));
    const ArchConfig config = latency::shape_to_config(shape, arch);
    HealOptions o;
    o.batch = flags.integer("batch", 8, 1, 1 << 16);
    o.ctx = flags.integer("ctx", 256, 1, 1 << 16);
    const int threads = static_cast<int>(flags.integer("threads", 1, 1, 256));
    const int64_t steps = flags.integer("steps", 10, 1, 100000);
    const int64_t warmup = flags.integer("warmup", 2, 0, 100000);
    o.steps = steps + warmup;
    o.lr = 1e-4;
    o.warmup_steps = 0;
    Model model = make_synthetic_model(config, 1);
    std::mt19937_64 rng(2);
    std::vector<int32_t> tokens(static_cast<size_t>(o.batch * o.ctx * 4 + 1));
    for (auto& t : tokens) t = static_cast<int32_t>(rng() % static_cast<uint64_t>(config.vocab_size));
    RuntimeContext context(RuntimeOptions{threads, true});
    const HealResult r = heal_model(model, model, tokens, o, &context);
    std::vector<double> ms;
    for (size_t i = static_cast<size_t>(warmup); i < r.history.size(); ++i) ms.push_back(1e3 * r.history[i].seconds);
    const double med = median(ms);
    const nlohmann::json out = {{"engine", "flashnas"},
                                {"params", count_parameters(config)},
                                {"batch", o.batch},
                                {"ctx", o.ctx},
                                {"threads", threads},
                                {"step_ms", ms},
                                {"median_ms", med},
                                {"tokens_per_second", 1e3 * static_cast<double>(o.tokens_per_step()) / med},
                                {"memory", heal_memory_to_json(r.memory)}};
    std::printf("%s\n", out.dump().c_str());
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_train_speed: %s\n", e.what());
    return 2;
  }
}
