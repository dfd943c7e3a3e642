// `flashnas bench-search`: runs a multi-objective optimiser on a benchmark problem for
// several seeds and prints the hypervolume-gap histories as one JSON object. A thin
// wrapper over engine/search/benchmark_run.hpp.
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <vector>

#include "cli/commands.hpp"
#include "common/flags.hpp"
#include "engine/search/benchmark_run.hpp"

namespace flashnas::cli {

int run_bench_search(const Args& args) {
  const std::vector<FlagSpec> spec = {
      {"problem", true, "branincurrin | zdt1 | dtlz2 | arch"},
      {"algo", true, "nehvi | random | nsga2 | tpe (default nehvi)"},
      {"budget", true, "evaluations per run (default 64)"},
      {"batch", true, "points per step after the initial design (default 4)"},
      {"initial", true, "initial points: Sobol design (nehvi, nsga2), uniform draws (random, tpe); default 10"},
      {"seeds", true, "number of seeds, run as 0..S-1 (default 10)"},
      {"first-seed", true, "first seed (default 0)"},
      {"samples", true, "NEHVI posterior samples (default 128)"},
      {"pool", true, "NEHVI acquisition pool size (default 512)"},
      {"local-starts", true, "NEHVI hill-climbing starts per proposal (default 4)"},
      {"local-rounds", true, "NEHVI hill-climbing rounds (default 16)"},
      {"tpe-optuna31", false, "TPE scores with Optuna 3.1-3.4's log density (no -log sigma), not the true one"},
      {"json", false, "print JSON (the only output format)"},
      {"help", false, "show this help"},
  };
  const Flags flags(args, spec);
  if (print_help_if_asked(flags, spec, "flashnas bench-search --problem NAME [flags]")) return 0;
  const auto problem = search::make_benchmark_problem(flags.require("problem"));
  search::BenchmarkRunOptions options;
  options.algo = flags.get("algo").value_or("nehvi");
  options.budget = flags.integer("budget", 64, 1, 100000);
  options.batch = flags.integer("batch", 4, 1, 1024);
  options.initial = flags.integer("initial", 10, 1, 100000);
  options.nehvi.nehvi.samples = flags.integer("samples", options.nehvi.nehvi.samples, 1, 4096);
  options.nehvi.search.pool_size = flags.integer("pool", options.nehvi.search.pool_size, 1, 1 << 20);
  options.nehvi.search.local_starts = flags.integer("local-starts", options.nehvi.search.local_starts, 0, 1024);
  options.nehvi.search.local_rounds = flags.integer("local-rounds", options.nehvi.search.local_rounds, 0, 1024);
  options.tpe.parzen.optuna31_log_pdf = flags.has("tpe-optuna31");
  const int64_t seeds = flags.integer("seeds", 10, 1, 100000);
  const int64_t first_seed = flags.integer("first-seed", 0, 0, int64_t{1} << 40);

  nlohmann::json runs = nlohmann::json::array();
  std::vector<double> finals;
  for (int64_t s = 0; s < seeds; ++s) {
    const search::BenchmarkRun run = search::run_benchmark(*problem, options, static_cast<uint64_t>(first_seed + s));
    runs.push_back({{"seed", run.seed}, {"log10_hv_gap", run.log10_hv_gap}, {"seconds", run.seconds}});
    if (!run.log10_hv_gap.empty()) finals.push_back(run.log10_hv_gap.back());
  }
  std::sort(finals.begin(), finals.end());
  double median = 0.0;
  if (!finals.empty()) {
    const size_t n = finals.size();
    median = n % 2 == 1 ? finals[n / 2] : 0.5 * (finals[n / 2 - 1] + finals[n / 2]);
  }
  nlohmann::json out = {{"problem", problem->name()},
                        {"algo", options.algo},
                        {"budget", options.budget},
                        {"batch", options.batch},
                        {"initial", options.initial},
                        {"reference", {problem->reference()(0), problem->reference()(1)}},
                        {"max_hv", problem->max_hypervolume()},
                        {"runs", runs},
                        {"median_final_log10_hv_gap", median}};
  if (options.algo == "tpe") out["tpe_log_pdf"] = options.tpe.parzen.optuna31_log_pdf ? "optuna31" : "exact";
  std::printf("%s\n", out.dump().c_str());
  return 0;
}

}  // namespace flashnas::cli
