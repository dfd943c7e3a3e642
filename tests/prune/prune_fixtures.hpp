// Helpers shared by the pruning tests.
#pragma once

#include <vector>

#include "engine/model/model.hpp"
#include "engine/runtime/inference_session.hpp"

namespace flashnas::test {

// Logits at every position of one prefill of `tokens`: (T, V) row-major.
inline std::vector<float> all_logits(const Model& m, const std::vector<int32_t>& tokens) {
  RuntimeContext context;
  const int64_t T = static_cast<int64_t>(tokens.size());
  InferenceSession session(m, context, SessionOptions{T, T});
  PrefillOptions opt;
  opt.all_logits = true;
  auto logits = session.prefill(tokens, opt);
  return {logits.begin(), logits.end()};
}

}  // namespace flashnas::test
