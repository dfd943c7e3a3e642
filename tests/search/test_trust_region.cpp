// Trust regions: TuRBO's length schedule, its options as JSON, and an acquisition
// search that keeps every candidate inside the boxes around the anchors.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <random>

#include "engine/search/acquisition_search.hpp"
#include "engine/search/box_space.hpp"
#include "engine/search/pareto.hpp"
#include "engine/search/trust_region.hpp"
#include "engine/util/error.hpp"

namespace flashnas::search {
namespace {

TEST(TrustRegion, TurboSchedule) {
  const TrustRegionOptions o;
  TrustRegion r = start_trust_region(o);
  EXPECT_DOUBLE_EQ(r.length, 0.8);
  // Three improving batches double the length, capped at the maximum.
  for (int i = 0; i < 3; ++i) r = update_trust_region(r, true, 4, 6, o);
  EXPECT_DOUBLE_EQ(r.length, 1.6);
  for (int i = 0; i < 3; ++i) r = update_trust_region(r, true, 4, 6, o);
  EXPECT_DOUBLE_EQ(r.length, 1.6);
  // q = 4, E = 6: ceil(max(4 / 4, 6 / 4)) = 2 failing batches halve it; a success resets the count.
  r = update_trust_region(r, false, 4, 6, o);
  EXPECT_DOUBLE_EQ(r.length, 1.6);
  r = update_trust_region(r, true, 4, 6, o);
  r = update_trust_region(r, false, 4, 6, o);
  EXPECT_DOUBLE_EQ(r.length, 1.6);
  r = update_trust_region(r, false, 4, 6, o);
  EXPECT_DOUBLE_EQ(r.length, 0.8);
  // E = 31, q = 4: eight failures per halving.
  TrustRegion wide = start_trust_region(o);
  for (int i = 0; i < 7; ++i) wide = update_trust_region(wide, false, 4, 31, o);
  EXPECT_DOUBLE_EQ(wide.length, 0.8);
  wide = update_trust_region(wide, false, 4, 31, o);
  EXPECT_DOUBLE_EQ(wide.length, 0.4);
  // Below the minimum (1 / 128) it starts again (TuRBO's restart): 0.8 / 64 is the last length.
  for (int i = 0; i < 2 * 6; ++i) r = update_trust_region(r, false, 4, 6, o);
  EXPECT_DOUBLE_EQ(r.length, 0.8 / 64.0);
  r = update_trust_region(r, false, 4, 6, o);
  r = update_trust_region(r, false, 4, 6, o);
  EXPECT_DOUBLE_EQ(r.length, 0.8);
  EXPECT_THROW(update_trust_region(r, false, 0, 6, o), InvalidInput);
}

TEST(TrustRegion, ImprovementIsRelative) {
  EXPECT_FALSE(hypervolume_improved(0.0, 0.0));
  EXPECT_TRUE(hypervolume_improved(0.0, 1e-9));
  EXPECT_FALSE(hypervolume_improved(1.0, 1.0005));
  EXPECT_TRUE(hypervolume_improved(1.0, 1.002));
}

TEST(TrustRegion, OptionsJson) {
  TrustRegionOptions o;
  o.enabled = false;
  o.failure_tolerance = 5;
  const TrustRegionOptions back = trust_region_options_from_json(trust_region_options_to_json(o));
  EXPECT_FALSE(back.enabled);
  EXPECT_EQ(back.failure_tolerance, 5);
  EXPECT_DOUBLE_EQ(back.initial_length, 0.8);
  EXPECT_THROW(trust_region_options_from_json({{"initial_length", 2.0}}), InvalidInput);  // above max_length
  EXPECT_THROW(trust_region_options_from_json({{"min_length", -1.0}}), InvalidInput);
  EXPECT_THROW(trust_region_options_from_json({{"success_tolerance", 0}}), InvalidInput);
}

// An acquisition that wants the far corner (1, 1, 1): without regions the search gets
// there; with regions of side 0.2 it stops at the best corner of an anchor's box.
TEST(TrustRegion, AcquisitionSearchStaysInTheRegions) {
  const BoxSpace space(3);
  const AcquisitionFunction toward_corner = [](const Eigen::MatrixXd& x) {
    return Eigen::VectorXd(-(x.array() - 1.0).square().rowwise().sum());
  };
  const std::vector<Eigen::VectorXd> anchors = {Eigen::Vector3d(0.2, 0.2, 0.2), Eigen::Vector3d(0.9, 0.5, 0.1)};
  const AcquisitionSearchOptions o;
  std::mt19937_64 rng(3);
  const auto global = maximise_acquisition(space, toward_corner, anchors, {}, o, rng);
  ASSERT_TRUE(global);
  EXPECT_LT((*global - Eigen::Vector3d::Ones()).norm(), 0.05);
  const auto local = maximise_acquisition(space, toward_corner, anchors, {}, o, rng, 0.2);
  ASSERT_TRUE(local);
  EXPECT_LE((*local - anchors[1]).lpNorm<Eigen::Infinity>(), 0.1 + 1e-12);
  EXPECT_LT((*local - Eigen::Vector3d(1.0, 0.6, 0.2)).norm(), 0.02);
}

// A stateless caller replays the schedule from the observations in order: the
// same region as updating after each batch as it came.
TEST(TrustRegion, ReplayEqualsUpdatingBatchByBatch) {
  std::mt19937_64 rng(11);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  Eigen::MatrixXd y(41, 2);
  for (Eigen::Index i = 0; i < y.rows(); ++i) y.row(i) << 1.0 - 0.02 * i * u(rng), 1.0 - 0.01 * i * u(rng);
  const Eigen::Vector2d ref(1.1, 1.1);
  TrustRegionOptions o;
  o.failure_tolerance = 2;
  TrustRegion expected = start_trust_region(o);
  for (Eigen::Index end = 8 + 4; end <= y.rows(); end += 4) {
    const bool improved = hypervolume_improved(hypervolume_2d(y.topRows(end - 4), ref), hypervolume_2d(y.topRows(end), ref));
    expected = update_trust_region(expected, improved, 4, 6, o);
  }
  const TrustRegion replayed = replay_trust_region(y, ref, 8, 4, 6, o);
  EXPECT_DOUBLE_EQ(replayed.length, expected.length);
  EXPECT_EQ(replayed.successes, expected.successes);
  EXPECT_EQ(replayed.failures, expected.failures);
  // A trailing partial batch is not judged yet; nothing observed keeps the start.
  EXPECT_DOUBLE_EQ(replay_trust_region(y.topRows(11), ref, 8, 4, 6, o).length, o.initial_length);
}

}  // namespace
}  // namespace flashnas::search
