// InferenceSession on tiny random-weight models: prefill against an
// independent double-precision reference, decode-with-cache against prefill
// (including sliding windows whose ring buffer wraps), chunked prefill,
// swa:W with W >= length equal to full, determinism across runs and thread
// counts, RoPE layouts under the equivalent row permutation, and the observer.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "engine/model/arch_config.hpp"
#include "engine/runtime/inference_session.hpp"
#include "engine/runtime/kernels.hpp"
#include "engine/runtime/synthetic_model.hpp"
#include "engine/util/error.hpp"
#include "tests/runtime/reference_forward.hpp"
#include "tests/runtime/runtime_fixtures.hpp"

namespace flashnas {
namespace {

// 4 layers, C 32, 4 heads sharing 2 kv heads (HS 8), uneven FFN widths, V 61.
ArchConfig tiny_config(const std::string& layer_types = "full,full,full,full") {
  ArchConfig c;
  c.d_model = 32;
  c.n_heads = 4;
  c.n_kv_heads = 2;
  c.head_dim = 8;
  c.vocab_size = 61;
  c.tied_embeddings = false;
  c.layers = {{LayerKind::full, 0, 40}, {LayerKind::full, 0, 24},
              {LayerKind::full, 0, 56}, {LayerKind::full, 0, 17}};
  apply_layer_types(c, parse_layer_types(layer_types, 0, "layer_types"), "layer_types");
  return c;
}

using test::random_tokens;

std::vector<float> prefill_all(const ArchConfig& c, const ModelWeights& w,
                               const std::vector<int32_t>& tokens, int threads = 1,
                               int64_t max_batch = 256) {
  RuntimeContext ctx({threads, false});
  InferenceSession s(c, w, ctx, {256, max_batch});
  auto logits = s.prefill(tokens, {true, nullptr});
  return {logits.begin(), logits.end()};
}

double max_abs_diff(std::span<const float> a, std::span<const float> b) {
  EXPECT_EQ(a.size(), b.size());
  double m = 0;
  for (size_t i = 0; i < a.size(); ++i) m = std::max(m, std::abs(double(a[i]) - b[i]));
  return m;
}

class LayerMix : public ::testing::TestWithParam<const char*> {};

TEST_P(LayerMix, PrefillMatchesDoublePrecisionReference) {
  Model m = make_synthetic_model(tiny_config(GetParam()), 7);
  const auto tokens = random_tokens(23, m.config.vocab_size, 1);
  const auto got = prefill_all(m.config, m.weights, tokens);
  const auto want = test::reference_logits(m.config, m.weights, tokens);
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) ASSERT_NEAR(got[i], want[i], 2e-4) << "index " << i;
}

TEST_P(LayerMix, DecodeWithCacheEqualsPrefill) {
  Model m = make_synthetic_model(tiny_config(GetParam()), 11);
  const auto tokens = random_tokens(21, m.config.vocab_size, 2);
  const auto all = prefill_all(m.config, m.weights, tokens);
  const int64_t V = m.config.vocab_size;
  // Decode from the first token, and also after a 5-token prefill (mixed path).
  for (int64_t start : {1, 5}) {
    RuntimeContext ctx({1, false});
    InferenceSession s(m, ctx, {64, 16});
    auto logits = s.prefill(std::span(tokens.data(), static_cast<size_t>(start)));
    for (int64_t t = start - 1; t < static_cast<int64_t>(tokens.size()); ++t) {
      if (t >= start) logits = s.decode(tokens[static_cast<size_t>(t)]);
      const std::span<const float> want(all.data() + t * V, static_cast<size_t>(V));
      ASSERT_LT(max_abs_diff(logits, want), 1e-4) << "position " << t << " start " << start;
    }
  }
}

TEST_P(LayerMix, ChunkedPrefillEqualsOnePrefill) {
  Model m = make_synthetic_model(tiny_config(GetParam()), 13);
  const auto tokens = random_tokens(40, m.config.vocab_size, 3);
  const auto whole = prefill_all(m.config, m.weights, tokens);
  const auto chunked = prefill_all(m.config, m.weights, tokens, 1, 7);
  EXPECT_LT(max_abs_diff(whole, chunked), 1e-4);
}

TEST_P(LayerMix, DeterministicPerThreadCountAndCloseAcross) {
  Model m = make_synthetic_model(tiny_config(GetParam()), 17);
  const auto tokens = random_tokens(64, m.config.vocab_size, 4);
  for (int threads : {1, 2}) {
    const auto a = prefill_all(m.config, m.weights, tokens, threads);
    const auto b = prefill_all(m.config, m.weights, tokens, threads);
    EXPECT_EQ(a, b) << threads << " threads";
  }
  EXPECT_LT(max_abs_diff(prefill_all(m.config, m.weights, tokens, 1),
                         prefill_all(m.config, m.weights, tokens, 2)),
            1e-4);
}

// Windows 3 and 5 are far shorter than the sequences, so the rings wrap.
INSTANTIATE_TEST_SUITE_P(Runtime, LayerMix,
                         ::testing::Values("full,full,full,full", "swa:3,full,swa:5,full",
                                           "full,skip,swa:3,skip", "skip,swa:1,full,swa:4"));

// Prefill for time to first token computes only the last position's logits;
// they must equal the last row of the all-logits prefill bit for bit (one
// batch or several chunks, 1 or 2 threads, a 1-token prompt).
TEST(Session, LastOnlyPrefillEqualsLastRowOfAllLogits) {
  Model m = make_synthetic_model(tiny_config("full,swa:3,skip,full"), 23);
  const int64_t V = m.config.vocab_size;
  for (int64_t n : {1, 2, 29}) {
    const auto tokens = random_tokens(n, V, 5);
    for (int threads : {1, 2}) {
      for (int64_t max_batch : {256, 7}) {
        const auto all = prefill_all(m.config, m.weights, tokens, threads, max_batch);
        RuntimeContext ctx({threads, false});
        InferenceSession s(m, ctx, {256, max_batch});
        const auto last = s.prefill(tokens);  // default: last position only
        ASSERT_EQ(last.size(), static_cast<size_t>(V));
        const std::vector<float> want(all.end() - V, all.end());
        EXPECT_EQ(std::vector<float>(last.begin(), last.end()), want)
            << n << " tokens, " << threads << " threads, batch " << max_batch;
      }
    }
  }
}

TEST(Session, WideWindowEqualsFull) {
  Model m = make_synthetic_model(tiny_config(), 19);
  const auto tokens = random_tokens(30, m.config.vocab_size, 5);
  const auto full = prefill_all(m.config, m.weights, tokens);
  for (const char* types : {"swa:30,swa:31,swa:100,full", "swa:30,swa:30,swa:30,swa:30"}) {
    ArchConfig c = tiny_config(types);
    EXPECT_EQ(full, prefill_all(c, m.weights, tokens)) << types;
  }
  // And a narrower window differs (the test can tell them apart).
  EXPECT_GT(max_abs_diff(full, prefill_all(tiny_config("swa:29,full,full,full"), m.weights, tokens)),
            1e-6);
}

TEST(Session, RopeHalfLayoutEqualsInterleavedUnderRowPermutation) {
  ArchConfig half = tiny_config("full,swa:4,full,full");
  half.rope_layout = RopeLayout::half;
  Model m = make_synthetic_model(half, 23);
  // Interleaved row 2i (2i+1) of each head is half-layout row i (i + HS/2).
  ArchConfig inter = half;
  inter.rope_layout = RopeLayout::interleaved;
  ModelWeights w = clone_weights(half, m.weights);
  const int64_t HS = half.head_dim, C = half.d_model;
  auto permute = [&](float* dst, const float* src, int64_t heads) {
    for (int64_t h = 0; h < heads; ++h)
      for (int64_t i = 0; i < HS / 2; ++i)
        for (int64_t k = 0; k < C; ++k) {
          dst[(h * HS + 2 * i) * C + k] = src[(h * HS + i) * C + k];
          dst[(h * HS + 2 * i + 1) * C + k] = src[(h * HS + i + HS / 2) * C + k];
        }
  };
  for (int64_t l = 0; l < half.n_layers(); ++l) {
    permute(w.layers[l].wq, m.weights.layers[l].wq, half.n_heads);
    permute(w.layers[l].wk, m.weights.layers[l].wk, half.n_kv_heads);
  }
  const auto tokens = random_tokens(17, half.vocab_size, 6);
  const auto a = prefill_all(half, m.weights, tokens);
  const auto b = prefill_all(inter, w, tokens);
  EXPECT_LT(max_abs_diff(a, b), 1e-4);
  // Without the permutation the layouts disagree.
  EXPECT_GT(max_abs_diff(a, prefill_all(inter, m.weights, tokens)), 1e-3);
}

TEST(Session, RefusesBadInputs) {
  Model m = make_synthetic_model(tiny_config(), 29);
  RuntimeContext ctx({1, false});
  InferenceSession s(m, ctx, {8, 8});
  EXPECT_THROW(s.decode(61), InvalidInput);
  EXPECT_THROW(s.decode(-1), InvalidInput);
  EXPECT_THROW(s.prefill(std::vector<int32_t>{}), InvalidInput);
  EXPECT_THROW(s.prefill(std::vector<int32_t>(9, 1)), InvalidInput);  // beyond capacity
  EXPECT_EQ(s.position(), 0);
  // A model pruned to skip cannot run that layer as attention.
  Model skip = make_synthetic_model(tiny_config("full,skip,full,full"), 31);
  EXPECT_THROW(InferenceSession(tiny_config(), skip.weights, ctx), InvalidInput);
}

TEST(Session, SlidingWindowCacheMemoryIndependentOfContext) {
  Model m = make_synthetic_model(tiny_config("swa:4,swa:4,skip,swa:4"), 37);
  RuntimeContext ctx({1, false});
  InferenceSession small(m, ctx, {64, 8});
  InferenceSession large(m, ctx, {4096, 8});
  EXPECT_EQ(small.kv_cache_bytes(), large.kv_cache_bytes());
  EXPECT_GT(small.kv_cache_bytes(), 0);
}

// Records what the observer sees and checks it against the forward pass's own algebra.
struct RecordingObserver : ForwardObserver {
  int64_t C = 0;
  std::vector<std::vector<float>> inputs, outputs;
  std::vector<int64_t> attention_layers, hidden_cols;
  std::vector<float> final_residual_copy, final_norm_copy;
  static std::vector<float> copy(const ActivationView& v) {
    return {v.data, v.data + v.rows * v.cols};
  }
  void layer_input(int64_t, const ActivationView& x) override { inputs.push_back(copy(x)); }
  void attention_residual(int64_t l, const ActivationView& in, const ActivationView&) override {
    attention_layers.push_back(l);
    EXPECT_EQ(copy(in), inputs.back());  // the attention input is the layer input
  }
  void ffn_hidden(int64_t, const ActivationView& h) override { hidden_cols.push_back(h.cols); }
  void layer_output(int64_t, const ActivationView& in, const ActivationView& out) override {
    EXPECT_EQ(copy(in), inputs.back());
    outputs.push_back(copy(out));
  }
  void final_residual(const ActivationView& x) override { final_residual_copy = copy(x); }
  void final_norm(const ActivationView& xn) override { final_norm_copy = copy(xn); }
};

TEST(Session, ObserverSeesConsistentActivationsAndChangesNothing) {
  Model m = make_synthetic_model(tiny_config("full,skip,swa:3,full"), 41);
  const auto tokens = random_tokens(12, m.config.vocab_size, 7);
  RecordingObserver obs;
  RuntimeContext ctx({1, false});
  InferenceSession s(m, ctx);
  auto observed = s.prefill(tokens, {true, &obs});
  const std::vector<float> with(observed.begin(), observed.end());
  EXPECT_EQ(with, prefill_all(m.config, m.weights, tokens));
  ASSERT_EQ(obs.inputs.size(), 4u);
  ASSERT_EQ(obs.outputs.size(), 4u);
  for (size_t l = 0; l + 1 < 4; ++l) EXPECT_EQ(obs.outputs[l], obs.inputs[l + 1]);
  EXPECT_EQ(obs.final_residual_copy, obs.outputs.back());
  EXPECT_EQ(obs.attention_layers, (std::vector<int64_t>{0, 2, 3}));
  EXPECT_EQ(obs.hidden_cols, (std::vector<int64_t>{40, 24, 56, 17}));
  // final_norm is rmsnorm(final residual) * out_norm.
  std::vector<float> want(obs.final_residual_copy.size());
  rmsnorm_forward(want.data(), obs.final_residual_copy.data(), m.weights.out_norm, 12,
                  m.config.d_model, m.config.norm_eps);
  EXPECT_EQ(want, obs.final_norm_copy);
}

}  // namespace
}  // namespace flashnas
