// Prefill-then-decode generation loop (see generate.hpp).
#include "engine/runtime/generate.hpp"

#include <chrono>

#include "engine/util/error.hpp"

namespace flashnas {

namespace {

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

GenerateStats generate(InferenceSession& session, std::span<const int32_t> prompt,
                       const GenerateOptions& options, std::mt19937_64& rng,
                       const std::function<bool(int32_t)>& on_token) {
  if (options.max_tokens < 0) {
    throw InvalidInput(fmt::format("max_tokens must be >= 0, got {}", options.max_tokens),
                       "max_tokens");
  }
  const int64_t needed = session.position() + static_cast<int64_t>(prompt.size()) +
                         options.max_tokens;
  if (needed > session.max_positions() + 1) {  // the last sampled token is never decoded
    throw InvalidInput(fmt::format("prompt plus max_tokens needs {} positions, the session has {}",
                                   needed, session.max_positions()),
                       "max_tokens");
  }
  Sampler sampler(options.sampler);
  GenerateStats stats;
  stats.prompt_tokens = static_cast<int64_t>(prompt.size());
  auto start = std::chrono::steady_clock::now();
  std::span<const float> logits = session.prefill(prompt);
  stats.prefill_seconds = seconds_since(start);
  start = std::chrono::steady_clock::now();
  for (int64_t i = 0; i < options.max_tokens; ++i) {
    const int32_t token = sampler.sample(logits, rng);
    ++stats.generated_tokens;
    if (!on_token(token) || token == options.stop_token) break;
    if (i + 1 < options.max_tokens) logits = session.decode(token);
  }
  stats.decode_seconds = seconds_since(start);
  return stats;
}

}  // namespace flashnas
