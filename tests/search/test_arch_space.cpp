// ArchSpace: JSON validation naming fields, rules, sampling validity, encoding round
// trips, canonical hashing, mutation/crossover validity, and the box space.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <functional>
#include <random>
#include <set>

#include "engine/search/arch_space.hpp"
#include "engine/search/box_space.hpp"
#include "engine/util/json_reader.hpp"
#include "tests/support/field_errors.hpp"

namespace flashnas::search {
namespace {

ArchSpaceOptions small_options() {
  ArchSpaceOptions o;
  o.n_layers = {2, 8, 1};
  o.d_model = {64, 256, 64};
  o.d_ffn = {128, 512, 128};
  o.sliding_windows = {32, 64};
  o.max_consecutive_non_full = 2;
  o.min_full_layers = 2;
  return o;
}

// Independent statement of the rules for the tests.
bool obeys_rules(const CandidateArch& a, const ArchSpaceOptions& o) {
  if (o.first_layer_full && a.layer_types[0] != LayerKind::full) return false;
  int run = 0, full = 0;
  for (LayerKind k : a.layer_types) {
    run = k == LayerKind::full ? 0 : run + 1;
    full += k == LayerKind::full;
    if (o.max_consecutive_non_full >= 0 && run > o.max_consecutive_non_full) return false;
  }
  return full >= o.min_full_layers;
}

std::string field_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const InvalidInput& e) {
    return e.field();
  }
  return "<no error>";
}

TEST(ArchSpace, JsonRoundTripAndFieldNamedErrors) {
  const ArchSpaceOptions o = small_options();
  const nlohmann::json j = arch_space_options_to_json(o);
  const ArchSpaceOptions back = arch_space_options_from_json(j);
  EXPECT_EQ(arch_space_options_to_json(back), j);
  auto with = [&](const char* path, nlohmann::json value) {
    nlohmann::json k = j;
    k[nlohmann::json::json_pointer(path)] = std::move(value);
    return [k] { arch_space_options_from_json(k); };
  };
  EXPECT_EQ(field_of(with("/d_model/step", 50)), "d_model.step");
  EXPECT_EQ(field_of(with("/n_layers/min", 0)), "n_layers.min");
  EXPECT_EQ(field_of(with("/layer_kinds/1", "cross")), "layer_kinds[1]");
  EXPECT_EQ(field_of(with("/rules/min_full_layers", 5)), "rules.min_full_layers");
  EXPECT_EQ(field_of(with("/sliding_windows/0", -3)), "sliding_windows[0]");
  EXPECT_EQ(field_of(with("/bogus", 1)), "bogus");
}

using test::field_errors_of;

TEST(ArchSpace, EveryBadFieldOfASpaceIsReportedAtOnce) {
  const auto j = nlohmann::json::parse(R"({
    "n_layers": {"min": 0, "max": 8},
    "d_model": {"min": 128, "max": 64, "step": 64},
    "d_ffn": {"min": 128, "max": 500, "step": 128, "stride": 2},
    "per_layer_ffn": "yes",
    "layer_kinds": ["full", "swa:64", "cross"],
    "sliding_windows": [32, "64", 0],
    "rules": {"first_layer_full": true, "max_consecutive_non_full": -2, "min_full_layers": 9}})");
  const std::vector<FieldError> expected = {
      {"d_ffn.stride", "unknown field (expected one of max, min, step)"},
      {"per_layer_ffn", "expected true or false, got a string"},
      {"layer_kinds[1]", "give the window once, in sliding_windows, not per layer"},
      {"layer_kinds[2]", "unknown layer kind 'cross' (expected full, swa or skip)"},
      {"sliding_windows[1]", "expected an integer, got a string"},
      {"n_layers.min", "must be >= 1, got 0"},
      {"d_model.max", "must be >= min (128), got 64"},
      {"d_ffn.step", "max - min (372) is not a multiple of step 128"},
      {"sliding_windows[2]", "must be >= 1, got 0"},
      {"rules.max_consecutive_non_full", "must be >= 0, or -1 for no limit, got -2"}};
  // rules.min_full_layers (9 > n_layers.min) is not checked against a bad n_layers.min.
  EXPECT_EQ(field_errors_of([&] { arch_space_options_from_json(j); }), expected);
}

// validate() (spaces built in code) applies the same rules and reports all of them.
TEST(ArchSpace, ValidateReportsEveryBrokenRule) {
  ArchSpaceOptions o = small_options();
  o.d_model.step = 0;
  o.layer_kinds = {LayerKind::swa, LayerKind::swa};
  o.sliding_windows = {32, 32};
  o.min_full_layers = 3;
  const std::vector<FieldError> expected = {{"d_model.step", "must be >= 1, got 0"},
                                            {"layer_kinds", "lists a kind twice"},
                                            {"sliding_windows", "lists a window twice"},
                                            {"rules.min_full_layers", "exceeds the smallest n_layers (2)"}};
  EXPECT_EQ(field_errors_of([&] { o.validate(); }), expected);
  EXPECT_THROW(ArchSpace{o}, InvalidInput);
}

TEST(ArchSpace, CheckNamesTheOffendingLayer) {
  const ArchSpace space(small_options());
  CandidateArch a;
  a.n_layers = 4;
  a.d_model = 128;
  a.d_ffn = {256, 256, 256, 256};
  a.layer_types = {LayerKind::full, LayerKind::swa, LayerKind::skip, LayerKind::full};
  a.sliding_window = 32;
  EXPECT_NO_THROW(space.check(a));
  a.layer_types[0] = LayerKind::skip;
  EXPECT_EQ(field_of([&] { space.check(a); }), "layer_types[0]");
  a.layer_types = {LayerKind::full, LayerKind::swa, LayerKind::skip, LayerKind::swa};
  EXPECT_EQ(field_of([&] { space.check(a); }), "layer_types[3]");
  a.layer_types = {LayerKind::full, LayerKind::swa, LayerKind::full, LayerKind::full};
  a.sliding_window = 48;
  EXPECT_EQ(field_of([&] { space.check(a); }), "sliding_window");
  a.sliding_window = 32;
  a.d_model = 100;
  EXPECT_EQ(field_of([&] { space.check(a); }), "d_model");
}

TEST(ArchSpace, SamplesAreValidEncodingsRoundTripAndHashesAreCanonical) {
  const ArchSpaceOptions o = small_options();
  const ArchSpace space(o);
  std::mt19937_64 rng(3);
  std::set<std::string> keys;
  for (int i = 0; i < 500; ++i) {
    const CandidateArch a = space.sample_arch(rng);
    ASSERT_TRUE(obeys_rules(a, o));
    ASSERT_TRUE(space.contains(a));
    const Eigen::VectorXd x = space.encode(a);
    ASSERT_EQ(x.size(), space.encoding_dims());
    EXPECT_GE(x.minCoeff(), 0.0);
    EXPECT_LE(x.maxCoeff(), 1.0);
    EXPECT_EQ(space.decode(x), a);
    EXPECT_TRUE(space.is_valid(x));
    EXPECT_EQ(space.key(x), candidate_arch_hash(a));
    keys.insert(space.key(x));
  }
  EXPECT_GT(keys.size(), 300u);  // sampling explores, it does not repeat a few points
}

TEST(ArchSpace, MutationAndCrossoverKeepRules) {
  const ArchSpaceOptions o = small_options();
  const ArchSpace space(o);
  std::mt19937_64 rng(5);
  int changed = 0;
  for (int i = 0; i < 300; ++i) {
    const Eigen::VectorXd a = space.sample(rng), b = space.sample(rng);
    const Eigen::VectorXd m = space.mutate(a, 0.1, rng);
    ASSERT_TRUE(space.is_valid(m));
    ASSERT_TRUE(obeys_rules(space.decode(m), o));
    changed += space.key(m) != space.key(a);
    const Eigen::VectorXd c = space.crossover(a, b, rng);
    ASSERT_TRUE(space.is_valid(c));
  }
  EXPECT_GT(changed, 280);
}

TEST(ArchSpace, NearestValidMapsAnyVectorToAValidPointAndKeepsValidOnes) {
  ArchSpaceOptions o = small_options();
  for (bool with_swa : {true, false}) {
    if (!with_swa) o.layer_kinds = {LayerKind::full, LayerKind::skip};
    const ArchSpace space(o);
    std::mt19937_64 rng(9);
    std::uniform_real_distribution<double> u01(0.0, 1.0);
    std::set<std::string> keys;
    for (int i = 0; i < 300; ++i) {
      Eigen::VectorXd v(space.encoding_dims());
      for (Eigen::Index d = 0; d < v.size(); ++d) v(d) = u01(rng);
      const Eigen::VectorXd x = space.nearest_valid(v);
      ASSERT_TRUE(space.is_valid(x));
      ASSERT_TRUE(obeys_rules(space.decode(x), o));
      keys.insert(space.key(x));
      const Eigen::VectorXd s = space.sample(rng);
      EXPECT_EQ(space.nearest_valid(s), s);  // canonical encodings are fixed points
    }
    EXPECT_GT(keys.size(), 200u);  // repair merges some vectors, not most
  }
}

TEST(ArchSpace, InitialDesignIsValidAndDistinct) {
  const ArchSpace space(small_options());
  const Eigen::MatrixXd d = space.initial_design(64, 11);
  std::set<std::string> keys;
  for (Eigen::Index i = 0; i < d.rows(); ++i) {
    ASSERT_TRUE(space.is_valid(d.row(i).transpose()));
    keys.insert(space.key(d.row(i).transpose()));
  }
  EXPECT_EQ(keys.size(), 64u);
  EXPECT_EQ(space.initial_design(64, 11), d);  // deterministic
}

TEST(BoxSpace, DesignMutationAndKeys) {
  const BoxSpace space(3);
  std::mt19937_64 rng(1);
  const Eigen::MatrixXd d = space.initial_design(16, 2);
  for (Eigen::Index i = 0; i < d.rows(); ++i) EXPECT_TRUE(space.is_valid(d.row(i).transpose()));
  const Eigen::VectorXd x = d.row(3).transpose();
  const Eigen::VectorXd m = space.mutate(x, 0.1, rng);
  EXPECT_TRUE(space.is_valid(m));
  EXPECT_EQ((m - x).cwiseAbs().count(), (m - x).cwiseAbs().cwiseMin(1.0).count());
  EXPECT_LE(((m - x).array() != 0.0).count(), 1);
  EXPECT_NE(space.key(m), space.key(x));
  EXPECT_EQ(space.key(x), space.key(Eigen::VectorXd(x)));
  EXPECT_FALSE(space.is_valid(Eigen::Vector3d(0.1, 1.5, 0.2)));
  EXPECT_EQ(space.nearest_valid(Eigen::Vector3d(0.1, 1.5, -0.2)), Eigen::Vector3d(0.1, 1.0, 0.0));
  EXPECT_EQ(space.nearest_valid(x), x);
}

}  // namespace
}  // namespace flashnas::search
