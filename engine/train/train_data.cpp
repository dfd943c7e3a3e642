// Token windows, their seeded order and the teacher's logits (see train_data.hpp).
#include "engine/train/train_data.hpp"

#include <algorithm>
#include <cstring>
#include <numeric>

#include "engine/util/error.hpp"

namespace flashnas {

TokenWindows::TokenWindows(std::vector<int32_t> tokens, int64_t ctx)
    : tokens_(std::move(tokens)), ctx_(ctx) {
  if (ctx_ < 1) throw InvalidInput(fmt::format("ctx must be positive, got {}", ctx_), "ctx");
  const int64_t n = static_cast<int64_t>(tokens_.size());
  count_ = n > 0 ? (n - 1) / ctx_ : 0;
  if (count_ < 1) {
    throw InvalidInput(fmt::format("{} training tokens do not fill one window of {} + 1", n, ctx_),
                       "tokens");
  }
}

WindowSampler::WindowSampler(int64_t count, uint64_t seed)
    : rng_(seed), order_(static_cast<size_t>(count)) {
  FLASHNAS_CHECK(count > 0, "no windows to sample");
  pos_ = order_.size();  // the first next() starts epoch 1
}

int64_t WindowSampler::next() {
  if (pos_ == order_.size()) {
    std::iota(order_.begin(), order_.end(), int64_t{0});
    // Fisher-Yates with rng_() % n (not std::shuffle, whose draws are
    // implementation-defined), so the order is the same with every library.
    for (size_t i = order_.size(); i > 1; --i) {
      std::swap(order_[i - 1], order_[static_cast<size_t>(rng_() % i)]);
    }
    pos_ = 0;
    ++epoch_;
  }
  return order_[pos_++];
}

TeacherLogits::TeacherLogits(const Model& teacher, const TokenWindows& windows, bool cache,
                             RuntimeContext& context)
    : teacher_(teacher), windows_(windows), context_(context) {
  SessionOptions options;
  options.max_positions = windows.ctx();
  options.max_batch = windows.ctx();
  session_ = std::make_unique<InferenceSession>(teacher_, context_, options);
  if (!cache) return;
  const int64_t per_window = windows.ctx() * vocab_size();
  cache_.resize(static_cast<size_t>(windows.count() * per_window));
  for (int64_t i = 0; i < windows.count(); ++i) {
    session_->reset();
    const auto logits = session_->prefill({windows.inputs(i), static_cast<size_t>(windows.ctx())},
                                          PrefillOptions{true});
    std::memcpy(cache_.data() + i * per_window, logits.data(), logits.size() * sizeof(float));
  }
  session_.reset();  // the cache is all the teacher is needed for
}

const float* TeacherLogits::logits(int64_t i) {
  FLASHNAS_CHECK(i >= 0 && i < windows_.count(), "window {} outside [0, {})", i, windows_.count());
  if (cached()) return cache_.data() + i * windows_.ctx() * vocab_size();
  session_->reset();
  return session_
      ->prefill({windows_.inputs(i), static_cast<size_t>(windows_.ctx())}, PrefillOptions{true})
      .data();
}

int64_t TeacherLogits::cache_bytes(const ArchConfig& teacher, int64_t windows, int64_t ctx) {
  return windows * ctx * teacher.vocab_size * static_cast<int64_t>(sizeof(float));
}

int64_t TeacherLogits::bytes() const {
  if (cached()) return static_cast<int64_t>(cache_.size() * sizeof(float));
  return windows_.ctx() * vocab_size() * static_cast<int64_t>(sizeof(float)) +
         (session_ ? session_->kv_cache_bytes() : 0);
}

}  // namespace flashnas
