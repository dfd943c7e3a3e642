// The real stories260K checkpoint against the reference values in
// shared/data/README.md (computed by an independent double-precision
// implementation): windowed NLL with all-full and mixed layer kinds, and the
// greedy continuation of "Once upon a time".
#include <gtest/gtest.h>

#include <fstream>
#include <random>
#include <sstream>

#include "engine/model/gguf_reader.hpp"
#include "engine/model/tokenizer.hpp"
#include "engine/runtime/evaluate.hpp"
#include "engine/runtime/generate.hpp"
#include "tests/support/test_data.hpp"

namespace flashnas {
namespace {

class Stories260K : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    model_ = new Model(load_gguf(test::data_path("stories260K.gguf")));
  }
  static void TearDownTestSuite() { delete model_; }
  static std::vector<int32_t> valid_tokens() {
    return tokenize_eval_text(*model_->tokenizer,
                              test::read_file(test::data_path("tinystories-valid-sample.txt")), 4097);
  }
  static Model* model_;
};
Model* Stories260K::model_ = nullptr;

TEST_F(Stories260K, NllAllFullMatchesReference) {
  for (int threads : {1, 2}) {
    const EvalResult r = evaluate_nll(*model_, valid_tokens(), {256, threads, nullptr});
    EXPECT_EQ(r.tokens, 4096);
    EXPECT_NEAR(r.nll, 1.72674, 2e-3) << threads << " threads";
  }
}

TEST_F(Stories260K, NllMixedLayerKindsMatchesReference) {
  ArchConfig config = model_->config;
  apply_layer_types(config, parse_layer_types("full,skip,swa:16,full,skip", 0, "layer_types"),
                    "layer_types");
  const EvalResult r = evaluate_nll(config, model_->weights, valid_tokens(), {256, 1, nullptr});
  EXPECT_EQ(r.tokens, 4096);
  EXPECT_NEAR(r.nll, 2.46980, 2e-3);
}

// Q8_0 weights cost little quality: NLL within 0.01 of F32 (and not equal:
// the matrices really were quantised; w_down, K = FF = 172, stays F32).
TEST_F(Stories260K, NllWithQ8_0WeightsCloseToF32) {
  const auto tokens = valid_tokens();
  const EvalResult f32 = evaluate_nll(*model_, tokens, {256, 1, nullptr, WeightFormat::f32});
  const EvalResult q8 = evaluate_nll(*model_, tokens, {256, 1, nullptr, WeightFormat::q8_0});
  EXPECT_EQ(q8.tokens, 4096);
  EXPECT_NEAR(q8.nll, f32.nll, 0.01);
  EXPECT_NE(q8.nll, f32.nll);
  RuntimeContext ctx({1, false});
  InferenceSession session(*model_, ctx, {16, 16, WeightFormat::q8_0});
  const int64_t L = model_->config.n_layers();
  EXPECT_EQ(session.runtime_weights().q8_0_matrices, 1 + 6 * L);  // tied head + 6 per layer
  EXPECT_EQ(session.runtime_weights().f32_matrices, L);           // every w_down
}

TEST_F(Stories260K, EvalTextNormalisesLineEndsAndCuts) {
  const Tokenizer& tok = *model_->tokenizer;
  EXPECT_EQ(tokenize_eval_text(tok, "a\r\nb\rc\n", 0), tok.encode("a\nb\nc\n"));
  EXPECT_EQ(tokenize_eval_text(tok, "Once upon a time", 3), (std::vector<int32_t>{1, 403, 407}));
}

TEST_F(Stories260K, GreedyContinuationMatchesReference) {
  const std::string want =
      ", there was a little girl named Lily. She loved to play outside in the park. One day, "
      "she saw a big, red ball. She wanted to play with it, but it was too high.\nLily";
  const Tokenizer& tok = *model_->tokenizer;
  const std::vector<int32_t> prompt = tok.encode("Once upon a time");
  // Q8_0 too: its decode runs the int8 GEMV on quantised activations.
  for (WeightFormat weights : {WeightFormat::f32, WeightFormat::q8_0}) {
    RuntimeContext ctx({1, false});
    InferenceSession session(*model_, ctx, {256, 64, weights});
    std::mt19937_64 rng(0);
    std::string text;
    int32_t prev = prompt.back();
    generate(session, prompt, {100, {0.0f, 1.0f}, -1}, rng, [&](int32_t t) {
      text += tok.decode_piece(prev, t);
      prev = t;
      return text.size() < want.size();
    });
    EXPECT_EQ(text.substr(0, want.size()), want) << weight_format_name(weights);
  }
}

}  // namespace
}  // namespace flashnas
