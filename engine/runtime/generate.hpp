// Text generation loop over token ids: prefill the prompt, then sample and
// decode one token at a time. Tokenisation and printing belong to the caller
// (the CLI, the service); this only drives a session and a sampler.
#pragma once

#include <cstdint>
#include <functional>
#include <random>
#include <span>

#include "engine/runtime/inference_session.hpp"
#include "engine/runtime/sampler.hpp"

namespace flashnas {

struct GenerateOptions {
  int64_t max_tokens = 256;  // generated tokens at most (the prompt not counted)
  SamplerOptions sampler;
  int32_t stop_token = -1;   // stop after sampling this id (e.g. EOS); -1 = never
};

struct GenerateStats {
  int64_t prompt_tokens = 0;
  int64_t generated_tokens = 0;
  double prefill_seconds = 0.0;
  double decode_seconds = 0.0;  // sampling and decode of every token after the first
};

// Appends the prompt to the session (normally fresh) and generates. Calls
// on_token(id) for each generated token; returning false stops early. The
// session must have room for prompt + max_tokens positions.
GenerateStats generate(InferenceSession& session, std::span<const int32_t> prompt,
                       const GenerateOptions& options, std::mt19937_64& rng,
                       const std::function<bool(int32_t)>& on_token);

}  // namespace flashnas
