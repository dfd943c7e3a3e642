// Multi-objective TPE: gamma and weights, the split and the hypervolume weights on
// fronts worked by hand, greedy subset selection against exhaustive checks, the model
// against Optuna 3.1.0's numbers, and TPE against random search. The Parzen estimator
// is tested in test_parzen_estimator.cpp.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <set>

#include "engine/search/benchmark_problems.hpp"
#include "engine/search/benchmark_run.hpp"
#include "engine/search/pareto.hpp"
#include "engine/search/tpe.hpp"
#include "engine/util/error.hpp"

namespace flashnas::search {
namespace {

TEST(Tpe, GammaAndWeightsAreOptunas) {
  EXPECT_EQ(tpe_default_gamma(10), 1);
  EXPECT_EQ(tpe_default_gamma(11), 2);
  EXPECT_EQ(tpe_default_gamma(96), 10);
  EXPECT_EQ(tpe_default_gamma(400), 25);
  EXPECT_TRUE(tpe_default_weights(24).isApprox(Eigen::VectorXd::Ones(24)));
  const Eigen::VectorXd w = tpe_default_weights(30);  // linspace(1/30, 1, 5), then 25 ones
  ASSERT_EQ(w.size(), 30);
  for (int i = 0; i < 5; ++i) EXPECT_NEAR(w(i), 1.0 / 30 + (1 - 1.0 / 30) * i / 4.0, 1e-15);
  EXPECT_EQ(w.tail(25), Eigen::VectorXd::Ones(25));
  EXPECT_NEAR(tpe_default_weights(26)(0), 1.0 / 26, 1e-15);
}

// Rows: the front (0, 1), (0.5, 0.5), (1, 0) at 0, 2, 4; dominated points at 1, 3, 5.
Eigen::MatrixXd fronts() {
  Eigen::MatrixXd y(6, 2);
  y << 0, 1, 0.6, 0.6, 0.5, 0.5, 2, 2, 1, 0, 0.7, 0.7;
  return y;
}

TEST(Tpe, SplitTakesWholeFrontsThenTheLargestHypervolumeSubset) {
  const Eigen::MatrixXd y = fronts();
  TpeSplit s = tpe_split(y, 3);
  EXPECT_EQ(s.below, (std::vector<int64_t>{0, 2, 4}));
  EXPECT_EQ(s.above, (std::vector<int64_t>{1, 3, 5}));
  // Reference (1.1, 1.1): the middle point's box (0.36) beats the ends' (0.11); then
  // each end adds 0.05 and the tie goes to the lower row.
  s = tpe_split(y, 2);
  EXPECT_EQ(s.below, (std::vector<int64_t>{2, 0}));
  EXPECT_EQ(s.above, (std::vector<int64_t>{1, 3, 4, 5}));
  s = tpe_split(y, 4);  // the first two fronts whole; the second is (0.6, 0.6) alone
  EXPECT_EQ(s.below, (std::vector<int64_t>{0, 2, 4, 1}));
  EXPECT_EQ(s.above, (std::vector<int64_t>{3, 5}));
  EXPECT_TRUE(tpe_split(y, 0).below.empty());
  EXPECT_EQ(tpe_split(y, 6).above.size(), 0u);
  EXPECT_THROW(tpe_split(y, 7), InvalidInput);
  EXPECT_EQ(tpe_reference_point(-y), Eigen::Vector2d(0.0, 0.0).cwiseMax(1e-12));  // worst 0 -> 1e-12
  Eigen::MatrixXd neg(1, 2);
  neg << -2, -4;
  EXPECT_TRUE(tpe_reference_point(neg).isApprox(Eigen::Vector2d(-1.8, -3.6)));
}

TEST(Tpe, GreedySubsetMatchesBruteForceOnAFront) {
  // On mutually non-dominated points the greedy pick of k = 1 and the first pick of
  // any k are the largest single box; every k-subset it returns is distinct.
  std::mt19937_64 rng(4);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  Eigen::MatrixXd y(12, 2);
  for (int i = 0; i < 12; ++i) {
    const double t = u(rng);
    y.row(i) << t, 1.0 - std::sqrt(t);
  }
  const Eigen::Vector2d ref(1.1, 1.1);
  const std::vector<int64_t> all = greedy_hypervolume_subset(y, 12, ref);
  EXPECT_EQ(std::set<int64_t>(all.begin(), all.end()).size(), 12u);
  // Each prefix is the greedy choice: no other point adds more hypervolume to it.
  for (size_t k = 0; k + 1 < all.size(); ++k) {
    Eigen::MatrixXd chosen(static_cast<Eigen::Index>(k) + 1, 2);
    for (size_t j = 0; j < k; ++j) chosen.row(static_cast<Eigen::Index>(j)) = y.row(all[j]);
    chosen.row(static_cast<Eigen::Index>(k)) = y.row(all[k]);
    const double picked = hypervolume_2d(chosen, ref);
    for (size_t j = k + 1; j < all.size(); ++j) {
      chosen.row(static_cast<Eigen::Index>(k)) = y.row(all[j]);
      EXPECT_LE(hypervolume_2d(chosen, ref), picked + 1e-12) << k << " " << j;
    }
  }
}

TEST(Tpe, BelowWeightsAreHypervolumeContributions) {
  Eigen::MatrixXd below(4, 2);
  below << 0, 1, 0.5, 0.5, 1, 0, 1, 1;
  // Reference (1.1, 1.1); exclusive contributions 0.05, 0.25, 0.05, and 0 for the
  // dominated (1, 1), whose box lies in the others' shared part.
  const Eigen::VectorXd w = tpe_below_weights(below);
  EXPECT_NEAR(w(0), 0.2, 1e-9);
  EXPECT_NEAR(w(1), 1.0, 1e-15);
  EXPECT_NEAR(w(2), 0.2, 1e-9);
  EXPECT_GT(w(3), 0.0);
  EXPECT_LT(w(3), 1e-10);
  EXPECT_EQ(tpe_below_weights(below.topRows(1)), Eigen::VectorXd::Ones(1));
}

TEST(Tpe, ModelMatchesOptuna31OnAFixedHistory) {
  // 37 DTLZ2 points on a Kronecker sequence, x(i, j) = frac((i + 1) c_j). The expected
  // values were computed with Optuna 3.1.0's _split_observation_pairs,
  // _calculate_weights_below_for_multi_objective and _ParzenEstimator(...).log_pdf
  // (univariate, defaults) on the same points: 4 good points, 2 of them picked from the
  // first front by the subset selection, and 33 others, 8 of them on the weight ramp.
  const double c[6] = {0.6180339887498949, 0.4142135623730951, 0.7320508075688772,
                       0.2360679774997898, 0.6457513110645907, 0.1622776601683795};
  const auto dtlz2 = make_benchmark_problem("dtlz2");
  Eigen::MatrixXd x(37, 6), y(37, 2);
  for (int i = 0; i < 37; ++i) {
    for (int j = 0; j < 6; ++j) x(i, j) = std::fmod((i + 1) * c[j], 1.0);
    y.row(i) = dtlz2->evaluate(x.row(i).transpose()).transpose();
  }
  TpeOptions o;
  o.parzen.optuna31_log_pdf = true;
  const TpeModel model(x, y, o);
  EXPECT_EQ(model.split().below, (std::vector<int64_t>{9, 34, 12, 15}));
  EXPECT_EQ(model.split().above.size(), 33u);
  // log l and log g of each dimension at 0, 0.25, 0.5, 0.75, 1.
  const double expected[6][2][5] = {
      {{-0.808336883050714, -0.700209836755067, -0.682297599936006, -0.758014261842008, -1.02801432118001},
       {-2.819138294403, -2.53753087982099, -2.71461818076738, -2.6486005218678, -2.88959783895511}},
      {{-0.930293664984349, -0.722874029088674, -0.679224468457173, -1.01521651770528, -1.34396984594105},
       {-2.824465163684, -2.54403905223054, -2.71489374957996, -2.72235133019447, -3.16800026155023}},
      {{-1.27899341334306, -0.905414413104909, -0.713026064386211, -0.868924369659516, -1.29806849863712},
       {-3.15308519157815, -2.66305656754563, -2.74656432622473, -2.70738164527689, -2.93346854295281}},
      {{-1.02641546977791, -0.643382396247368, -0.780965133932278, -1.0680300183166, -1.22962205242473},
       {-2.65116843736145, -2.64567829372408, -2.49464760440957, -2.61870825027146, -3.23456328278638}},
      {{-1.32795243278211, -0.914104385646932, -0.624251835444666, -0.966616088764549, -1.34175804709793},
       {-2.86376960341859, -2.47823817566961, -2.62217843110962, -2.58998098207945, -3.04071124621892}},
      {{-1.18911212245498, -1.06151474310355, -0.691162226789445, -0.686228962499835, -1.24990900311109},
       {-2.67471980455518, -2.64841280151945, -2.66808914726408, -2.55133127445814, -3.19531236955306}},
  };
  for (int d = 0; d < 6; ++d) {
    for (int k = 0; k < 5; ++k) {
      EXPECT_NEAR(model.below()[d].log_pdf(0.25 * k), expected[d][0][k], 1e-12) << d << " " << k;
      EXPECT_NEAR(model.above()[d].log_pdf(0.25 * k), expected[d][1][k], 1e-12) << d << " " << k;
    }
  }
}

TEST(Tpe, ModelDrawsNearTheGoodPoints) {
  // One dimension, objectives (x, x): the smallest x is the only good point among 20.
  Eigen::MatrixXd x(20, 1), y(20, 2);
  for (int i = 0; i < 20; ++i) {
    x(i, 0) = 0.1 + 0.04 * i;
    y.row(i) << x(i, 0), x(i, 0);
  }
  const TpeModel model(x, y, TpeOptions{});
  EXPECT_EQ(model.split().below, (std::vector<int64_t>{0, 1}));
  std::mt19937_64 rng(3);
  int near = 0;
  for (int i = 0; i < 200; ++i) near += model.sample(rng)(0) < 0.2;
  EXPECT_GT(near, 150);
}

TEST(Tpe, BeatsRandomSearchOnBraninCurrinAt64Evaluations) {
  const auto problem = make_benchmark_problem("branincurrin");
  BenchmarkRunOptions o;
  o.budget = 64;
  std::vector<double> tpe, random;
  for (uint64_t seed = 0; seed < 5; ++seed) {
    o.algo = "tpe";
    tpe.push_back(run_benchmark(*problem, o, seed).log10_hv_gap.back());
    o.algo = "random";
    random.push_back(run_benchmark(*problem, o, seed).log10_hv_gap.back());
  }
  std::sort(tpe.begin(), tpe.end());
  std::sort(random.begin(), random.end());
  EXPECT_LT(tpe[2], random[2] - 0.2);  // medians over 5 seeds
  EXPECT_LT(tpe[4], random[4]);        // and the worst seeds
}

}  // namespace
}  // namespace flashnas::search
