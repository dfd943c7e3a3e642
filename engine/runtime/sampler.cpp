// Greedy, temperature and nucleus (top-p) sampling (see sampler.hpp).
#include "engine/runtime/sampler.hpp"

#include <algorithm>
#include <cmath>

#include "engine/util/error.hpp"

namespace flashnas {

Sampler::Sampler(SamplerOptions options) : options_(options) {
  if (!(options.temperature >= 0.0f) || !std::isfinite(options.temperature)) {
    throw InvalidInput(fmt::format("temperature must be >= 0, got {}", options.temperature),
                       "temperature");
  }
  if (!(options.top_p > 0.0f && options.top_p <= 1.0f)) {
    throw InvalidInput(fmt::format("top_p must be in (0, 1], got {}", options.top_p), "top_p");
  }
}

int32_t argmax(std::span<const float> logits) {
  FLASHNAS_CHECK(!logits.empty(), "no logits to choose from");
  return static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
}

int32_t Sampler::sample(std::span<const float> logits, std::mt19937_64& rng) {
  if (options_.temperature == 0.0f) return argmax(logits);
  const double max = *std::max_element(logits.begin(), logits.end());
  candidates_.resize(logits.size());
  double total = 0.0;
  for (size_t i = 0; i < logits.size(); ++i) {
    const double p = std::exp((logits[i] - max) / options_.temperature);
    candidates_[i] = {p, static_cast<int32_t>(i)};
    total += p;
  }
  size_t n = candidates_.size();
  double mass = total;
  if (options_.top_p < 1.0f) {
    // Most likely first (ties by token id, so the order is deterministic).
    std::sort(candidates_.begin(), candidates_.end(),
              [](const auto& a, const auto& b) { return a.first > b.first || (a.first == b.first && a.second < b.second); });
    mass = 0.0;
    for (n = 0; n < candidates_.size();) {
      mass += candidates_[n++].first;
      if (mass >= options_.top_p * total) break;
    }
  }
  // u uniform in [0, mass) from the top 53 bits (portable across standard libraries).
  const double u = static_cast<double>(rng() >> 11) * 0x1.0p-53 * mass;
  double cumulative = 0.0;
  for (size_t i = 0; i < n; ++i) {
    cumulative += candidates_[i].first;
    if (u < cumulative) return candidates_[i].second;
  }
  return candidates_[n - 1].second;  // rounding left u at the very end
}

}  // namespace flashnas
