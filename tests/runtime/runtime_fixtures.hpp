// Fixtures shared by the runtime suites.
#pragma once

#include <cstdint>
#include <random>
#include <vector>

namespace flashnas::test {

// n tokens drawn uniformly from [0, vocab) with a fixed seed.
inline std::vector<int32_t> random_tokens(int64_t n, int64_t vocab, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<int32_t> t(static_cast<size_t>(n));
  for (auto& v : t) v = static_cast<int32_t>(rng() % static_cast<uint64_t>(vocab));
  return t;
}

// n floats drawn uniformly from [-scale, scale] with a fixed seed.
inline std::vector<float> random_floats(size_t n, uint64_t seed, float scale = 1.0f) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> d(-scale, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

}  // namespace flashnas::test
