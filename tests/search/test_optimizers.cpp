// Optimisers and benchmark problems: known values of the BoTorch problems, the arch
// problem's enumerated maximum, NSGA-II operators, and short runs that must be
// deterministic, distinct and improving.
#include <gtest/gtest.h>

#include <cmath>
#include <numbers>
#include <set>

#include "engine/search/benchmark_problems.hpp"
#include "engine/search/benchmark_run.hpp"
#include "engine/search/nsga2.hpp"
#include "engine/search/pareto.hpp"

namespace flashnas::search {
namespace {

TEST(BenchmarkProblems, KnownValues) {
  const auto bc = make_benchmark_problem("branincurrin");
  // Branin's minima (0.397887) at (-pi, 12.275): x = ((-pi + 5) / 15, 12.275 / 15).
  const Eigen::Vector2d f = bc->evaluate(Eigen::Vector2d((5.0 - std::numbers::pi) / 15.0, 12.275 / 15.0));
  EXPECT_NEAR(f(0), 0.397887, 1e-5);
  const auto zdt = make_benchmark_problem("zdt1");
  Eigen::VectorXd x = Eigen::VectorXd::Zero(6);
  x(0) = 0.25;  // on the front: f1 = 1 - sqrt(f0)
  EXPECT_NEAR(zdt->evaluate(x)(1), 0.5, 1e-12);
  const auto dtlz = make_benchmark_problem("dtlz2");
  x.setConstant(0.5);
  x(0) = 1.0 / 3.0;  // on the unit circle
  EXPECT_NEAR(dtlz->evaluate(x).squaredNorm(), 1.0, 1e-12);
  EXPECT_THROW(make_benchmark_problem("nope"), InvalidInput);
}

TEST(BenchmarkProblems, ArchMaximumDominatesRandomPoints) {
  const ArchProblem p;
  EXPECT_GT(p.max_hypervolume(), 0.0);
  std::mt19937_64 rng(1);
  Eigen::MatrixXd y(400, 2);
  for (int i = 0; i < 400; ++i) y.row(i) = p.evaluate(p.space().sample(rng)).transpose();
  const double hv = hypervolume_2d(y, p.reference());
  EXPECT_LT(hv, p.max_hypervolume());
  EXPECT_GT(hv, 0.5 * p.max_hypervolume());
}

TEST(Nsga2, RanksAndCrowding) {
  Eigen::MatrixXd y(5, 2);
  y << 0, 3, 1, 1, 3, 0, 2, 2, 4, 4;
  EXPECT_EQ(non_dominated_ranks(y), (std::vector<int64_t>{0, 0, 0, 1, 2}));
  const std::vector<double> d = crowding_distance(y, {0, 1, 2});
  EXPECT_TRUE(std::isinf(d[0]) && std::isinf(d[2]));
  EXPECT_NEAR(d[1], 3.0 / 3.0 + 3.0 / 3.0, 1e-12);
  std::mt19937_64 rng(2);
  for (int i = 0; i < 100; ++i) {
    auto [a, b] = sbx_crossover(Eigen::Vector3d(0.1, 0.5, 0.9), Eigen::Vector3d(0.8, 0.5, 0.2), 15.0, rng);
    EXPECT_TRUE(a.minCoeff() >= 0 && a.maxCoeff() <= 1 && b.minCoeff() >= 0 && b.maxCoeff() <= 1);
    EXPECT_NEAR(a(1), 0.5, 1e-12);  // equal genes stay
    const Eigen::VectorXd m = polynomial_mutation(a, 20.0, 1.0, rng);
    EXPECT_TRUE(m.minCoeff() >= 0 && m.maxCoeff() <= 1);
  }
}

TEST(Optimizers, ShortRunsAreDeterministicDistinctAndImprove) {
  // DTLZ2: every point has some hypervolume, so each algorithm improves quickly.
  const auto problem = make_benchmark_problem("dtlz2");
  for (const std::string algo : {"random", "nsga2", "nehvi", "tpe"}) {
    BenchmarkRunOptions o;
    o.algo = algo;
    o.budget = 18;
    o.batch = 4;
    o.initial = 6;
    o.nehvi.nehvi.samples = 16;
    o.nehvi.search.pool_size = 64;
    o.nehvi.search.local_rounds = 2;
    const BenchmarkRun a = run_benchmark(*problem, o, 3), b = run_benchmark(*problem, o, 3);
    ASSERT_EQ(a.log10_hv_gap.size(), 18u) << algo;
    EXPECT_EQ(a.log10_hv_gap, b.log10_hv_gap) << algo;
    for (size_t i = 1; i < a.log10_hv_gap.size(); ++i) EXPECT_LE(a.log10_hv_gap[i], a.log10_hv_gap[i - 1]);
    EXPECT_LT(a.log10_hv_gap.back(), a.log10_hv_gap.front()) << algo;
  }
  const ArchProblem arch;
  OptimizerConfig c;
  c.initial_points = 5;
  c.nehvi.nehvi.samples = 16;
  c.nehvi.search.pool_size = 64;
  c.nehvi.search.local_rounds = 2;
  for (const std::string algo : {"random", "nsga2", "nehvi", "tpe"}) {
    auto opt = make_optimizer(algo, arch.space(), c);
    std::set<std::string> keys;
    for (int step = 0; step < 4; ++step) {
      const auto xs = opt->ask(step == 0 ? 5 : 3);
      Eigen::MatrixXd y(static_cast<Eigen::Index>(xs.size()), 2);
      for (size_t i = 0; i < xs.size(); ++i) {
        EXPECT_TRUE(arch.space().is_valid(xs[i])) << algo;
        EXPECT_TRUE(keys.insert(arch.space().key(xs[i])).second) << algo << ": duplicate";
        y.row(static_cast<Eigen::Index>(i)) = arch.evaluate(xs[i]).transpose();
      }
      opt->tell(xs, y);
    }
  }
}

TEST(Optimizers, ShorterBudgetsArePrefixesOfLongerRuns) {
  // bench/search reads every budget of its table off one long run per seed. That needs
  // the j-th point of a batch not to depend on the batch's size: a shorter run's last
  // batch is smaller (here 10 + 4 + 2 against 10 + 4 + 4 + 4).
  const auto problem = make_benchmark_problem("zdt1");
  for (const std::string algo : {"random", "nsga2", "nehvi", "tpe"}) {
    BenchmarkRunOptions o;
    o.algo = algo;
    o.nehvi.nehvi.samples = 16;
    o.nehvi.search.pool_size = 64;
    o.nehvi.search.local_rounds = 2;
    o.budget = 16;
    const BenchmarkRun short_run = run_benchmark(*problem, o, 5);
    o.budget = 22;
    const BenchmarkRun long_run = run_benchmark(*problem, o, 5);
    ASSERT_EQ(short_run.log10_hv_gap.size(), 16u) << algo;
    EXPECT_EQ(short_run.log10_hv_gap,
              std::vector<double>(long_run.log10_hv_gap.begin(), long_run.log10_hv_gap.begin() + 16))
        << algo;
  }
}

}  // namespace
}  // namespace flashnas::search
