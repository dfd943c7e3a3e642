// Median, MAD and CV of timing samples against hand-computed values.
#include <gtest/gtest.h>

#include <cmath>

#include "engine/latency/latency_stats.hpp"
#include "engine/util/error.hpp"

using namespace flashnas::latency;

TEST(LatencyStats, MedianOfOddAndEvenLists) {
  EXPECT_DOUBLE_EQ(median_of({5, 1, 3}), 3.0);
  EXPECT_DOUBLE_EQ(median_of({4, 1, 3, 2}), 2.5);
  EXPECT_DOUBLE_EQ(median_of({7}), 7.0);
  EXPECT_THROW(median_of({}), flashnas::Error);
}

TEST(LatencyStats, MadIgnoresOneOutlier) {
  // median 3; |x - 3| = {2, 1, 0, 1, 97} -> MAD 1, while the stddev is dominated by 100.
  const SampleStats s = summarize_samples({1, 2, 3, 4, 100});
  EXPECT_DOUBLE_EQ(s.median, 3.0);
  EXPECT_DOUBLE_EQ(s.mad, 1.0);
  EXPECT_DOUBLE_EQ(s.min, 1.0);
  EXPECT_DOUBLE_EQ(s.max, 100.0);
  EXPECT_EQ(s.samples, (std::vector<double>{1, 2, 3, 4, 100}));
}

TEST(LatencyStats, CoefficientOfVariationUsesSampleStddev) {
  // mean 5, sum of squared deviations 32, n - 1 = 7.
  const SampleStats s = summarize_samples({2, 4, 4, 4, 5, 5, 7, 9});
  EXPECT_DOUBLE_EQ(s.mean, 5.0);
  EXPECT_NEAR(s.stddev, std::sqrt(32.0 / 7.0), 1e-12);
  EXPECT_NEAR(s.cv, std::sqrt(32.0 / 7.0) / 5.0, 1e-12);
  EXPECT_DOUBLE_EQ(s.median, 4.5);
  EXPECT_DOUBLE_EQ(s.mad, 0.5);  // |x - 4.5| = {2.5, .5, .5, .5, .5, .5, 2.5, 4.5}
}

TEST(LatencyStats, InterquartileMeanDropsAQuarterFromEachEnd) {
  // 8 samples: drop 2 from each end of {1, 2, 3, 4, 5, 6, 70, 80} -> mean of {3, 4, 5, 6}.
  EXPECT_DOUBLE_EQ(summarize_samples({80, 3, 1, 6, 5, 70, 2, 4}).iqm, 4.5);
  // 5 samples: drop 1 from each end -> mean of {2, 3, 10}.
  EXPECT_DOUBLE_EQ(summarize_samples({10, 1, 3, 2, 100}).iqm, 5.0);
  // Fewer than 4: nothing to drop, the mean.
  EXPECT_DOUBLE_EQ(summarize_samples({1, 2, 6}).iqm, 3.0);
}

TEST(LatencyStats, OneSampleHasNoSpread) {
  const SampleStats s = summarize_samples({2.5});
  EXPECT_DOUBLE_EQ(s.median, 2.5);
  EXPECT_DOUBLE_EQ(s.iqm, 2.5);
  EXPECT_DOUBLE_EQ(s.mad, 0.0);
  EXPECT_DOUBLE_EQ(s.cv, 0.0);
}

TEST(LatencyStats, RefusesEmptyAndNonFinite) {
  EXPECT_THROW(summarize_samples({}), flashnas::Error);
  EXPECT_THROW(summarize_samples({1.0, std::nan("")}), flashnas::Error);
}
