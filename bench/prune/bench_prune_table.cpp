// bench_prune_table: on stories260K, evaluation NLL of candidates pruned with
// calibrated importance next to the median over 5 random-importance seeds, for
// 13 architectures spanning 1-5 layers, d_model 32-64, d_ffn 64-172 and mixed
// layer kinds. Calibration: tinystories-train-sample.txt (8192 tokens); evaluation:
// tinystories-valid-sample.txt (BOS + encode, up to 16384 tokens, ctx 256).
// Prints one JSON object; the table is in bench/README.md.
// Usage: bench_prune_table [--cache-dir DIR] [--markdown]
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "bench/prune/bench_prune_common.hpp"
#include "engine/prune/calibration.hpp"
#include "engine/prune/evaluate_candidate.hpp"

namespace {

const char* kArchitectures[] = {
    R"({"n_layers": 1, "d_model": 64, "d_ffn": 172, "layer_types": ["full"]})",
    R"({"n_layers": 2, "d_model": 48, "d_ffn": 128, "layer_types": ["full", "full"]})",
    R"({"n_layers": 2, "d_model": 64, "d_ffn": 172, "layer_types": ["full", "skip"]})",
    R"({"n_layers": 3, "d_model": 48, "d_ffn": 128, "layer_types": ["full", "skip", "swa"], "sliding_window": 32})",
    R"({"n_layers": 3, "d_model": 64, "d_ffn": 96, "layer_types": ["full", "swa", "full"], "sliding_window": 16})",
    R"({"n_layers": 3, "d_model": 32, "d_ffn": 172, "layer_types": ["full", "full", "skip"]})",
    R"({"n_layers": 4, "d_model": 56, "d_ffn": 144, "layer_types": ["full", "swa", "skip", "full"], "sliding_window": 32})",
    R"({"n_layers": 4, "d_model": 32, "d_ffn": 64, "layer_types": ["full", "full", "full", "full"]})",
    R"({"n_layers": 4, "d_model": 40, "d_ffn": [172, 128, 96, 64], "layer_types": ["full", "swa", "full", "swa"], "sliding_window": 64})",
    R"({"n_layers": 5, "d_model": 48, "d_ffn": 172, "layer_types": ["full", "skip", "swa", "full", "skip"], "sliding_window": 16})",
    R"({"n_layers": 5, "d_model": 32, "d_ffn": 128, "layer_types": ["full", "full", "full", "full", "full"]})",
    R"({"n_layers": 5, "d_model": 64, "d_ffn": 64, "layer_types": ["full", "full", "full", "full", "full"]})",
    R"({"n_layers": 5, "d_model": 56, "d_ffn": 100, "layer_types": ["full", "swa", "swa", "full", "swa"], "sliding_window": 32})",
};

std::string describe(const flashnas::CandidateArch& a) {
  std::string kinds, widths;
  for (size_t i = 0; i < a.layer_types.size(); ++i) {
    if (i) kinds += ',';
    kinds += flashnas::layer_kind_name(a.layer_types[i]);
    if (a.layer_types[i] == flashnas::LayerKind::swa) kinds += ":" + std::to_string(a.sliding_window);
  }
  bool uniform = true;
  for (int64_t w : a.d_ffn) uniform = uniform && w == a.d_ffn[0];
  for (size_t i = 0; i < a.d_ffn.size(); ++i) {
    if (i) widths += '/';
    widths += std::to_string(a.d_ffn[i]);
  }
  return fmt::format("L{} C{} FF{} [{}]", a.n_layers, a.d_model,
                     uniform ? std::to_string(a.d_ffn[0]) : widths, kinds);
}

}  // namespace

int main(int argc, char** argv) {
  using namespace flashnas;
  std::string cache_dir = std::string(FLASHNAS_BINARY_DIR) + "/prune-cache";
  bool markdown = false;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--cache-dir") && i + 1 < argc) {
      cache_dir = argv[++i];
    } else if (!std::strcmp(argv[i], "--markdown")) {
      markdown = true;
    } else {
      std::fprintf(stderr, "usage: bench_prune_table [--cache-dir DIR] [--markdown]\n");
      return 2;
    }
  }
  try {
    const bench::PruneBenchSetup setup = bench::load_stories260k(8192, cache_dir);
    const std::vector<int32_t> eval_tokens = tokens_for_text(
        *setup.backbone.tokenizer, bench::read_text(bench::data_file("tinystories-valid-sample.txt")),
        16384, "eval");
    CandidateEvalOptions opt;
    opt.ctx = 256;
    const int kSeeds = 5;

    nlohmann::json rows = nlohmann::json::array();
    int wins = 0;
    std::string table =
        "| architecture | params | importance NLL | random NLL (median of 5) | random range | wins |\n"
        "|---|---|---|---|---|---|\n";
    for (const char* text : kArchitectures) {
      const CandidateArch arch = candidate_arch_from_json(nlohmann::json::parse(text));
      opt.random_importance_seed.reset();
      const CandidateResult imp = evaluate_candidate(setup.backbone, setup.stats, bind_arch(arch, setup.backbone.config), eval_tokens, opt);
      std::vector<double> random_nll;
      for (int seed = 1; seed <= kSeeds; ++seed) {
        opt.random_importance_seed = static_cast<uint64_t>(seed);
        random_nll.push_back(
            evaluate_candidate(setup.backbone, setup.stats, bind_arch(arch, setup.backbone.config), eval_tokens, opt).eval_nll);
      }
      const double med = bench::median(random_nll);
      const bool win = imp.eval_nll < med;
      wins += win;
      const auto [lo, hi] = std::minmax_element(random_nll.begin(), random_nll.end());
      table += fmt::format("| {} | {} | {:.4f} | {:.4f} | {:.3f}-{:.3f} | {} |\n", describe(arch),
                           imp.params, imp.eval_nll, med, *lo, *hi, win ? "yes" : "no");
      rows.push_back({{"arch", candidate_arch_to_json(arch)},
                      {"label", describe(arch)},
                      {"params", imp.params},
                      {"flops_per_token", imp.flops_per_token},
                      {"importance_nll", imp.eval_nll},
                      {"random_nll", random_nll},
                      {"random_median_nll", med},
                      {"importance_wins", win}});
    }
    const nlohmann::json out = {{"backbone", "stories260K"},
                                {"calibration_tokens", setup.stats.key.n_tokens},
                                {"calibration_from_cache", setup.stats_from_cache},
                                {"eval_tokens", eval_tokens.size()},
                                {"ctx", opt.ctx},
                                {"random_seeds", kSeeds},
                                {"architectures", rows.size()},
                                {"importance_wins", wins},
                                {"rows", rows}};
    if (markdown) std::fputs(table.c_str(), stderr);
    std::printf("%s\n", out.dump(2).c_str());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_prune_table: %s\n", e.what());
    return 1;
  }
  return 0;
}
