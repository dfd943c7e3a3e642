// Sobol sequence: net property of the first 2^m points (unscrambled and scrambled),
// one-dimensional stratification in every dimension, range, determinism.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "engine/search/sobol.hpp"
#include "engine/util/error.hpp"

namespace flashnas::search {
namespace {

// Every elementary interval [a/2^k, (a+1)/2^k) x [b/2^(m-k), (b+1)/2^(m-k)) holds
// exactly one of the 2^m points (a (0, m, 2)-net in base 2).
void expect_net_2d(const Eigen::MatrixXd& p, int m, int d0, int d1) {
  const int n = 1 << m;
  for (int k = 0; k <= m; ++k) {
    std::vector<int> count(static_cast<size_t>(n), 0);
    for (int i = 0; i < n; ++i) {
      const int a = static_cast<int>(std::floor(p(i, d0) * (1 << k)));
      const int b = static_cast<int>(std::floor(p(i, d1) * (1 << (m - k))));
      ++count[static_cast<size_t>(a * (1 << (m - k)) + b)];
    }
    for (int c : count) ASSERT_EQ(c, 1) << "m " << m << " k " << k;
  }
}

TEST(Sobol, FirstPointsAreTheKnownOnes) {
  SobolSequence s(2, false, 0);
  const Eigen::MatrixXd p = s.next(4);
  EXPECT_EQ(p(0, 0), 0.0);
  EXPECT_EQ(p(1, 0), 0.5);
  EXPECT_EQ(p(1, 1), 0.5);
  EXPECT_EQ(p(2, 0), 0.75);
  EXPECT_EQ(p(2, 1), 0.25);
  EXPECT_EQ(p(3, 0), 0.25);
  EXPECT_EQ(p(3, 1), 0.75);
}

TEST(Sobol, UnscrambledIsANetInTheFirstTwoDimensions) {
  for (int m = 1; m <= 8; ++m) {
    SobolSequence s(2, false, 0);
    expect_net_2d(s.next(1 << m), m, 0, 1);
  }
}

TEST(Sobol, ScrambledStaysInUnitCubeAndStratifies) {
  for (uint64_t seed : {1u, 7u, 12345u}) {
    SobolSequence s(kSobolMaxDims, true, seed);
    const Eigen::MatrixXd p = s.next(256);
    EXPECT_GE(p.minCoeff(), 0.0);
    EXPECT_LT(p.maxCoeff(), 1.0);
    expect_net_2d(p, 8, 0, 1);  // linear scrambling + digital shift keep the net
    for (int d = 0; d < kSobolMaxDims; ++d) {
      // Each one-dimensional projection is a (0, 1)-sequence: one point per 1/256 cell.
      std::vector<int> count(256, 0);
      for (int i = 0; i < 256; ++i) ++count[static_cast<size_t>(std::floor(p(i, d) * 256))];
      for (int c : count) ASSERT_EQ(c, 1) << "seed " << seed << " dim " << d;
    }
  }
}

TEST(Sobol, AllDimensionsStratifyUnscrambledAndSeedsAreDeterministic) {
  SobolSequence s(kSobolMaxDims, false, 0);
  const Eigen::MatrixXd p = s.next(1024);
  for (int d = 0; d < kSobolMaxDims; ++d) {
    std::vector<int> count(1024, 0);
    for (int i = 0; i < 1024; ++i) ++count[static_cast<size_t>(std::floor(p(i, d) * 1024))];
    for (int c : count) ASSERT_EQ(c, 1) << "dim " << d;
  }
  SobolSequence a(5, true, 3), b(5, true, 3), c(5, true, 4);
  const Eigen::MatrixXd pa = a.next(16), pb = b.next(16), pc = c.next(16);
  EXPECT_EQ(pa, pb);
  EXPECT_NE(pa, pc);
  EXPECT_THROW(SobolSequence(0, false, 0), InvalidInput);
  EXPECT_THROW(SobolSequence(kSobolMaxDims + 1, false, 0), InvalidInput);
}

}  // namespace
}  // namespace flashnas::search
