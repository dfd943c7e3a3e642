// evaluate_candidate: the quality and cost of one search candidate, pruned from
// the backbone with calibrated (or random) importance and evaluated with the
// engine's NLL protocol; FLOPs and cache figures come from arch_cost at the
// evaluation context. The library call behind `flashnas evaluate-candidate` and
// the service's evaluate worker. Not healing (continued pretraining, engine/train/).
#pragma once

#include <nlohmann/json_fwd.hpp>

#include <cstdint>
#include <optional>
#include <vector>

#include "engine/model/bound_arch.hpp"
#include "engine/model/model.hpp"
#include "engine/prune/calibration_stats.hpp"
#include "engine/runtime/runtime_context.hpp"

namespace flashnas {

struct CandidateEvalOptions {
  int64_t ctx = 256;  // evaluation window (and the context of the cost figures)
  int threads = 1;    // when no runtime context is passed
  std::optional<uint64_t> random_importance_seed;  // baseline: random scores
};

struct CandidateResult {
  double eval_nll = 0.0;   // mean NLL in nats per predicted token
  double eval_ppl = 0.0;   // exp(eval_nll)
  int64_t eval_tokens = 0; // predicted tokens
  int64_t params = 0;
  int64_t non_embedding_params = 0;
  double flops_per_token = 0.0;           // arch_cost flops_per_token at ctx
  double kv_cache_bytes_per_token = 0.0;  // arch_cost at ctx, F32 cache
  double seconds = 0.0;                   // wall time of pruning + evaluation
};

// eval_tokens: BOS + encode(text), already cut (tokens_for_text in calibration.hpp).
// Throws InvalidInput naming the candidate's field when the kept layers cannot supply it.
CandidateResult evaluate_candidate(const Model& backbone, const CalibrationStats& stats,
                                   const BoundArch& arch,
                                   const std::vector<int32_t>& eval_tokens,
                                   const CandidateEvalOptions& options,
                                   RuntimeContext* context = nullptr);

// The same figures for a candidate already pruned (the service prunes once,
// evaluates zero-shot, heals, evaluates again). seconds: the evaluation only.
CandidateResult evaluate_pruned(const Model& candidate, const std::vector<int32_t>& eval_tokens,
                                const CandidateEvalOptions& options,
                                RuntimeContext* context = nullptr);

// {"eval_nll","eval_ppl","eval_tokens","params","non_embedding_params",
//  "flops_per_token","kv_cache_bytes_per_token","seconds"}
nlohmann::json candidate_result_to_json(const CandidateResult& result);

}  // namespace flashnas
