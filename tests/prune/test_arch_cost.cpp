// arch_cost: parameter, FLOP and byte counts checked against counts done by hand
// for a tiny config with one layer of each kind, and against brute-force sums.
#include <gtest/gtest.h>

#include "engine/model/arch_cost.hpp"
#include "engine/util/error.hpp"

namespace flashnas {
namespace {

// C=4, NH=2, KVH=1, HS=2 (q_dim 4, kv_dim 2), V=10, tied.
// Layer 0 full FF 6, layer 1 swa W=3 FF 5, layer 2 skip FF 7.
ArchConfig tiny(bool tied = true) {
  ArchConfig c;
  c.d_model = 4;
  c.n_heads = 2;
  c.n_kv_heads = 1;
  c.head_dim = 2;
  c.vocab_size = 10;
  c.tied_embeddings = tied;
  c.layers = {{LayerKind::full, 0, 6}, {LayerKind::swa, 3, 5}, {LayerKind::skip, 0, 7}};
  return c;
}

TEST(ArchCost, ParametersByHand) {
  // attention weights per attn layer: wq 16 + wo 16 + wk 8 + wv 8 = 48, norm 4.
  // full: 52 + 4 + 72 = 128; swa: 52 + 4 + 60 = 116; skip: 4 + 84 = 88.
  // embedding 40 (tied), final norm 4: 40 + 4 + 128 + 116 + 88 = 376.
  EXPECT_EQ(cost_parameters(tiny()), 376);
  EXPECT_EQ(cost_non_embedding_parameters(tiny()), 336);
  EXPECT_EQ(cost_parameters(tiny(false)), 416);
  EXPECT_EQ(cost_non_embedding_parameters(tiny(false)), 336);
}

TEST(ArchCost, AttendedKeysPerKind) {
  const ArchConfig c = tiny();
  EXPECT_EQ(attended_keys(c, 0, 0), 1);
  EXPECT_EQ(attended_keys(c, 0, 9), 10);
  EXPECT_EQ(attended_keys(c, 1, 1), 2);
  EXPECT_EQ(attended_keys(c, 1, 9), 3);  // capped at W
  EXPECT_EQ(attended_keys(c, 2, 9), 0);  // skip
  // Closed-form prefill sums against brute force.
  for (int64_t layer = 0; layer < 3; ++layer) {
    for (int64_t P : {0, 1, 2, 3, 4, 7, 50}) {
      int64_t brute = 0;
      for (int64_t p = 0; p < P; ++p) brute += attended_keys(c, layer, p);
      EXPECT_EQ(attended_keys_prefill(c, layer, P), brute) << "layer " << layer << " P " << P;
    }
  }
}

TEST(ArchCost, FlopsByHand) {
  const ArchConfig c = tiny();
  // matmuls: 2 * (48 + 72 + 48 + 60 + 84) = 624; head 2 * 40 = 80.
  EXPECT_DOUBLE_EQ(layer_matmul_flops_per_token(c), 624.0);
  EXPECT_DOUBLE_EQ(head_flops_per_token(c), 80.0);
  // P = 5: full keys 1+2+3+4+5 = 15, swa 1+2+3+3+3 = 12; 16 FLOPs per key (4*NH*HS).
  EXPECT_DOUBLE_EQ(flops_per_token(c, 5), 624.0 + 80.0 + 27.0 * 16.0 / 5.0);
  EXPECT_DOUBLE_EQ(prefill_flops(c, 5), 5 * 624.0 + 80.0 + 27.0 * 16.0);
  ArchCostOptions every;
  every.prefill_logits_every_position = true;
  EXPECT_DOUBLE_EQ(prefill_flops(c, 5, every), 5 * (624.0 + 80.0) + 27.0 * 16.0);
  EXPECT_DOUBLE_EQ(prefill_flops(c, 0), 0.0);
  // Decode at context 5: full attends 6 keys, swa 3, skip 0.
  EXPECT_DOUBLE_EQ(decode_flops_per_token(c, 5), 624.0 + 80.0 + 9.0 * 16.0);
}

TEST(ArchCost, SkipLayerCostsNoAttention) {
  ArchConfig full = tiny();
  ArchConfig skipped = tiny();
  skipped.layers[0].kind = LayerKind::skip;
  // Dropping layer 0's attention removes 2*48 matmul FLOPs and its 16 per key.
  EXPECT_DOUBLE_EQ(layer_matmul_flops_per_token(full) - layer_matmul_flops_per_token(skipped), 96.0);
  EXPECT_DOUBLE_EQ(decode_flops_per_token(full, 100) - decode_flops_per_token(skipped, 100),
                   96.0 + 101.0 * 16.0);
  EXPECT_DOUBLE_EQ(kv_cache_bytes(full, 100) - kv_cache_bytes(skipped, 100), 100.0 * 16.0);
}

TEST(ArchCost, BytesByHand) {
  const ArchConfig c = tiny();
  // tied: non-embedding 336 + head 40 = 376 floats read per decode token.
  EXPECT_DOUBLE_EQ(weight_bytes_per_decode_token(c), 376.0 * 4);
  // untied: + one embedding row of 4.
  EXPECT_DOUBLE_EQ(weight_bytes_per_decode_token(tiny(false)), 380.0 * 4);
  ArchCostOptions half;
  half.weight_bytes_per_element = 2.0;
  half.kv_bytes_per_element = 2.0;
  EXPECT_DOUBLE_EQ(weight_bytes_per_decode_token(c, half), 376.0 * 2);
  // Per position: 2 * kv_dim 2 * 4 bytes = 16 on attention layers, 0 on skip.
  EXPECT_DOUBLE_EQ(kv_bytes_per_position(c, 0), 16.0);
  EXPECT_DOUBLE_EQ(kv_bytes_per_position(c, 1), 16.0);
  EXPECT_DOUBLE_EQ(kv_bytes_per_position(c, 2), 0.0);
  // P = 5: full holds 5, swa 3.
  EXPECT_DOUBLE_EQ(kv_cache_bytes(c, 5), 8.0 * 16.0);
  EXPECT_DOUBLE_EQ(kv_cache_bytes(c, 2), 4.0 * 16.0);
  EXPECT_DOUBLE_EQ(kv_cache_bytes_per_token(c, 5), 8.0 * 16.0 / 5.0);
  EXPECT_DOUBLE_EQ(kv_cache_bytes(c, 5, half), 8.0 * 8.0);
  // Decode at P = 5 reads 6 + 3 positions.
  EXPECT_DOUBLE_EQ(kv_bytes_read_per_decode(c, 5), 9.0 * 16.0);
}

TEST(ArchCost, SummaryMatchesPiecesAndRejectsBadContext) {
  const ArchConfig c = tiny();
  const ArchCost r = arch_cost(c, 7);
  EXPECT_EQ(r.params, 376);
  EXPECT_DOUBLE_EQ(r.flops_per_token, flops_per_token(c, 7));
  EXPECT_DOUBLE_EQ(r.kv_bytes_read_per_decode, kv_bytes_read_per_decode(c, 7));
  try {
    arch_cost(c, 0);
    FAIL() << "context 0 accepted";
  } catch (const InvalidInput& e) {
    EXPECT_EQ(e.field(), "context");
  }
  EXPECT_THROW(prefill_flops(c, -1), InvalidInput);
}

}  // namespace
}  // namespace flashnas
