// Small random-weight models for model-I/O tests (no downloads needed), and a
// bit-exact comparison of two models.
#pragma once

#include <gtest/gtest.h>

#include <cstring>
#include <fmt/format.h>

#include <random>

#include "engine/model/model.hpp"
#include "engine/model/tensor_names.hpp"
#include "engine/model/tokenizer.hpp"

namespace flashnas::test {

// The shape of the bundled stories260K model (5 layers, d 64, 8 heads, 4 KV
// heads, FFN 172, vocab 512, tied), without weights.
inline ArchConfig stories260k_config() {
  ArchConfig c;
  c.d_model = 64;
  c.n_heads = 8;
  c.n_kv_heads = 4;
  c.head_dim = 8;
  c.vocab_size = 512;
  c.tied_embeddings = true;
  c.layers.assign(5, LayerConfig{LayerKind::full, 0, 172});
  return c;
}

// A config exercising what pruning produces: per-layer FFN widths, all three
// layer kinds, NH*HS != C, grouped-query attention, an untied head.
inline ArchConfig small_pruned_config() {
  ArchConfig c;
  c.d_model = 32;
  c.n_heads = 4;
  c.n_kv_heads = 2;
  c.head_dim = 6;
  c.vocab_size = 40;
  c.rope_theta = 5000.0f;
  c.norm_eps = 1e-6f;
  c.context_length = 128;
  c.tied_embeddings = false;
  c.layers = {{LayerKind::full, 0, 64}, {LayerKind::swa, 8, 32}, {LayerKind::skip, 0, 48},
              {LayerKind::full, 0, 64}};
  return c;
}

// A tiny vocabulary: specials, all 256 byte tokens, a few pieces.
inline std::shared_ptr<const Tokenizer> tiny_tokenizer(int64_t vocab_size) {
  Vocabulary v;
  v.pieces = {"<unk>", "<s>", "</s>"};
  v.types = {TokenType::unknown, TokenType::control, TokenType::control};
  const char* words[] = {" ", "a", "b", " a", "ab", " ab"};
  for (const char* w : words) {
    if (static_cast<int64_t>(v.pieces.size()) >= vocab_size) break;
    v.pieces.emplace_back(w);
    v.types.push_back(TokenType::normal);
  }
  while (static_cast<int64_t>(v.pieces.size()) < vocab_size) {
    v.pieces.push_back(fmt::format("x{}", v.pieces.size()));
    v.types.push_back(TokenType::normal);
  }
  for (size_t i = 0; i < v.pieces.size(); ++i) v.scores.push_back(-static_cast<float>(i));
  return std::make_shared<const Tokenizer>(std::move(v));
}

inline Model random_model(const ArchConfig& config, uint32_t seed, bool with_tokenizer = true) {
  Model m;
  m.config = config;
  m.weights = allocate_weights(config);
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 0.5f);
  for (const TensorView& v : list_tensors(m.config, m.weights)) {
    for (int64_t i = 0; i < v.numel(); ++i) v.data[i] = normal(rng);
  }
  if (with_tokenizer) m.tokenizer = tiny_tokenizer(config.vocab_size);
  return m;
}

// Same config and bit-identical weights (and the same vocabulary when `tokenizer`).
inline void expect_same_model(const Model& a, const Model& b, bool tokenizer = true) {
  ASSERT_EQ(a.config, b.config);
  ArchConfig ca = a.config;
  auto va = list_tensors(ca, const_cast<ModelWeights&>(a.weights));
  auto vb = list_tensors(ca, const_cast<ModelWeights&>(b.weights));
  ASSERT_EQ(va.size(), vb.size());
  for (size_t i = 0; i < va.size(); ++i) {
    ASSERT_EQ(va[i].numel(), vb[i].numel());
    EXPECT_EQ(std::memcmp(va[i].data, vb[i].data, static_cast<size_t>(va[i].numel()) * 4), 0)
        << tensor_id_name(va[i].id) << ", layer " << va[i].layer;
  }
  if (tokenizer) {
    ASSERT_EQ(static_cast<bool>(a.tokenizer), static_cast<bool>(b.tokenizer));
    if (a.tokenizer) {
      EXPECT_EQ(a.tokenizer->vocabulary(), b.tokenizer->vocabulary());
    }
  }
}

}  // namespace flashnas::test
