// Pareto utilities against brute force: dominance filtering, exact 2-D hypervolume
// (vs. a union of rectangles on the compressed coordinate grid), improvement, history.
#include <gtest/gtest.h>

#include <algorithm>
#include <random>

#include "engine/search/hypervolume_2d.hpp"
#include "engine/search/pareto.hpp"
#include "engine/util/error.hpp"

namespace flashnas::search {
namespace {

// Area of the union of boxes [p, ref] (minimisation), computed cell by cell on the
// grid of all distinct coordinates: independent of the staircase sweep.
double brute_force_hv(const Eigen::MatrixXd& p, const Eigen::Vector2d& ref) {
  std::vector<double> xs = {ref(0)}, ys = {ref(1)};
  for (Eigen::Index i = 0; i < p.rows(); ++i) {
    if (p(i, 0) < ref(0)) xs.push_back(p(i, 0));
    if (p(i, 1) < ref(1)) ys.push_back(p(i, 1));
  }
  std::sort(xs.begin(), xs.end());
  std::sort(ys.begin(), ys.end());
  double area = 0.0;
  for (size_t a = 0; a + 1 < xs.size(); ++a) {
    for (size_t b = 0; b + 1 < ys.size(); ++b) {
      const double cx = 0.5 * (xs[a] + xs[a + 1]), cy = 0.5 * (ys[b] + ys[b + 1]);
      bool covered = false;
      for (Eigen::Index i = 0; i < p.rows() && !covered; ++i) covered = p(i, 0) <= cx && p(i, 1) <= cy;
      if (covered) area += (xs[a + 1] - xs[a]) * (ys[b + 1] - ys[b]);
    }
  }
  return area;
}

Eigen::MatrixXd random_points(int n, uint64_t seed, bool integer_grid) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  std::uniform_int_distribution<int> g(0, 6);  // many ties and duplicates
  Eigen::MatrixXd p(n, 2);
  for (int i = 0; i < n; ++i) {
    for (int j = 0; j < 2; ++j) p(i, j) = integer_grid ? g(rng) / 6.0 : u(rng);
  }
  return p;
}

TEST(Pareto, HypervolumeMatchesBruteForce) {
  const Eigen::Vector2d ref(0.9, 0.95);  // some points lie beyond it
  for (uint64_t seed = 0; seed < 40; ++seed) {
    const Eigen::MatrixXd p = random_points(1 + static_cast<int>(seed % 25), seed, seed % 2 == 0);
    EXPECT_NEAR(hypervolume_2d(p, ref), brute_force_hv(p, ref), 1e-12) << "seed " << seed;
  }
}

TEST(Pareto, HypervolumeHonoursMaximisation) {
  const Eigen::MatrixXd p = random_points(15, 99, false);
  Eigen::MatrixXd flipped = p;
  flipped.col(1) *= -1.0;  // objective 1 maximised after negation
  EXPECT_NEAR(hypervolume_2d(flipped, Eigen::Vector2d(0.9, -0.95), {ObjectiveSense::minimize, ObjectiveSense::maximize}),
              brute_force_hv(p, Eigen::Vector2d(0.9, 0.95)), 1e-12);
}

TEST(Pareto, ImprovementAndHistoryMatchBruteForce) {
  const Eigen::Vector2d ref(1.0, 1.0);
  for (uint64_t seed = 100; seed < 130; ++seed) {
    const Eigen::MatrixXd p = random_points(20, seed, seed % 3 == 0);
    const std::vector<double> history = hypervolume_history(p, ref);
    ASSERT_EQ(history.size(), 20u);
    for (int k = 1; k <= 20; ++k) {
      EXPECT_NEAR(history[k - 1], brute_force_hv(p.topRows(k), ref), 1e-12) << "seed " << seed << " k " << k;
    }
    // Improvement of the last point over the staircase of the others.
    std::vector<Point2> pts;
    for (int i = 0; i < 19; ++i) pts.push_back({p(i, 0), p(i, 1)});
    const Staircase2 front = make_staircase(pts, {1.0, 1.0});
    EXPECT_NEAR(hypervolume_improvement(front, {p(19, 0), p(19, 1)}, {1.0, 1.0}),
                brute_force_hv(p, ref) - brute_force_hv(p.topRows(19), ref), 1e-12);
  }
}

TEST(Pareto, NonDominatedMatchesBruteForce) {
  const std::vector<ObjectiveSense> senses = {ObjectiveSense::minimize, ObjectiveSense::minimize,
                                              ObjectiveSense::maximize};
  for (uint64_t seed = 0; seed < 20; ++seed) {
    std::mt19937_64 rng(seed);
    std::uniform_int_distribution<int> g(0, 4);
    Eigen::MatrixXd p(30, 3);
    for (Eigen::Index i = 0; i < p.size(); ++i) p.data()[i] = g(rng);
    std::vector<int64_t> expect;
    for (int i = 0; i < 30; ++i) {
      bool dominated = false;
      for (int j = 0; j < 30; ++j) {
        const bool no_worse = p(j, 0) <= p(i, 0) && p(j, 1) <= p(i, 1) && p(j, 2) >= p(i, 2);
        const bool better = p(j, 0) < p(i, 0) || p(j, 1) < p(i, 1) || p(j, 2) > p(i, 2);
        dominated = dominated || (no_worse && better);
      }
      if (!dominated) expect.push_back(i);
    }
    EXPECT_EQ(non_dominated_indices(p, senses), expect) << "seed " << seed;
  }
}

TEST(Pareto, DominanceAndValidation) {
  const std::vector<ObjectiveSense> mm = {ObjectiveSense::minimize, ObjectiveSense::minimize};
  EXPECT_TRUE(pareto_dominates(Eigen::Vector2d(1, 2), Eigen::Vector2d(1, 3), mm));
  EXPECT_FALSE(pareto_dominates(Eigen::Vector2d(1, 3), Eigen::Vector2d(1, 3), mm));
  EXPECT_FALSE(pareto_dominates(Eigen::Vector2d(0, 4), Eigen::Vector2d(1, 3), mm));
  EXPECT_TRUE(pareto_dominates(Eigen::Vector2d(1, 4), Eigen::Vector2d(1, 3),
                               {ObjectiveSense::minimize, ObjectiveSense::maximize}));
  EXPECT_THROW(pareto_dominates(Eigen::Vector2d(1, 2), Eigen::Vector3d(1, 2, 3), mm), InvalidInput);
  Eigen::MatrixXd bad(1, 2);
  bad << 0.1, std::nan("");
  EXPECT_THROW(hypervolume_2d(bad, Eigen::Vector2d(1, 1)), InvalidInput);
  EXPECT_THROW(non_dominated_indices(Eigen::MatrixXd::Zero(3, 3), mm), InvalidInput);
}

}  // namespace
}  // namespace flashnas::search
