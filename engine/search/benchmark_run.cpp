// The benchmark loop: ask, evaluate, tell, hypervolume gap history.
#include "engine/search/benchmark_run.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>

#include "engine/search/pareto.hpp"
#include "engine/util/error.hpp"

namespace flashnas::search {

BenchmarkRun run_benchmark(const BenchmarkProblem& problem, const BenchmarkRunOptions& options, uint64_t seed) {
  if (options.budget < 1) throw InvalidInput("must be >= 1", "budget");
  if (options.batch < 1) throw InvalidInput("must be >= 1", "batch");
  if (options.initial < 1) throw InvalidInput("must be >= 1", "initial");
  const auto start = std::chrono::steady_clock::now();
  OptimizerConfig config;
  config.initial_points = std::min(options.initial, options.budget);
  config.reference = problem.reference();
  config.has_reference = true;
  config.seed = seed;
  config.nehvi = options.nehvi;
  config.nsga2 = options.nsga2;
  config.tpe = options.tpe;
  auto optimizer = make_optimizer(options.algo, problem.space(), config);

  int64_t evaluated = 0;
  bool first = true;
  while (evaluated < options.budget) {
    const int64_t q = std::min(first ? config.initial_points : options.batch, options.budget - evaluated);
    first = false;
    const std::vector<Eigen::VectorXd> x = optimizer->ask(q);
    if (x.empty()) break;  // the space is exhausted
    Eigen::MatrixXd y(static_cast<Eigen::Index>(x.size()), 2);
    for (size_t i = 0; i < x.size(); ++i) y.row(static_cast<Eigen::Index>(i)) = problem.evaluate(x[i]).transpose();
    optimizer->tell(x, y);
    evaluated += static_cast<int64_t>(x.size());
  }
  BenchmarkRun run;
  run.seed = seed;
  const std::vector<double> hv = hypervolume_history(optimizer->observed_y(), problem.reference());
  for (double h : hv) run.log10_hv_gap.push_back(std::log10(std::max(problem.max_hypervolume() - h, kHvGapFloor)));
  run.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return run;
}

}  // namespace flashnas::search
