// Windowed next-token NLL evaluation (see evaluate.hpp).
#include "engine/runtime/evaluate.hpp"

#include <chrono>
#include <cmath>
#include <optional>

#include "engine/model/tokenizer.hpp"
#include "engine/runtime/inference_session.hpp"
#include "engine/runtime/kernels.hpp"
#include "engine/util/error.hpp"

namespace flashnas {

std::vector<int32_t> tokenize_eval_text(const Tokenizer& tokenizer, std::string_view text,
                                        int64_t max_tokens) {
  std::string normalized;
  normalized.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '\r') {
      normalized += text[i];
    } else if (i + 1 >= text.size() || text[i + 1] != '\n') {
      normalized += '\n';  // a lone CR ends a line too
    }
  }
  std::vector<int32_t> tokens = tokenizer.encode(normalized, /*bos=*/true);
  if (max_tokens > 0 && static_cast<int64_t>(tokens.size()) > max_tokens) {
    tokens.resize(static_cast<size_t>(max_tokens));
  }
  return tokens;
}

EvalResult evaluate_nll(const Model& model, const std::vector<int32_t>& tokens,
                        const EvalOptions& options) {
  return evaluate_nll(model.config, model.weights, tokens, options, nullptr);
}

EvalResult evaluate_nll(const ArchConfig& config, const ModelWeights& weights,
                        const std::vector<int32_t>& tokens, const EvalOptions& options,
                        RuntimeContext* context) {
  if (options.ctx < 1) {
    throw InvalidInput(fmt::format("ctx must be >= 1, got {}", options.ctx), "ctx");
  }
  const int64_t N = static_cast<int64_t>(tokens.size());
  if (N < 2) {
    throw InvalidInput(fmt::format("evaluation needs at least 2 tokens, got {}", N), "tokens");
  }
  std::optional<RuntimeContext> own_context;
  if (!context) context = &own_context.emplace(RuntimeOptions{options.threads, true});
  InferenceSession session(config, weights, *context,
                           SessionOptions{options.ctx, options.ctx, options.weights});
  const int64_t V = config.vocab_size;
  const auto start = std::chrono::steady_clock::now();
  double total = 0.0;
  EvalResult result;
  for (int64_t s = 0; s + 1 < N; s += options.ctx) {
    const int64_t n = std::min(options.ctx + 1, N - s);  // window tokens s .. s+n-1
    session.reset();
    PrefillOptions prefill{true, options.observer};
    // Inputs are the first n-1 tokens; row t of the logits predicts token s+t+1.
    const std::span<const float> logits =
        session.prefill(std::span<const int32_t>(tokens.data() + s, static_cast<size_t>(n - 1)),
                        prefill);
    for (int64_t t = 0; t + 1 < n; ++t) {
      const float* row = logits.data() + t * V;
      const int32_t target = tokens[static_cast<size_t>(s + t + 1)];
      if (target < 0 || target >= V) {
        throw InvalidInput(fmt::format("token {} at index {} is outside the vocabulary [0, {})",
                                       target, s + t + 1, V),
                           "tokens");
      }
      total += log_sum_exp(row, V) - static_cast<double>(row[target]);
    }
    result.tokens += n - 1;
    ++result.windows;
  }
  result.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  result.nll = total / static_cast<double>(result.tokens);
  result.ppl = std::exp(result.nll);
  return result;
}

}  // namespace flashnas
