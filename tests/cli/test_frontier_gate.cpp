// The CI gate's reading of --require and its choice of the meeting or closest
// frontier point, on hand-made points whose answers are worked out below.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "cli/frontier_gate.hpp"
#include "engine/util/error.hpp"

namespace flashnas::cli {
namespace {

using nlohmann::json;

json point(double nll, double prefill_ms, int64_t params) {
  return {{"eval_nll", nll}, {"latency", prefill_ms},
          {"metrics", {{"eval_nll", nll}, {"prefill_ms", prefill_ms}, {"params", params}}}};
}

// A frontier of three points trading quality for latency.
const json kPoints = json::array({point(2.0, 3.0, 300), point(2.5, 2.0, 200), point(3.0, 1.0, 100)});

TEST(FrontierGate, ReadsEveryComparisonAndNumberForm) {
  const auto r = parse_requirements("prefill_ms<=3.0, eval_nll < 1.2e0,params>=-5,latency>.5");
  ASSERT_EQ(r.size(), 4u);
  EXPECT_EQ(r[0].metric, "prefill_ms");
  EXPECT_EQ(r[0].comparison, Comparison::at_most);
  EXPECT_DOUBLE_EQ(r[0].bound, 3.0);
  EXPECT_EQ(r[1].comparison, Comparison::below);
  EXPECT_DOUBLE_EQ(r[1].bound, 1.2);
  EXPECT_EQ(r[2].comparison, Comparison::at_least);
  EXPECT_DOUBLE_EQ(r[2].bound, -5.0);
  EXPECT_EQ(r[3].comparison, Comparison::above);
  EXPECT_DOUBLE_EQ(r[3].bound, 0.5);
}

TEST(FrontierGate, RefusesWhatItCannotRead) {
  for (const char* bad : {"", "prefill_ms", "prefill_ms=3", "prefill_ms<=", "prefill_ms<=3,", "<=3",
                          "prefill_ms<=3.0.1", "prefill ms<=3", "prefill_ms<=nan"}) {
    try {
      parse_requirements(bad);
      ADD_FAILURE() << "accepted '" << bad << "'";
    } catch (const InvalidInput& e) {
      EXPECT_NE(std::string(e.what()).find("--require"), std::string::npos) << e.what();
    }
  }
}

TEST(FrontierGate, MetWhenOnePointMeetsEveryRequirement) {
  const auto g = check_gate(kPoints, parse_requirements("prefill_ms<=2.0,eval_nll<=2.5"));
  EXPECT_TRUE(g.met);
  EXPECT_EQ(g.point, 1u);
  // Strict and non-strict bounds differ exactly at the bound.
  EXPECT_FALSE(check_gate(kPoints, parse_requirements("prefill_ms<2.0,eval_nll<2.5")).met);
  EXPECT_TRUE(check_gate(kPoints, parse_requirements("params>=300")).met);
  EXPECT_TRUE(check_gate(kPoints, parse_requirements("latency<=1.0")).met);
  // Of several points that meet it, the one of lowest NLL.
  EXPECT_EQ(check_gate(kPoints, parse_requirements("latency<=2.0")).point, 1u);
  EXPECT_EQ(check_gate(kPoints, parse_requirements("params>=100")).point, 0u);
}

TEST(FrontierGate, UnmetNamesTheClosestPointBySumOfRelativeShortfalls) {
  // prefill_ms<=1.5, eval_nll<=2.2: point 0 misses by 1.0 (3.0 vs 1.5), point 1 by
  // 0.333 + 0.136 = 0.470, point 2 by 0.364 (3.0 vs 2.2): point 2 is closest.
  const auto g = check_gate(kPoints, parse_requirements("prefill_ms<=1.5,eval_nll<=2.2"));
  EXPECT_FALSE(g.met);
  ASSERT_EQ(g.point, 2u);
  EXPECT_NEAR(g.shortfall, 0.8 / 2.2, 1e-12);
  const std::string text = describe_against(kPoints[2], parse_requirements("prefill_ms<=1.5,eval_nll<=2.2"));
  EXPECT_NE(text.find("prefill_ms 1 ok"), std::string::npos) << text;
  EXPECT_NE(text.find("eval_nll 3 misses eval_nll<=2.2 by 36.4%"), std::string::npos) << text;
}

TEST(FrontierGate, AnEmptyFrontierIsUnmetWithNoClosestPoint) {
  const auto g = check_gate(json::array(), parse_requirements("prefill_ms<=1"));
  EXPECT_FALSE(g.met);
  EXPECT_FALSE(g.point.has_value());
}

TEST(FrontierGate, AMetricNoPointHasIsBadInputNotUnmet) {
  EXPECT_THROW(check_gate(kPoints, parse_requirements("prefil_ms<=3")), InvalidInput);
}

}  // namespace
}  // namespace flashnas::cli
