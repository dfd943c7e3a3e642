// The Parzen estimator of TPE: Optuna 3.1's bandwidths worked by hand, Optuna 3.1's
// log density, a true density that integrates to 1 on [0, 1], draws that follow it.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "engine/search/parzen_estimator.hpp"
#include "engine/util/error.hpp"

namespace flashnas::search {
namespace {

// Midpoint rule on [0, 1] of f(x) pdf(x).
template <class F>
double integrate(const ParzenEstimator& p, F f, int cells = 20000) {
  double s = 0.0;
  for (int i = 0; i < cells; ++i) {
    const double x = (i + 0.5) / cells;
    s += f(x) * std::exp(p.log_pdf(x));
  }
  return s / cells;
}

TEST(ParzenEstimator, BandwidthsFollowOptunaRule) {
  // Sorted with the prior's mean 0.5 and the bounds: 0 | 0.2 0.3 0.5 0.9 | 1. Widths:
  // 0.2 takes its inner gap 0.1 (no endpoints), 0.3 max(0.1, 0.2), 0.9 its inner gap
  // 0.4; the magic clip raises all to >= 1 / (1 + 4); the prior gets 1.
  const ParzenEstimator p(Eigen::Vector3d(0.9, 0.2, 0.3), Eigen::Vector3d(1, 1, 2), ParzenOptions{});
  EXPECT_TRUE(p.mus().isApprox(Eigen::Vector4d(0.9, 0.2, 0.3, 0.5)));
  EXPECT_TRUE(p.sigmas().isApprox(Eigen::Vector4d(0.4, 0.2, 0.2, 1.0)));
  EXPECT_TRUE(p.weights().isApprox(Eigen::Vector4d(0.2, 0.2, 0.4, 0.2)));
  // With endpoints and without the clip: 0.2 sees the bound (0.2), 0.9 max(0.4, 0.1).
  ParzenOptions o;
  o.consider_endpoints = true;
  o.consider_magic_clip = false;
  const ParzenEstimator q(Eigen::Vector3d(0.9, 0.2, 0.3), Eigen::Vector3d(1, 1, 2), o);
  EXPECT_TRUE(q.sigmas().isApprox(Eigen::Vector4d(0.4, 0.2, 0.2, 1.0)));
  const ParzenEstimator r(Eigen::Vector2d(0.05, 0.1), Eigen::Vector2d(1, 1), o);
  EXPECT_TRUE(r.sigmas().isApprox(Eigen::Vector3d(0.05, 0.4, 1.0)));
  EXPECT_THROW(ParzenEstimator(Eigen::Vector2d(0.1, 1.2), Eigen::Vector2d(1, 1), o), InvalidInput);
  EXPECT_THROW(ParzenEstimator(Eigen::Vector2d(0.1, 0.2), Eigen::Vector2d(1, -1), o), InvalidInput);
}

TEST(ParzenEstimator, Optuna31LogPdfLeavesOutTheWidth) {
  // One kernel (no prior): Optuna 3.1's value is the true log density plus log(sigma).
  ParzenOptions o;
  o.consider_prior = false;
  const ParzenEstimator exact(Eigen::VectorXd::Constant(1, 0.3), Eigen::VectorXd::Ones(1), o);
  o.optuna31_log_pdf = true;
  const ParzenEstimator optuna31(Eigen::VectorXd::Constant(1, 0.3), Eigen::VectorXd::Ones(1), o);
  ASSERT_NEAR(exact.sigmas()(0), 0.7, 1e-15);  // max(0.3, 0.7) to the bounds; clip 1/2 .. 1
  for (double x : {0.0, 0.3, 0.9}) EXPECT_NEAR(optuna31.log_pdf(x) - exact.log_pdf(x), std::log(0.7), 1e-12);
}

TEST(ParzenEstimator, DensityIntegratesToOneAndDrawsFollowIt) {
  ParzenOptions no_prior;
  no_prior.consider_prior = false;
  const std::vector<ParzenEstimator> cases = {
      ParzenEstimator(Eigen::VectorXd(0), Eigen::VectorXd(0), ParzenOptions{}),  // the prior alone
      ParzenEstimator(Eigen::Vector3d(0.0, 0.02, 1.0), Eigen::Vector3d(1, 1e-12, 0.5), ParzenOptions{}),
      ParzenEstimator(Eigen::Vector4d(0.3, 0.31, 0.32, 0.7), Eigen::Vector4d(1, 2, 3, 4), no_prior),
      // 150 points: the clip allows widths down to 1/100.
      ParzenEstimator(Eigen::VectorXd::LinSpaced(150, 0.0, 1.0).array().square(), Eigen::VectorXd::Ones(150),
                      ParzenOptions{}),
  };
  for (size_t c = 0; c < cases.size(); ++c) {
    const ParzenEstimator& p = cases[c];
    EXPECT_NEAR(integrate(p, [](double) { return 1.0; }), 1.0, 1e-6) << c;
    const double mean = integrate(p, [](double x) { return x; });
    const double var = integrate(p, [&](double x) { return (x - mean) * (x - mean); });
    std::mt19937_64 rng(c);
    const int n = 20000;
    double s = 0.0;
    for (int i = 0; i < n; ++i) {
      const double x = p.sample(rng);
      ASSERT_TRUE(x >= 0.0 && x <= 1.0);
      s += x;
    }
    EXPECT_NEAR(s / n, mean, 5.0 * std::sqrt(var / n)) << c;
  }
}

}  // namespace
}  // namespace flashnas::search
