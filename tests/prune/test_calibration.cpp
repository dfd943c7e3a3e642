// Calibration: statistics against a brute-force double-precision reference, the
// JSON artifact round trip, shape checks, and cache reuse.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <memory>

#include "engine/model/tokenizer.hpp"
#include "engine/prune/calibration.hpp"
#include "engine/runtime/evaluate.hpp"
#include "engine/runtime/synthetic_model.hpp"
#include "engine/util/error.hpp"
#include "tests/support/test_data.hpp"

namespace flashnas {
namespace {

// A byte-fallback vocabulary (<unk>, <s>, </s>, <0x00>..<0xFF>): any text encodes.
std::shared_ptr<const Tokenizer> byte_tokenizer() {
  Vocabulary v;
  for (const char* p : {"<unk>", "<s>", "</s>"}) v.pieces.push_back(p);
  for (int b = 0; b < 256; ++b) v.pieces.push_back(fmt::format("<0x{:02X}>", b));
  for (size_t i = 0; i < v.pieces.size(); ++i) {
    v.scores.push_back(0.0f);
    v.types.push_back(infer_token_type(static_cast<int32_t>(i), v.pieces[i]));
  }
  return std::make_shared<const Tokenizer>(std::move(v));
}

TEST(Calibration, MatchesBruteForceOnAnFfnOnlyLayer) {
  // Layer 0 is skip, so its FFN input is RMSNorm(embedding) and everything about
  // it can be recomputed here in double from the weights alone.
  ArchConfig c = llama_shape(2, 8, 2, 1, 12, 32);
  c.layers[0].kind = LayerKind::skip;
  const Model m = make_synthetic_model(c, 17);
  std::vector<int32_t> tokens;
  for (int i = 0; i < 50; ++i) tokens.push_back((i * 5 + 1) % 32);
  CalibrationOptions opt;
  opt.window = 16;  // 16 + 16 + 16 + 2
  const CalibrationStats s = run_calibration(m, tokens, opt);
  EXPECT_EQ(s.key.n_tokens, 50);

  const int64_t C = 8, FF = 12;
  const LayerWeights& lw = m.weights.layers[0];
  std::vector<double> energy(FF, 0.0), embd_energy(C, 0.0);
  double influence = 0.0;
  for (int32_t t : tokens) {
    const float* x = m.weights.tok_embd + t * C;
    double ss = 0;
    for (int64_t k = 0; k < C; ++k) ss += double(x[k]) * x[k];
    const double rstd = 1.0 / std::sqrt(ss / C + double(c.norm_eps));
    std::vector<double> xn(C), h(FF), out(C);
    for (int64_t k = 0; k < C; ++k) {
      xn[k] = x[k] * rstd * lw.ffn_norm[k];
      embd_energy[k] += double(x[k]) * x[k];
    }
    for (int64_t n = 0; n < FF; ++n) {
      double g = 0, u = 0;
      for (int64_t k = 0; k < C; ++k) {
        g += lw.w_gate[n * C + k] * xn[k];
        u += lw.w_up[n * C + k] * xn[k];
      }
      h[n] = g / (1.0 + std::exp(-g)) * u;
      energy[n] += h[n] * h[n];
    }
    double ab = 0, aa = 0, bb = 0;
    for (int64_t k = 0; k < C; ++k) {
      out[k] = x[k];
      for (int64_t n = 0; n < FF; ++n) out[k] += lw.w_down[k * FF + n] * h[n];
      ab += x[k] * out[k];
      aa += double(x[k]) * x[k];
      bb += out[k] * out[k];
    }
    influence += 1.0 - ab / std::sqrt(aa * bb);
  }
  const double T = static_cast<double>(tokens.size());
  for (int64_t n = 0; n < FF; ++n) EXPECT_NEAR(s.ffn_neuron_energy[0][n], energy[n] / T, 1e-4 * (1 + energy[n] / T));
  EXPECT_NEAR(s.block_influence[0], influence / T, 1e-5);
  EXPECT_EQ(s.attn_influence[0], 0.0);  // skip layer: no attention sub-block
  EXPECT_GT(s.attn_influence[1], 0.0);
  // The residual energy averages the embedding with the two block outputs, so it
  // is at least a third of the embedding's energy in every channel.
  for (int64_t k = 0; k < C; ++k) EXPECT_GE(s.residual_energy[k], embd_energy[k] / T / 3 - 1e-6);
}

TEST(Calibration, JsonRoundTripIsExactAndShapesAreChecked) {
  const Model m = make_synthetic_model(llama_shape(3, 8, 2, 1, 10, 32), 2);
  std::vector<int32_t> tokens(40);
  for (int i = 0; i < 40; ++i) tokens[i] = (i * 3) % 32;
  CalibrationStats s = run_calibration(m, tokens, CalibrationOptions{});
  s.key.backbone_sha256 = "ab";
  s.key.text_sha256 = "cd";
  const auto dir = test::scratch_dir("calibration_json");
  save_calibration_stats(s, (dir / "s.json").string());
  const CalibrationStats r = load_calibration_stats((dir / "s.json").string());
  EXPECT_EQ(calibration_stats_to_json(r).dump(), calibration_stats_to_json(s).dump());
  EXPECT_EQ(r.ffn_neuron_energy, s.ffn_neuron_energy);
  EXPECT_NO_THROW(r.check_matches(m.config));
  ArchConfig other = m.config;
  other.layers[1].d_ffn = 11;
  try {
    r.check_matches(other);
    FAIL() << "mismatched stats accepted";
  } catch (const InvalidInput& e) {
    EXPECT_EQ(e.field(), "calibration");
  }
  auto j = calibration_stats_to_json(s);
  j["residual_energy"].erase(0);
  EXPECT_THROW(calibration_stats_from_json(j), InvalidInput);
  EXPECT_THROW(load_calibration_stats((dir / "absent.json").string()), InvalidInput);
}

// The depth ranking against an independent reference: a layer whose output
// projections (wo, w_down) are zero passes the residual stream through
// unchanged, so "the model without layer l" is the same weights with those
// zeroed. Greedy elimination replayed that way must give the same order, and its
// first round the same leave-one-out NLL changes.
TEST(Calibration, LayerEliminationMatchesZeroedLayerReference) {
  const Model m = make_synthetic_model(llama_shape(4, 8, 2, 1, 12, 32), 5);
  std::vector<int32_t> tokens(48);
  for (int i = 0; i < 48; ++i) tokens[i] = (i * 7 + 3) % 32;
  CalibrationOptions opt;
  opt.window = 16;
  const CalibrationStats s = run_calibration(m, tokens, opt);

  auto nll_without = [&](const std::vector<int64_t>& removed) {
    Model z = make_synthetic_model(m.config, 5);  // same seed, same weights
    for (int64_t l : removed) {
      LayerWeights& lw = z.weights.layers[static_cast<size_t>(l)];
      std::memset(lw.wo, 0, sizeof(float) * static_cast<size_t>(m.config.d_model * m.config.q_dim()));
      std::memset(lw.w_down, 0, sizeof(float) * static_cast<size_t>(m.config.d_model * m.config.layers[l].d_ffn));
    }
    EvalOptions eval;
    eval.ctx = opt.window;
    return evaluate_nll(z.config, z.weights, tokens, eval).nll;
  };
  const double full = nll_without({});
  std::vector<int64_t> removed, expected;
  for (int round = 0; round < 3; ++round) {
    int64_t best = -1;
    double best_nll = 0;
    for (int64_t l = 0; l < 4; ++l) {
      if (std::find(removed.begin(), removed.end(), l) != removed.end()) continue;
      std::vector<int64_t> r = removed;
      r.push_back(l);
      const double nll = nll_without(r);
      if (round == 0) {
        EXPECT_NEAR(s.layer_removal_nll[static_cast<size_t>(l)], nll - full, 1e-4) << l;
      }
      if (best < 0 || nll < best_nll) {
        best = l;
        best_nll = nll;
      }
    }
    removed.push_back(best);
  }
  for (int64_t l = 0; l < 4; ++l) {
    if (std::find(removed.begin(), removed.end(), l) == removed.end()) removed.push_back(l);
  }
  EXPECT_EQ(s.layer_elimination_order, removed);

  // The artifact refuses an order that is not a permutation of the layers.
  auto j = calibration_stats_to_json(s);
  j["layer_elimination_order"] = {0, 0, 1, 2};
  EXPECT_THROW(calibration_stats_from_json(j), InvalidInput);
  j["layer_elimination_order"] = {0, 1, 2, 1e30};
  EXPECT_THROW(calibration_stats_from_json(j), InvalidInput);
}

TEST(Calibration, SecondRunLoadsTheCachedArtifact) {
  Model m = make_synthetic_model(llama_shape(2, 8, 2, 1, 10, 259), 8);
  m.tokenizer = byte_tokenizer();
  const auto dir = test::scratch_dir("calibration_cache");
  const CalibrationSource source{"0123456789abcdef0123", "Once upon a time there was a cat."};
  CalibrationOptions opt;
  opt.max_tokens = 20;
  opt.window = 8;
  bool cached = true;
  const CalibrationStats first = load_or_run_calibration(m, source, opt, dir.string(), nullptr, &cached);
  EXPECT_FALSE(cached);
  EXPECT_EQ(first.key.n_tokens, 20);
  EXPECT_EQ(first.key, calibration_key(m, source, opt));
  EXPECT_TRUE(std::filesystem::exists(calibration_cache_path(dir.string(), first.key)));
  const CalibrationStats second = load_or_run_calibration(m, source, opt, dir.string(), nullptr, &cached);
  EXPECT_TRUE(cached);
  EXPECT_EQ(calibration_stats_to_json(second).dump(), calibration_stats_to_json(first).dump());
  // Another text or token count is another key: computed, not loaded.
  opt.max_tokens = 19;
  load_or_run_calibration(m, source, opt, dir.string(), nullptr, &cached);
  EXPECT_FALSE(cached);
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir), {}), 2);
}

}  // namespace
}  // namespace flashnas
