// CandidateArch: parsing with field-named errors, canonical form and hash,
// limits against the backbone, conversion to a full config.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <vector>

#include "engine/model/candidate_arch.hpp"
#include "engine/util/error.hpp"
#include "engine/util/json_reader.hpp"
#include "engine/util/sha256.hpp"
#include "tests/model/model_fixtures.hpp"
#include "tests/support/field_errors.hpp"

namespace flashnas {
namespace {

using test::field_errors_of;

ArchConfig backbone() { return test::stories260k_config(); }

std::string error_field(const nlohmann::json& j, const std::string& prefix = "") {
  try {
    validate_against_backbone(candidate_arch_from_json(j, prefix), backbone(), prefix);
  } catch (const InvalidInput& e) {
    return e.field();
  }
  return "";
}

const nlohmann::json kGood = nlohmann::json::parse(
    R"({"n_layers": 3, "d_model": 48, "d_ffn": 128, "layer_types": ["full", "skip", "swa"],
        "sliding_window": 32})");

TEST(CandidateArch, ParsesAndExpandsScalarWidth) {
  CandidateArch a = candidate_arch_from_json(kGood);
  EXPECT_EQ(a.d_ffn, (std::vector<int64_t>{128, 128, 128}));
  EXPECT_EQ(a.layer_types[2], LayerKind::swa);
  ArchConfig c = candidate_to_config(backbone(), a);
  EXPECT_EQ(c.n_layers(), 3);
  EXPECT_EQ(c.layers[2].window, 32);
  EXPECT_EQ(c.layers[1].window, 0);
  EXPECT_EQ(c.n_heads, 8);
  EXPECT_EQ(c.d_model, 48);
}

TEST(CandidateArch, ErrorsNameTheField) {
  auto j = kGood;
  EXPECT_EQ(error_field(j), "");
  j["layer_types"] = {"full", "skip"};
  EXPECT_EQ(error_field(j), "layer_types");
  j = kGood;
  j["layer_types"][1] = "attention";
  EXPECT_EQ(error_field(j, "candidates[2]"), "candidates[2].layer_types[1]");
  j = kGood;
  j.erase("sliding_window");
  EXPECT_EQ(error_field(j), "sliding_window");
  j = kGood;
  j["d_ffn"] = {128, 0, 64};
  EXPECT_EQ(error_field(j), "d_ffn[1]");
  j = kGood;
  j["d_model"] = 96;  // wider than the backbone
  EXPECT_EQ(error_field(j), "d_model");
  j = kGood;
  j["n_layers"] = "3";
  EXPECT_EQ(error_field(j), "n_layers");
  j = kGood;
  j["colour"] = "red";
  EXPECT_EQ(error_field(j), "colour");
  j = kGood;
  j["d_ffn"] = 200;  // wider than the backbone's FFN
  EXPECT_EQ(error_field(j), "d_ffn[0]");
}

TEST(CandidateArch, EveryBadFieldIsReportedAtOnce) {
  const auto j = nlohmann::json::parse(
      R"({"n_layers": 3, "d_model": 0, "d_ffn": [128, "wide", 0], "layer_types": ["full", "attention", "swa:8"],
          "sliding_window": -1, "colour": "red"})");
  const std::vector<FieldError> expected = {
      {"candidates[2].d_ffn[1]", "expected an integer, got a string"},
      {"candidates[2].layer_types[1]", "unknown layer kind 'attention' (expected full, swa or skip)"},
      {"candidates[2].layer_types[2]", "give the window once, in sliding_window, not per layer"},
      {"candidates[2].d_model", "must be between 1 and 1048576, got 0"},
      {"candidates[2].sliding_window", "must be between 0 and 1048576, got -1"},
      {"candidates[2].d_ffn[2]", "must be between 1 and 1048576, got 0"},
      {"candidates[2].colour", "unknown field (expected one of d_ffn, d_model, layer_types, n_layers, sliding_window)"}};
  EXPECT_EQ(field_errors_of([&] { candidate_arch_from_json(j, "candidates[2]"); }), expected);
  // Lengths are checked against a good layer count, and a bad count stops them.
  auto k = kGood;
  k["d_ffn"] = {128, 128};
  k["layer_types"] = {"full"};
  EXPECT_EQ(field_errors_of([&] { candidate_arch_from_json(k); }),
            (std::vector<FieldError>{{"d_ffn", "has 2 entries for 3 layers"}, {"layer_types", "has 1 entries for 3 layers"}}));
  k["n_layers"] = 0;
  EXPECT_EQ(field_errors_of([&] { candidate_arch_from_json(k); }),
            (std::vector<FieldError>{{"n_layers", "must be between 1 and 1024, got 0"}}));
  // A scalar width is checked once, not once per layer.
  k = kGood;
  k["d_ffn"] = -5;
  EXPECT_EQ(field_errors_of([&] { candidate_arch_from_json(k); }),
            (std::vector<FieldError>{{"d_ffn", "must be between 1 and 1048576, got -5"}}));
}

// Candidates built in code go through the parser's own checks, and against a
// backbone every excess is named.
TEST(CandidateArch, CodeBuiltCandidatesAndBackboneLimitsReportEveryProblem) {
  CandidateArch a = candidate_arch_from_json(kGood);
  a.d_model = 96;
  a.d_ffn = {128, 4096, 0};
  a.layer_types[0] = LayerKind::swa;
  a.sliding_window = 0;
  EXPECT_EQ(field_errors_of([&] { check_candidate_arch(a, "arch"); }),
            (std::vector<FieldError>{{"arch.d_ffn[2]", "must be between 1 and 1048576, got 0"},
                                     {"arch.sliding_window", "must be positive when a layer is swa"}}));
  a.d_ffn[2] = 64;
  a.sliding_window = 16;
  EXPECT_EQ(field_errors_of([&] { validate_against_backbone(a, backbone(), "arch"); }),
            (std::vector<FieldError>{{"arch.d_model", "96 exceeds the backbone's d_model 64"},
                                     {"arch.d_ffn[1]", "4096 exceeds the backbone's FFN width 172"}}));
}

TEST(CandidateArch, CanonicalHashIgnoresSpelling) {
  auto scalar = kGood;
  auto listed = kGood;
  listed["d_ffn"] = {128, 128, 128};
  EXPECT_EQ(candidate_arch_hash(candidate_arch_from_json(scalar)),
            candidate_arch_hash(candidate_arch_from_json(listed)));
  // The window of an all-full model is meaningless and must not change the identity.
  auto full_a = nlohmann::json::parse(
      R"({"n_layers": 2, "d_model": 64, "d_ffn": 172, "layer_types": ["full", "full"]})");
  auto full_b = full_a;
  full_b["sliding_window"] = 16;
  EXPECT_EQ(candidate_arch_hash(candidate_arch_from_json(full_a)),
            candidate_arch_hash(candidate_arch_from_json(full_b)));
  auto other = kGood;
  other["sliding_window"] = 16;
  EXPECT_NE(candidate_arch_hash(candidate_arch_from_json(kGood)),
            candidate_arch_hash(candidate_arch_from_json(other)));
  EXPECT_EQ(candidate_arch_from_json(candidate_arch_to_json(candidate_arch_from_json(kGood))),
            candidate_arch_from_json(kGood));
}

TEST(CandidateArch, HashIsTheSha256OfTheCanonicalJson) {
  std::vector<CandidateArch> archs = {candidate_arch_from_json(kGood), backbone_as_candidate(backbone())};
  CandidateArch odd;  // built in code: per-layer widths, a window without swa layers, multi-digit values
  odd.n_layers = 3;
  odd.d_model = 1024;
  odd.d_ffn = {4096, 12, 100000};
  odd.layer_types = {LayerKind::full, LayerKind::skip, LayerKind::full};
  odd.sliding_window = 128;
  archs.push_back(odd);
  odd.layer_types[2] = LayerKind::swa;
  archs.push_back(odd);
  archs.push_back(CandidateArch{});
  for (const CandidateArch& a : archs) {
    EXPECT_EQ(candidate_arch_hash(a), sha256_hex(candidate_arch_to_json(a).dump())) << candidate_arch_to_json(a).dump();
  }
}

TEST(CandidateArch, BackboneRoundTrip) {
  CandidateArch a = backbone_as_candidate(backbone());
  EXPECT_EQ(candidate_to_config(backbone(), a), backbone());
}

}  // namespace
}  // namespace flashnas
