// Accuracy metrics against hand-computed cases.
#include <gtest/gtest.h>

#include <cmath>

#include "engine/latency/accuracy.hpp"
#include "engine/util/error.hpp"

using namespace flashnas::latency;

TEST(LatencyAccuracy, RSquaredHandComputed) {
  // mean 2.5, SS_tot = 5, SS_res = 1.
  EXPECT_DOUBLE_EQ(r_squared({1, 2, 3, 4}, {1, 2, 3, 5}), 0.8);
  EXPECT_DOUBLE_EQ(r_squared({1, 2, 3, 4}, {1, 2, 3, 4}), 1.0);
  // Predicting the mean everywhere gives 0.
  EXPECT_DOUBLE_EQ(r_squared({1, 2, 3, 4}, {2.5, 2.5, 2.5, 2.5}), 0.0);
  EXPECT_THROW(r_squared({1, 2}, {1}), flashnas::Error);
}

TEST(LatencyAccuracy, RmseAndRmspe) {
  EXPECT_DOUBLE_EQ(rmse({1, 1}, {2, 4}), std::sqrt((1.0 + 9.0) / 2.0));
  // relative errors 0.04, 0.09, 0.11
  const double expected = 100.0 * std::sqrt((0.04 * 0.04 + 0.09 * 0.09 + 0.11 * 0.11) / 3.0);
  EXPECT_NEAR(rmspe_percent({100, 100, 100}, {104, 109, 111}), expected, 1e-9);
  EXPECT_THROW(rmspe_percent({0, 1}, {1, 1}), flashnas::Error);
}

TEST(LatencyAccuracy, ShareWithin) {
  const std::vector<double> m = {100, 100, 100, 200};
  const std::vector<double> p = {104, 109, 111, 191};  // 4%, 9%, 11%, 4.5%
  EXPECT_DOUBLE_EQ(share_within(m, p, 0.05), 0.5);
  EXPECT_DOUBLE_EQ(share_within(m, p, 0.10), 0.75);
}

TEST(LatencyAccuracy, KendallTauHandComputed) {
  // pairs: (0,1) concordant, (0,2) concordant, (1,2) discordant -> (2 - 1) / 3
  EXPECT_NEAR(kendall_tau({1, 2, 3}, {1, 3, 2}), 1.0 / 3.0, 1e-12);
  EXPECT_DOUBLE_EQ(kendall_tau({1, 2, 3, 4}, {10, 20, 30, 40}), 1.0);
  EXPECT_DOUBLE_EQ(kendall_tau({1, 2, 3, 4}, {4, 3, 2, 1}), -1.0);
  // tau-b with a tie in a: C - D = 2, untied pairs 2 in a and 3 in b.
  EXPECT_NEAR(kendall_tau({1, 1, 2}, {1, 2, 3}), 2.0 / std::sqrt(6.0), 1e-12);
  EXPECT_DOUBLE_EQ(kendall_tau({5, 5, 5}, {1, 2, 3}), 0.0);
}

TEST(LatencyAccuracy, TargetReportCombinesTheMetrics) {
  const std::vector<double> measured = {10, 20, 30, 40};
  const std::vector<double> predicted = {10.4, 19.2, 32, 40};
  const std::vector<double> params = {4, 3, 2, 1};  // ranks exactly backwards
  const std::vector<double> flops = {1, 2, 3, 4};   // ranks exactly
  const TargetAccuracy a = evaluate_target_accuracy(measured, predicted, params, flops);
  EXPECT_EQ(a.n, 4);
  EXPECT_DOUBLE_EQ(a.within_5, 0.75);  // 4%, 4%, 6.7%, 0%
  EXPECT_DOUBLE_EQ(a.within_10, 1.0);
  EXPECT_DOUBLE_EQ(a.kendall_tau_model, 1.0);
  EXPECT_DOUBLE_EQ(a.kendall_tau_params, -1.0);
  EXPECT_DOUBLE_EQ(a.kendall_tau_flops, 1.0);
  EXPECT_NEAR(a.r2, 1.0 - (0.16 + 0.64 + 4 + 0) / 500.0, 1e-12);
}
