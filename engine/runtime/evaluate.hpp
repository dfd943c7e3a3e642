// evaluate_nll: the quality measure of flashnas (`flashnas eval`, pruning,
// the service): mean negative log-likelihood in nats per predicted token.
// Protocol (shared/data/README.md): windows of ctx+1 tokens starting every ctx
// tokens; within a window every token after the first is predicted from those
// before it (each window starts with an empty cache); the mean runs over all
// predicted tokens. Log-softmax is computed stably and summed in double.
// Turning a text file into tokens is tokenize_eval_text below.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "engine/model/arch_config.hpp"
#include "engine/model/model.hpp"
#include "engine/model/model_weights.hpp"
#include "engine/runtime/forward_observer.hpp"
#include "engine/runtime/runtime_context.hpp"
#include "engine/runtime/weight_matrix.hpp"

namespace flashnas {

class Tokenizer;

// The protocol's tokens for a text: line ends normalised to "\n" ("\r\n" and a
// lone "\r", as a text-mode reader does; the reference values in
// shared/data/README.md were computed that way: on the CRLF validation sample,
// keeping the "\r" bytes would raise the all-full NLL from 1.7267 to 1.8703),
// then BOS + encode(text), cut to max_tokens (<= 0: no cut).
std::vector<int32_t> tokenize_eval_text(const Tokenizer& tokenizer, std::string_view text,
                                        int64_t max_tokens);

struct EvalOptions {
  int64_t ctx = 256;                    // window length (predicted tokens per full window)
  int threads = 1;                      // used when no context is passed
  ForwardObserver* observer = nullptr;  // sees every window's forward pass (calibration)
  WeightFormat weights = WeightFormat::f32;  // q8_0: quality under Q8_0 weights (see SessionOptions)
};

struct EvalResult {
  double nll = 0.0;      // mean NLL in nats per predicted token
  double ppl = 0.0;      // exp(nll)
  int64_t tokens = 0;    // predicted tokens
  int64_t windows = 0;
  double seconds = 0.0;  // wall time of the forward passes
};

// Throws InvalidInput (field "ctx" or "tokens") for ctx < 1, fewer than two
// tokens or ids outside the vocabulary.
EvalResult evaluate_nll(const Model& model, const std::vector<int32_t>& tokens,
                        const EvalOptions& options);

// Same, for a config that differs from the weights' own (e.g. other layer
// kinds) and/or an existing runtime context (null: one is made with
// options.threads).
EvalResult evaluate_nll(const ArchConfig& config, const ModelWeights& weights,
                        const std::vector<int32_t>& tokens, const EvalOptions& options,
                        RuntimeContext* context = nullptr);

}  // namespace flashnas
