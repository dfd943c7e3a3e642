// Pruning on tiny synthetic models: identity pruning is exact, validation errors
// name the candidate's field, tied heads stay tied, and the importance ranking
// keeps exactly what a constructed model makes important.
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "engine/prune/calibration.hpp"
#include "engine/prune/importance.hpp"
#include "engine/prune/prune_to_arch.hpp"
#include "engine/runtime/inference_session.hpp"
#include "engine/runtime/synthetic_model.hpp"
#include "engine/util/error.hpp"

#include "tests/prune/prune_fixtures.hpp"

namespace flashnas {
namespace {

// 5 layers, C 16, NH 2 (HS 8), KVH 1, FF 24, V 64.
ArchConfig small_config(bool tied = false) {
  ArchConfig c = llama_shape(5, 16, 2, 1, 24, 64);
  c.tied_embeddings = tied;
  return c;
}

std::vector<int32_t> some_tokens(int64_t n, int64_t vocab) {
  std::vector<int32_t> t;
  for (int64_t i = 0; i < n; ++i) t.push_back(static_cast<int32_t>((i * 7 + i / 3) % vocab));
  return t;
}

using test::all_logits;

CalibrationStats calibrate(const Model& m, int64_t n_tokens = 96) {
  CalibrationOptions opt;
  opt.window = 32;
  return run_calibration(m, some_tokens(n_tokens, m.config.vocab_size), opt);
}

std::string prune_error_field(const Model& m, const CandidateArch& a) {
  try {
    prune_to_arch(m, calibrate(m), bind_arch(a, m.config));
  } catch (const InvalidInput& e) {
    return e.field();
  }
  return "";
}

CandidateArch candidate(int64_t layers, int64_t d_model, int64_t d_ffn) {
  CandidateArch a;
  a.n_layers = layers;
  a.d_model = d_model;
  a.d_ffn.assign(static_cast<size_t>(layers), d_ffn);
  a.layer_types.assign(static_cast<size_t>(layers), LayerKind::full);
  return a;
}

TEST(Prune, BackboneOwnArchitectureIsBitIdentical) {
  for (bool tied : {false, true}) {
    const Model m = make_synthetic_model(small_config(tied), 11);
    const Model p = prune_to_arch(m, calibrate(m), bind_arch(backbone_as_candidate(m.config), m.config));
    ASSERT_EQ(p.config, m.config);
    ASSERT_EQ(p.weights.n_floats, m.weights.n_floats);
    EXPECT_EQ(0, std::memcmp(p.weights.storage.get(), m.weights.storage.get(),
                             static_cast<size_t>(m.weights.n_floats) * sizeof(float)));
    const auto tokens = some_tokens(40, 64);
    EXPECT_EQ(all_logits(p, tokens), all_logits(m, tokens)) << "tied " << tied;
  }
}

TEST(Prune, ValidationErrorsNameTheField) {
  ArchConfig c = small_config();
  c.layers[1].d_ffn = 32;  // one wide layer: the backbone-wide bound is 32
  const Model m = make_synthetic_model(c, 3);
  EXPECT_EQ(prune_error_field(m, candidate(6, 16, 8)), "n_layers");
  EXPECT_EQ(prune_error_field(m, candidate(2, 17, 8)), "d_model");
  EXPECT_EQ(prune_error_field(m, candidate(2, 16, 33)), "d_ffn[0]");
  // 30 fits the widest layer but not every kept layer: with all 5 layers kept,
  // position 0 is backbone layer 0 of width 24.
  CandidateArch a = candidate(5, 16, 24);
  a.d_ffn[0] = 30;
  EXPECT_EQ(prune_error_field(m, a), "d_ffn[0]");
  a.d_ffn[0] = 24;
  a.d_ffn[1] = 30;  // backbone layer 1 is 32 wide: fine
  EXPECT_EQ(prune_error_field(m, a), "");
  a.layer_types.pop_back();
  EXPECT_EQ(prune_error_field(m, a), "layer_types");

  // A backbone whose layer 2 is skip cannot supply attention there.
  ArchConfig s = small_config();
  s.layers[2].kind = LayerKind::skip;
  const Model ms = make_synthetic_model(s, 4);
  CandidateArch all = backbone_as_candidate(s);
  EXPECT_EQ(prune_error_field(ms, all), "");
  all.layer_types[2] = LayerKind::full;
  EXPECT_EQ(prune_error_field(ms, all), "layer_types[2]");
}

TEST(Prune, TiedHeadStaysTiedAndChannelsAreConsistent) {
  const Model m = make_synthetic_model(small_config(true), 5);
  CandidateArch a = candidate(3, 10, 12);
  a.layer_types = {LayerKind::full, LayerKind::skip, LayerKind::swa};
  a.sliding_window = 4;
  const ImportanceScores scores = random_importance(m.config, 99);
  const BoundArch bound = bind_arch(a, m.config);
  const PrunePlan plan = plan_pruning(m.config, scores, bound);
  const Model p = apply_prune_plan(m, bound, plan);
  EXPECT_TRUE(p.config.tied_embeddings);
  EXPECT_EQ(p.weights.output, p.weights.tok_embd);
  EXPECT_EQ(p.config.layers[2].window, 4);
  EXPECT_EQ(p.weights.layers[1].wq, nullptr);  // skip drops attention
  const int64_t C = m.config.d_model, C2 = a.d_model;
  for (int64_t v = 0; v < m.config.vocab_size; ++v) {
    for (int64_t j = 0; j < C2; ++j) {
      ASSERT_EQ(p.weights.tok_embd[v * C2 + j], m.weights.tok_embd[v * C + plan.channels[j]]);
    }
  }
  // Layer 2 of the candidate: kept backbone layer plan.layers[2]; check a down
  // projection entry (row = channel, column = neuron) and a wq column.
  const LayerWeights& src = m.weights.layers[static_cast<size_t>(plan.layers[2])];
  const int64_t FF = m.config.layers[0].d_ffn, FF2 = 12;
  for (int64_t j = 0; j < C2; ++j) {
    for (int64_t n = 0; n < FF2; ++n) {
      ASSERT_EQ(p.weights.layers[2].w_down[j * FF2 + n],
                src.w_down[plan.channels[j] * FF + plan.neurons[2][n]]);
    }
    ASSERT_EQ(p.weights.layers[2].wq[5 * C2 + j], src.wq[5 * C + plan.channels[j]]);
    ASSERT_EQ(p.weights.layers[2].attn_norm[j], src.attn_norm[plan.channels[j]]);
  }
  // Untied: the head is cut separately from the embedding.
  const Model u = make_synthetic_model(small_config(false), 5);
  const Model pu = prune_to_arch(u, calibrate(u), bind_arch(candidate(2, 8, 8), u.config));
  EXPECT_FALSE(pu.config.tied_embeddings);
  EXPECT_NE(pu.weights.output, pu.weights.tok_embd);
}

TEST(Prune, ImportanceKeepsWhatTheConstructedModelMakesImportant) {
  Model m = make_synthetic_model(small_config(), 21);
  const ArchConfig& c = m.config;
  const int64_t C = c.d_model, FF = c.layers[0].d_ffn;
  // Layers 1 and 3 become identities (attention and FFN outputs zero): their
  // block influence is exactly 0. (Which layers survive is decided by the loss,
  // which random weights do not make meaningful: PruneStories tests that.)
  for (int64_t l : {1, 3}) {
    LayerWeights& lw = m.weights.layers[static_cast<size_t>(l)];
    std::memset(lw.wo, 0, sizeof(float) * static_cast<size_t>(C * c.q_dim()));
    std::memset(lw.w_down, 0, sizeof(float) * static_cast<size_t>(C * FF));
  }
  // Channels 3, 7 and 12 dominate the residual stream.
  for (int64_t v = 0; v < c.vocab_size; ++v) {
    for (int64_t ch : {3, 7, 12}) m.weights.tok_embd[v * C + ch] *= 50.0f;
  }
  // Neurons 2 and 19 of layer 2 (the middle kept layer) carry 20x larger h.
  for (int64_t n : {2, 19}) {
    for (int64_t k = 0; k < C; ++k) m.weights.layers[2].w_up[n * C + k] *= 20.0f;
  }
  const CalibrationStats stats = calibrate(m, 128);
  EXPECT_NEAR(stats.block_influence[1], 0.0, 1e-12);
  EXPECT_NEAR(stats.block_influence[3], 0.0, 1e-12);
  EXPECT_GT(stats.block_influence[2], 1e-3);
  const PrunePlan plan =
      plan_pruning(c, importance_from_stats(stats, c), bind_arch(candidate(3, 3, 2), c));
  EXPECT_EQ(plan.channels, (std::vector<int64_t>{3, 7, 12}));
  EXPECT_EQ(plan.neurons[1], (std::vector<int64_t>{2, 19}));

  // The random baseline is deterministic in its seed and ignores the stats.
  const PrunePlan r1 = plan_pruning(c, random_importance(c, 7), bind_arch(candidate(3, 3, 2), c));
  const PrunePlan r2 = plan_pruning(c, random_importance(c, 7), bind_arch(candidate(3, 3, 2), c));
  const PrunePlan r3 = plan_pruning(c, random_importance(c, 8), bind_arch(candidate(3, 3, 2), c));
  EXPECT_EQ(r1.channels, r2.channels);
  EXPECT_EQ(r1.neurons, r2.neurons);
  EXPECT_TRUE(r1.channels != r3.channels || r1.layers != r3.layers || r1.neurons != r3.neurons);
}

TEST(Prune, TopKKeepsOriginalOrderAndBreaksTiesLow) {
  EXPECT_EQ(top_k_indices({0.5, 2.0, 1.0, 2.0, -1.0}, 3), (std::vector<int64_t>{1, 2, 3}));
  EXPECT_EQ(top_k_indices({1.0, 1.0, 1.0}, 2), (std::vector<int64_t>{0, 1}));
  EXPECT_EQ(top_k_indices({1.0}, 0), (std::vector<int64_t>{}));
}

}  // namespace
}  // namespace flashnas
