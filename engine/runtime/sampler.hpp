// Sampler: picks the next token from logits. Temperature 0 is greedy (argmax,
// lowest id on ties); otherwise softmax(logits / temperature) restricted to the
// smallest set of most likely tokens whose mass reaches top_p (nucleus
// sampling). The random generator is owned by the caller, so a seed reproduces
// a generation exactly.
#pragma once

#include <cstdint>
#include <random>
#include <span>
#include <utility>
#include <vector>

namespace flashnas {

struct SamplerOptions {
  float temperature = 0.0f;  // >= 0; 0 = greedy
  float top_p = 1.0f;        // in (0, 1]
};

class Sampler {
 public:
  explicit Sampler(SamplerOptions options);  // throws InvalidInput on bad values
  int32_t sample(std::span<const float> logits, std::mt19937_64& rng);

 private:
  SamplerOptions options_;
  std::vector<std::pair<double, int32_t>> candidates_;  // (probability, token), reused
};

int32_t argmax(std::span<const float> logits);

}  // namespace flashnas
