// Latency features of one-layer models of each kind, computed by hand from the
// conventions in engine/model/arch_cost.hpp.
#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>

#include "engine/latency/features.hpp"
#include "engine/util/error.hpp"

using namespace flashnas;
using namespace flashnas::latency;

namespace {

// C 16, NH 2, KVH 1, HS 4 (q_dim 8, kv_dim 4), V 10, untied, one layer with FF 32.
ArchConfig one_layer(LayerKind kind, int64_t window = 0) {
  ArchConfig c;
  c.d_model = 16;
  c.n_heads = 2;
  c.n_kv_heads = 1;
  c.head_dim = 4;
  c.vocab_size = 10;
  c.layers = {LayerConfig{kind, window, 32}};
  return c;
}

double lg(double x) { return std::log10(1.0 + x); }

// Per token: full/swa matmuls 2*(2*8*16 + 2*4*16 + 3*32*16) = 3840, skip 2*3*32*16 = 3072.
// Head 2*V*C = 320 (prefill computes it for the last token only).
// Attention per key 4*NH*HS = 32 FLOPs.
// Decode weight bytes: (attn 16 + 256 + 128) + (ffn 16 + 1536) + final norm 16 + head 160
// + one embedding row 16, times 4 bytes.
constexpr int64_t P = 5;

}  // namespace

TEST(LatencyFeatures, FullLayer) {
  const Eigen::VectorXd f = latency_features(one_layer(LayerKind::full), P);
  ASSERT_EQ(f.size(), kLatencyFeatureCount);
  EXPECT_EQ(f[kFeatNLayers], 1);
  EXPECT_EQ(f[kFeatDModel], 16);
  EXPECT_EQ(f[kFeatDFfnMean], 32);
  EXPECT_EQ(f[kFeatNFull], 1);
  EXPECT_EQ(f[kFeatNSwa], 0);
  EXPECT_EQ(f[kFeatNSkip], 0);
  EXPECT_EQ(f[kFeatWindow], 0);
  EXPECT_EQ(f[kFeatPromptLen], 5);
  // prefill keys 1+2+3+4+5 = 15 -> 480 attention FLOPs
  EXPECT_NEAR(f[kFeatLogPrefillFlops], lg(5 * 3840 + 320 + 480), 1e-12);
  EXPECT_NEAR(f[kFeatLogAttnPrefillFull], lg(480), 1e-12);
  EXPECT_NEAR(f[kFeatLogAttnPrefillSwa], 0.0, 1e-15);
  // decode at context 5 attends 6 keys -> 192 FLOPs; KV read 6 * 2 * kv_dim * 4 bytes
  EXPECT_NEAR(f[kFeatLogDecodeFlops], lg(3840 + 320 + 192), 1e-12);
  EXPECT_NEAR(f[kFeatLogAttnDecodeFull], lg(192), 1e-12);
  EXPECT_NEAR(f[kFeatLogKvBytesRead], lg(6 * 2 * 4 * 4), 1e-12);
  EXPECT_NEAR(f[kFeatLogWeightBytes], lg(4 * (400 + 1552 + 16 + 160 + 16)), 1e-12);
}

TEST(LatencyFeatures, SlidingWindowLayer) {
  const Eigen::VectorXd f = latency_features(one_layer(LayerKind::swa, 2), P);
  EXPECT_EQ(f[kFeatNFull], 0);
  EXPECT_EQ(f[kFeatNSwa], 1);
  EXPECT_EQ(f[kFeatWindow], 2);
  // prefill keys 1+2+2+2+2 = 9 -> 288; decode keys min(6, 2) = 2 -> 64
  EXPECT_NEAR(f[kFeatLogAttnPrefillSwa], lg(288), 1e-12);
  EXPECT_NEAR(f[kFeatLogAttnPrefillFull], 0.0, 1e-15);
  EXPECT_NEAR(f[kFeatLogPrefillFlops], lg(5 * 3840 + 320 + 288), 1e-12);
  EXPECT_NEAR(f[kFeatLogAttnDecodeSwa], lg(64), 1e-12);
  EXPECT_NEAR(f[kFeatLogDecodeFlops], lg(3840 + 320 + 64), 1e-12);
  EXPECT_NEAR(f[kFeatLogKvBytesRead], lg(2 * 2 * 4 * 4), 1e-12);
  EXPECT_NEAR(f[kFeatLogWeightBytes], lg(4 * (400 + 1552 + 16 + 160 + 16)), 1e-12);
}

TEST(LatencyFeatures, SkipLayer) {
  const Eigen::VectorXd f = latency_features(one_layer(LayerKind::skip), P);
  EXPECT_EQ(f[kFeatNSkip], 1);
  EXPECT_EQ(f[kFeatNFull] + f[kFeatNSwa], 0);
  EXPECT_NEAR(f[kFeatLogPrefillFlops], lg(5 * 3072 + 320), 1e-12);
  EXPECT_NEAR(f[kFeatLogDecodeFlops], lg(3072 + 320), 1e-12);
  EXPECT_NEAR(f[kFeatLogKvBytesRead], 0.0, 1e-15);
  for (int col : {kFeatLogAttnPrefillFull, kFeatLogAttnPrefillSwa, kFeatLogAttnDecodeFull,
                  kFeatLogAttnDecodeSwa}) {
    EXPECT_NEAR(f[col], 0.0, 1e-15) << latency_feature_names()[static_cast<size_t>(col)];
  }
  // no attention weights: 1552 + final norm 16 + head 160 + embedding row 16
  EXPECT_NEAR(f[kFeatLogWeightBytes], lg(4 * (1552 + 16 + 160 + 16)), 1e-12);
}

TEST(LatencyFeatures, MixedLayersAverageTheFfnAndCountKinds) {
  ArchConfig c = one_layer(LayerKind::full);
  c.layers = {LayerConfig{LayerKind::full, 0, 32}, LayerConfig{LayerKind::swa, 3, 64},
              LayerConfig{LayerKind::skip, 0, 16}, LayerConfig{LayerKind::full, 0, 48}};
  const Eigen::VectorXd f = latency_features(c, P);
  EXPECT_EQ(f[kFeatNLayers], 4);
  EXPECT_EQ(f[kFeatDFfnMean], (32 + 64 + 16 + 48) / 4.0);
  EXPECT_EQ(f[kFeatNFull], 2);
  EXPECT_EQ(f[kFeatNSwa], 1);
  EXPECT_EQ(f[kFeatNSkip], 1);
  EXPECT_EQ(f[kFeatWindow], 3);
  EXPECT_NEAR(f[kFeatLogAttnPrefillFull], lg(2 * 480), 1e-12);
  EXPECT_NEAR(f[kFeatLogAttnPrefillSwa], lg(32 * (1 + 2 + 3 + 3 + 3)), 1e-12);
}

TEST(LatencyFeatures, NamesMatchColumnsAndSpecRoundTrips) {
  EXPECT_EQ(latency_feature_names().size(), static_cast<size_t>(kLatencyFeatureCount));
  EXPECT_NO_THROW(check_latency_features_spec(latency_features_spec_to_json()));
  nlohmann::json other = latency_features_spec_to_json();
  other["version"] = kLatencyFeaturesVersion + 1;
  EXPECT_THROW(check_latency_features_spec(other), flashnas::InvalidInput);
}

TEST(LatencyFeatures, RefusesBadPromptLength) {
  try {
    latency_features(one_layer(LayerKind::full), 0);
    FAIL() << "expected InvalidInput";
  } catch (const flashnas::InvalidInput& e) {
    EXPECT_EQ(e.field(), "prompt_len");
  }
}
