// Shape files: parsing, errors naming the field, and the config they give.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <map>

#include "engine/latency/model_shape.hpp"
#include "engine/util/error.hpp"
#include "tests/support/field_errors.hpp"

using namespace flashnas;
using namespace flashnas::latency;

namespace {

nlohmann::json shape_json() {
  return {{"n_heads", 4}, {"n_kv_heads", 2}, {"head_dim", 8}, {"vocab_size", 64}};
}

CandidateArch small_arch() {
  return candidate_arch_from_json(
      {{"n_layers", 3}, {"d_model", 32}, {"d_ffn", {48, 64, 32}},
       {"layer_types", {"full", "swa", "skip"}}, {"sliding_window", 4}});
}

std::string field_of_shape(nlohmann::json j) {
  try {
    model_shape_from_json(j);
  } catch (const InvalidInput& e) {
    return e.field();
  }
  return "<no error>";
}

}  // namespace

TEST(ModelShape, ShapeParsesAndRoundTrips) {
  const ModelShape s = model_shape_from_json(shape_json());
  EXPECT_EQ(s.n_heads, 4);
  EXPECT_EQ(s.vocab_size, 64);
  EXPECT_FALSE(s.tied_embeddings);
  EXPECT_EQ(model_shape_from_json(model_shape_to_json(s)), s);
}

TEST(ModelShape, ShapeErrorsNameTheField) {
  nlohmann::json j = shape_json();
  j.erase("vocab_size");
  EXPECT_EQ(field_of_shape(j), "vocab_size");
  j = shape_json();
  j["n_kv_heads"] = 3;
  EXPECT_EQ(field_of_shape(j), "n_kv_heads");
  j = shape_json();
  j["head_dim"] = 7;
  EXPECT_EQ(field_of_shape(j), "head_dim");
  j = shape_json();
  j["n_heads"] = -4;
  EXPECT_EQ(field_of_shape(j), "n_heads");
  j = shape_json();
  j["d_model"] = 32;
  EXPECT_EQ(field_of_shape(j), "d_model");  // not a shape field: the architecture gives it
  EXPECT_EQ(field_of_shape(nlohmann::json::array()), "shape");
}

TEST(ModelShape, EveryBadFieldIsReportedAtOnceUnderThePrefix) {
  nlohmann::json j = {{"n_heads", 0}, {"n_kv_heads", "2"}, {"head_dim", 7}, {"tied_embeddings", 1}, {"d_model", 32}};
  const std::map<std::string, std::string> expected = {
      {"--shape.n_heads", "must be between 1 and 4096, got 0"},
      {"--shape.n_kv_heads", "expected an integer, got a string"},
      {"--shape.head_dim", "must be even for RoPE, got 7"},
      {"--shape.vocab_size", "required"},
      {"--shape.tied_embeddings", "expected true or false, got a number"},
      {"--shape.d_model", "unknown field (expected one of head_dim, n_heads, n_kv_heads, tied_embeddings, "
                          "vocab_size)"}};
  EXPECT_EQ(test::field_error_map_of([&] { model_shape_from_json(j, "--shape"); }), expected);
  // The heads rule is checked once both counts are good.
  j = shape_json();
  j["n_kv_heads"] = 3;
  j["head_dim"] = 6;
  EXPECT_EQ(test::field_errors_of([&] { model_shape_from_json(j); }),
            (std::vector<FieldError>{{"n_kv_heads", "n_heads (4) must be a multiple of n_kv_heads (3)"}}));
}

TEST(ModelShape, ConfigTakesArchitectureAndShape) {
  const ArchConfig c = shape_to_config(model_shape_from_json(shape_json()), small_arch());
  EXPECT_EQ(c.d_model, 32);
  EXPECT_EQ(c.n_heads, 4);
  EXPECT_EQ(c.head_dim, 8);
  ASSERT_EQ(c.n_layers(), 3);
  EXPECT_EQ(c.layers[1].kind, LayerKind::swa);
  EXPECT_EQ(c.layers[1].window, 4);
  EXPECT_EQ(c.layers[2].d_ffn, 32);
  EXPECT_EQ(shape_of(c), model_shape_from_json(shape_json()));
}
