// evaluate_nll follows the windowed protocol of shared/data/README.md: checked
// against the double-precision reference forward run window by window, plus
// input validation; generate() drives greedy decoding like argmax over
// reference logits.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "engine/runtime/evaluate.hpp"
#include "engine/runtime/generate.hpp"
#include "engine/runtime/synthetic_model.hpp"
#include "engine/util/error.hpp"
#include "tests/runtime/reference_forward.hpp"
#include "tests/runtime/runtime_fixtures.hpp"

namespace flashnas {
namespace {

ArchConfig small_config() {
  ArchConfig c;
  c.d_model = 24;
  c.n_heads = 3;
  c.n_kv_heads = 1;
  c.head_dim = 8;
  c.vocab_size = 40;
  c.tied_embeddings = true;
  c.layers = {{LayerKind::full, 0, 32}, {LayerKind::swa, 4, 20}, {LayerKind::skip, 0, 28}};
  return c;
}

using test::random_tokens;

// The protocol written out directly: windows [s, s+ctx] every ctx tokens.
double reference_nll(const Model& m, const std::vector<int32_t>& tokens, int64_t ctx,
                     int64_t* predicted) {
  const int64_t V = m.config.vocab_size, N = static_cast<int64_t>(tokens.size());
  double total = 0;
  *predicted = 0;
  for (int64_t s = 0; s + 1 < N; s += ctx) {
    const int64_t end = std::min(N, s + ctx + 1);
    std::vector<int32_t> window(tokens.begin() + s, tokens.begin() + end - 1);
    const auto logits = test::reference_logits(m.config, m.weights, window);
    for (int64_t t = 0; t < static_cast<int64_t>(window.size()); ++t) {
      double mx = -1e300, z = 0;
      for (int64_t i = 0; i < V; ++i) mx = std::max(mx, logits[t * V + i]);
      for (int64_t i = 0; i < V; ++i) z += std::exp(logits[t * V + i] - mx);
      total += mx + std::log(z) - logits[t * V + tokens[s + t + 1]];
      ++*predicted;
    }
  }
  return total / static_cast<double>(*predicted);
}

TEST(Evaluate, MatchesReferenceProtocol) {
  Model m = make_synthetic_model(small_config(), 3);
  // 27 tokens, ctx 8: windows at 0, 8, 16 (9 tokens each) and 24 (3 tokens) -> 26 predicted.
  const auto tokens = random_tokens(27, m.config.vocab_size, 9);
  int64_t predicted = 0;
  const double want = reference_nll(m, tokens, 8, &predicted);
  for (int threads : {1, 2}) {
    const EvalResult r = evaluate_nll(m, tokens, {8, threads, nullptr});
    EXPECT_EQ(r.tokens, 26);
    EXPECT_EQ(predicted, 26);
    EXPECT_EQ(r.windows, 4);
    EXPECT_NEAR(r.nll, want, 1e-5);
    EXPECT_DOUBLE_EQ(r.ppl, std::exp(r.nll));
  }
  // Exactly ctx+1 tokens is one window; ctx+2 adds a 2-token window.
  EXPECT_EQ(evaluate_nll(m, random_tokens(9, 40, 1), {8, 1, nullptr}).windows, 1);
  EXPECT_EQ(evaluate_nll(m, random_tokens(10, 40, 1), {8, 1, nullptr}).windows, 2);
}

TEST(Evaluate, RefusesBadInputs) {
  Model m = make_synthetic_model(small_config(), 3);
  EXPECT_THROW(evaluate_nll(m, {1}, {8, 1, nullptr}), InvalidInput);
  EXPECT_THROW(evaluate_nll(m, {1, 2, 3}, {0, 1, nullptr}), InvalidInput);
  EXPECT_THROW(evaluate_nll(m, {1, 2, 40}, {8, 1, nullptr}), InvalidInput);
  EXPECT_THROW(evaluate_nll(m, {1, 2, 3}, {8, 0, nullptr}), InvalidInput);
}

TEST(Generate, GreedyFollowsReferenceArgmax) {
  Model m = make_synthetic_model(small_config(), 5);
  const std::vector<int32_t> prompt = {1, 7, 3};
  RuntimeContext ctx({1, false});
  InferenceSession session(m, ctx, {32, 8});
  std::mt19937_64 rng(0);
  std::vector<int32_t> out;
  const GenerateStats stats = generate(session, prompt, {10, {0.0f, 1.0f}, -1}, rng, [&](int32_t t) {
    out.push_back(t);
    return true;
  });
  EXPECT_EQ(stats.generated_tokens, 10);
  ASSERT_EQ(out.size(), 10u);
  std::vector<int32_t> seq = prompt;
  for (int32_t t : out) {
    const auto logits = test::reference_logits(m.config, m.weights, seq);
    const int64_t V = m.config.vocab_size;
    const auto last = logits.begin() + (static_cast<int64_t>(seq.size()) - 1) * V;
    EXPECT_EQ(t, std::max_element(last, last + V) - last);
    seq.push_back(t);
  }
  // A stop token ends generation right after it is first emitted.
  const int32_t stop = out[5];
  const size_t first_stop = static_cast<size_t>(std::find(out.begin(), out.end(), stop) - out.begin());
  session.reset();
  std::vector<int32_t> stopped;
  generate(session, prompt, {10, {0.0f, 1.0f}, stop}, rng, [&](int32_t t) {
    stopped.push_back(t);
    return true;
  });
  EXPECT_EQ(stopped, std::vector<int32_t>(out.begin(), out.begin() + first_stop + 1));
}

}  // namespace
}  // namespace flashnas
