// Prune + evaluate one candidate and attach its analytic cost.
#include "engine/prune/evaluate_candidate.hpp"

#include <nlohmann/json.hpp>

#include <chrono>

#include "engine/model/arch_cost.hpp"
#include "engine/prune/prune_to_arch.hpp"
#include "engine/runtime/evaluate.hpp"
#include "engine/util/error.hpp"

namespace flashnas {

CandidateResult evaluate_pruned(const Model& candidate, const std::vector<int32_t>& eval_tokens,
                                const CandidateEvalOptions& options, RuntimeContext* context) {
  if (options.ctx < 1) {
    throw InvalidInput(fmt::format("ctx must be positive, got {}", options.ctx), "ctx");
  }
  const auto start = std::chrono::steady_clock::now();
  EvalOptions eval;
  eval.ctx = options.ctx;
  eval.threads = options.threads;
  const EvalResult r = evaluate_nll(candidate.config, candidate.weights, eval_tokens, eval, context);

  CandidateResult out;
  out.eval_nll = r.nll;
  out.eval_ppl = r.ppl;
  out.eval_tokens = r.tokens;
  out.params = cost_parameters(candidate.config);
  out.non_embedding_params = cost_non_embedding_parameters(candidate.config);
  out.flops_per_token = flops_per_token(candidate.config, options.ctx);
  out.kv_cache_bytes_per_token = kv_cache_bytes_per_token(candidate.config, options.ctx);
  out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return out;
}

CandidateResult evaluate_candidate(const Model& backbone, const CalibrationStats& stats,
                                   const BoundArch& arch,
                                   const std::vector<int32_t>& eval_tokens,
                                   const CandidateEvalOptions& options, RuntimeContext* context) {
  if (options.ctx < 1) {
    throw InvalidInput(fmt::format("ctx must be positive, got {}", options.ctx), "ctx");
  }
  const auto start = std::chrono::steady_clock::now();
  PruneOptions prune;
  prune.random_importance_seed = options.random_importance_seed;
  const Model candidate = prune_to_arch(backbone, stats, arch, prune);
  CandidateResult out = evaluate_pruned(candidate, eval_tokens, options, context);
  out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return out;
}

nlohmann::json candidate_result_to_json(const CandidateResult& r) {
  return {{"eval_nll", r.eval_nll},
          {"eval_ppl", r.eval_ppl},
          {"eval_tokens", r.eval_tokens},
          {"params", r.params},
          {"non_embedding_params", r.non_embedding_params},
          {"flops_per_token", r.flops_per_token},
          {"kv_cache_bytes_per_token", r.kv_cache_bytes_per_token},
          {"seconds", r.seconds}};
}

}  // namespace flashnas
