// ArchConfig: validation names the bad field, layer-type lists parse and
// round-trip, parameter counts follow the layer kinds, the weight block is
// laid out so every listed tensor is distinct and inside the block.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "engine/model/arch_config.hpp"
#include "engine/model/model_weights.hpp"
#include "engine/util/error.hpp"
#include "tests/model/model_fixtures.hpp"

namespace flashnas {
namespace {

ArchConfig stories260k_shape() { return test::stories260k_config(); }

std::string field_of(const ArchConfig& c) {
  try {
    c.validate();
  } catch (const InvalidInput& e) {
    return e.field();
  }
  return "";
}

TEST(ArchConfig, ValidationNamesTheField) {
  ArchConfig c = stories260k_shape();
  EXPECT_EQ(field_of(c), "");
  c.n_kv_heads = 3;
  EXPECT_EQ(field_of(c), "n_kv_heads");
  c = stories260k_shape();
  c.layers[2].kind = LayerKind::swa;
  EXPECT_EQ(field_of(c), "layers[2].window");
  c.layers[2].window = 16;
  c.layers[4].d_ffn = 0;
  EXPECT_EQ(field_of(c), "layers[4].d_ffn");
  c = stories260k_shape();
  c.layers.clear();
  EXPECT_EQ(field_of(c), "n_layers");
}

TEST(ArchConfig, LayerTypesParseAndFormat) {
  ArchConfig c = stories260k_shape();
  apply_layer_types(c, parse_layer_types("full,skip,swa:16,full,skip", 0, "--layer-types"),
                    "--layer-types");
  EXPECT_EQ(c.layers[1].kind, LayerKind::skip);
  EXPECT_EQ(c.layers[2].kind, LayerKind::swa);
  EXPECT_EQ(c.layers[2].window, 16);
  EXPECT_EQ(format_layer_types(c), "full,skip,swa:16,full,skip");
  EXPECT_THROW(parse_layer_types("full,swa", 0, "f"), InvalidInput);       // swa needs a window
  EXPECT_THROW(parse_layer_types("full,attn", 0, "f"), InvalidInput);      // unknown kind
  EXPECT_THROW(parse_layer_types("skip:3", 0, "f"), InvalidInput);         // only swa has a window
  EXPECT_THROW(parse_layer_types("swa:-2", 0, "f"), InvalidInput);
  EXPECT_THROW(parse_layer_types("full,,full", 0, "f"), InvalidInput);
  EXPECT_EQ(parse_layer_types("swa", 32, "f")[0].window, 32);
  EXPECT_THROW(apply_layer_types(c, parse_layer_types("full", 0, "f"), "f"), InvalidInput);
}

TEST(ArchConfig, ParameterCountFollowsLayerKinds) {
  ArchConfig c = stories260k_shape();
  // Hand count: embedding 512*64 (tied), final norm 64, per layer
  // attn 64 + 2*64*64 + 2*32*64, ffn 64 + 3*172*64.
  const int64_t attn = 64 + 2 * 64 * 64 + 2 * 32 * 64;
  const int64_t ffn = 64 + 3 * 172 * 64;
  EXPECT_EQ(count_parameters(c), 512 * 64 + 64 + 5 * (attn + ffn));
  c.layers[1].kind = LayerKind::skip;
  EXPECT_EQ(count_parameters(c), 512 * 64 + 64 + 4 * attn + 5 * ffn);
  c.tied_embeddings = false;
  EXPECT_EQ(count_parameters(c), 2 * 512 * 64 + 64 + 4 * attn + 5 * ffn);
}

TEST(ArchConfig, JsonRoundTrip) {
  ArchConfig c = stories260k_shape();
  c.layers[3] = LayerConfig{LayerKind::swa, 24, 100};
  c.layers[1].kind = LayerKind::skip;
  c.rope_layout = RopeLayout::half;
  EXPECT_EQ(arch_config_from_json(arch_config_to_json(c)), c);
  auto j = arch_config_to_json(c);
  j["layers"][0]["kind"] = "bogus";
  EXPECT_THROW(arch_config_from_json(j), InvalidInput);
  j = arch_config_to_json(c);
  j["d_model"] = "wide";
  try {
    arch_config_from_json(j);
    FAIL() << "expected InvalidInput";
  } catch (const InvalidInput& e) {
    EXPECT_EQ(e.field(), "d_model");
  }
}

TEST(ModelWeights, ViewsAreDisjointAndInsideTheBlock) {
  ArchConfig c = stories260k_shape();
  c.layers[1].kind = LayerKind::skip;
  c.layers[2].d_ffn = 50;
  ModelWeights w = allocate_weights(c);
  auto tensors = list_tensors(c, w);
  int64_t total = 0;
  const float* begin = w.storage.get();
  const float* end = begin + w.n_floats;
  for (size_t i = 0; i < tensors.size(); ++i) {
    const auto& t = tensors[i];
    ASSERT_NE(t.data, nullptr);
    EXPECT_GE(t.data, begin);
    EXPECT_LE(t.data + t.numel(), end);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(t.data) % 64, 0u);
    if (i > 0) {
      EXPECT_GE(t.data, tensors[i - 1].data + tensors[i - 1].numel());
    }
    total += t.numel();
  }
  EXPECT_EQ(total, count_parameters(c));
  EXPECT_EQ(w.layers[1].wq, nullptr);  // skip layers carry no attention weights
  EXPECT_EQ(w.output, w.tok_embd);     // tied head shares the embedding
}

}  // namespace
}  // namespace flashnas
