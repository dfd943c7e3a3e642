// Asynchronous successive halving's pure parts: which trials of a rung go on
// (top floor(n / eta) by non-dominated rank, ties by quality), and the offsets
// that carry a lower rung's NLL to the top fidelity.
#include <gtest/gtest.h>

#include "app/fidelity_policy.hpp"

namespace flashnas {
namespace {

TEST(FidelityPolicy, AshaTakesTheTopThirdByNonDominatedRank) {
  // (id, quality, latency): 1, 2 and 3 are the front; 4 is dominated by 2 only; 5, 6 further back.
  const std::vector<app::RungResult> rung = {{1, 2.0, 9.0}, {2, 3.0, 5.0}, {3, 5.0, 1.0},
                                             {4, 3.5, 6.0}, {5, 6.0, 8.0}, {6, 7.0, 9.5}};
  EXPECT_TRUE(app::asha_top({rung.begin(), rung.begin() + 2}, 3).empty()) << "fewer than eta results: none yet";
  EXPECT_EQ(app::asha_top(rung, 3), (std::vector<int64_t>{1, 2})) << "two of six, front first, better quality first";
  EXPECT_EQ(app::asha_top(rung, 2), (std::vector<int64_t>{1, 2, 3})) << "a fast, poor trial of the front beats a dominated one";
  EXPECT_EQ(app::asha_top(rung, 6), (std::vector<int64_t>{1}));
}

TEST(FidelityPolicy, OffsetsChainTheMeanGapsBetweenAdjacentRungs) {
  // Rung 0 -> 1 lowers the NLL by 1.0 on average, rung 1 -> 2 by 0.25.
  const std::vector<app::RungHistory> trials = {{{0, 4.0}, {1, 3.0}, {2, 2.75}},
                                                {{0, 5.0}, {1, 3.8}},
                                                {{0, 6.0}, {1, 5.2}},
                                                {{0, 7.0}}};
  const std::vector<double> offsets = app::fidelity_offsets(trials, 3);
  ASSERT_EQ(offsets.size(), 3u);
  EXPECT_DOUBLE_EQ(offsets[2], 0.0);
  EXPECT_DOUBLE_EQ(offsets[1], -0.25);
  EXPECT_DOUBLE_EQ(offsets[0], -0.25 + (-1.0 - 1.2 - 0.8) / 3.0);
  EXPECT_EQ(app::fidelity_offsets({{{0, 4.0}}}, 2), (std::vector<double>{0.0, 0.0})) << "no pair yet: no shift";
}

}  // namespace
}  // namespace flashnas
