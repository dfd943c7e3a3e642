// What healing trains on: a token stream cut into windows, the seeded order
// they are drawn in, and the teacher's logits for each window (distillation),
// computed once and kept when memory allows, else on demand. Not the loss
// (loss.hpp), not the optimiser.
//
// Legend: T tokens per window (ctx), V vocab.
#pragma once

#include <cstdint>
#include <memory>
#include <random>
#include <vector>

#include "engine/model/model.hpp"
#include "engine/runtime/inference_session.hpp"
#include "engine/runtime/runtime_context.hpp"

namespace flashnas {

// Windows of T+1 tokens starting every T tokens (as the evaluation protocol
// cuts text): window i is tokens[i*T, i*T + T]; its first T tokens are the
// inputs, its last T the targets. Only whole windows are used.
class TokenWindows {
 public:
  // Throws InvalidInput (field "tokens") when fewer than T+1 tokens are given,
  // or (field "ctx") for T < 1.
  TokenWindows(std::vector<int32_t> tokens, int64_t ctx);

  int64_t count() const { return count_; }
  int64_t ctx() const { return ctx_; }
  const int32_t* inputs(int64_t i) const { return tokens_.data() + i * ctx_; }   // (T)
  const int32_t* targets(int64_t i) const { return tokens_.data() + i * ctx_ + 1; }  // (T)
  const std::vector<int32_t>& tokens() const { return tokens_; }

 private:
  std::vector<int32_t> tokens_;
  int64_t ctx_ = 0;
  int64_t count_ = 0;
};

// Draws window indices epoch by epoch, each epoch a fresh permutation from a
// std::mt19937_64 seeded once: the same seed gives the same sequence everywhere.
class WindowSampler {
 public:
  WindowSampler(int64_t count, uint64_t seed);
  int64_t next();
  int64_t epochs_started() const { return epoch_; }

 private:
  std::mt19937_64 rng_;
  std::vector<int64_t> order_;
  size_t pos_ = 0;
  int64_t epoch_ = 0;
};

// The teacher's logits (T, V) of each window: its forward pass through the
// runtime's InferenceSession (a fresh cache per window, as evaluation runs).
// With `cache` every window is computed in the constructor and kept
// (count * T * V floats), so all candidates healed on the same windows reuse
// them; otherwise each call computes the window into one buffer.
class TeacherLogits {
 public:
  TeacherLogits(const Model& teacher, const TokenWindows& windows, bool cache,
                RuntimeContext& context);

  // The logits of window i; valid until the next call (uncached) or for the
  // object's lifetime (cached).
  const float* logits(int64_t i);

  bool cached() const { return !cache_.empty(); }
  int64_t vocab_size() const { return teacher_.config.vocab_size; }
  int64_t bytes() const;  // the cache, or the session's buffers

  // Bytes a cache of these windows would take.
  static int64_t cache_bytes(const ArchConfig& teacher, int64_t windows, int64_t ctx);

 private:
  const Model& teacher_;
  const TokenWindows& windows_;
  RuntimeContext& context_;
  std::unique_ptr<InferenceSession> session_;
  std::vector<float> cache_;  // (count, T, V) when cached
};

}  // namespace flashnas
