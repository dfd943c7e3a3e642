// flashnas evaluate-candidate: prune the backbone to a candidate architecture and
// report its evaluation NLL with its analytic cost. A thin wrapper over
// evaluate_candidate (engine/prune/evaluate_candidate.hpp), which the service's
// evaluate worker calls too.
#include <nlohmann/json.hpp>

#include <cstdint>
#include <cstdio>
#include <optional>

#include "cli/candidate_inputs.hpp"
#include "cli/commands.hpp"
#include "common/flags.hpp"
#include "engine/model/model_io.hpp"
#include "engine/prune/evaluate_candidate.hpp"
#include "engine/prune/prune_inputs.hpp"
#include "engine/util/error.hpp"

namespace flashnas::cli {

namespace {

std::vector<FlagSpec> evaluate_candidate_flags() {
  std::vector<FlagSpec> spec = candidate_input_flags();
  spec.insert(spec.end(), {
      {"eval", true, "evaluation text file"},
      {"eval-tokens", true, "evaluation tokens: BOS + encode(file), cut (default 16384)"},
      {"ctx", true, "evaluation window (default 256)"},
      {"json", false, "print one JSON object"},
      {"help", false, "show this help"},
  });
  return spec;
}

}  // namespace

int run_evaluate_candidate(const Args& args) {
  const std::vector<FlagSpec> spec = evaluate_candidate_flags();
  const Flags flags(args, spec);
  if (print_help_if_asked(flags, spec,
                          "evaluate-candidate --model M --arch A.json --calib FILE --eval FILE [--json]")) {
    return 0;
  }
  const std::string eval_text = read_text_file(flags.require("eval"), "--eval");
  const int64_t eval_tokens = flags.integer("eval-tokens", 16384, 2, int64_t{1} << 30);
  CandidateEvalOptions eval;
  eval.ctx = flags.integer("ctx", 256, 1, 1 << 20);

  const CandidateInputs in = load_candidate_inputs(flags);
  eval.threads = in.context->threads();
  eval.random_importance_seed = in.prune.random_importance_seed;
  const std::vector<int32_t> tokens = tokens_for_text(*in.backbone.tokenizer, eval_text, eval_tokens, "--eval");
  const CandidateResult r = evaluate_candidate(in.backbone, in.stats, *in.arch, tokens, eval, in.context.get());

  if (flags.has("json")) {
    std::printf("%s\n", candidate_result_to_json(r).dump().c_str());
  } else {
    std::printf("arch %s\n", candidate_arch_to_json(in.arch->arch()).dump().c_str());
    std::printf("calibration: %lld tokens%s\n", static_cast<long long>(in.stats.key.n_tokens),
                in.stats_from_cache ? " (cached)" : "");
    std::printf("eval NLL %.5f (perplexity %.3f) over %lld tokens, ctx %lld\n", r.eval_nll, r.eval_ppl,
                static_cast<long long>(r.eval_tokens), static_cast<long long>(eval.ctx));
    std::printf("params %lld (non-embedding %lld), %.0f FLOPs/token, %.0f KV bytes/token\n",
                static_cast<long long>(r.params), static_cast<long long>(r.non_embedding_params),
                r.flops_per_token, r.kv_cache_bytes_per_token);
    std::printf("prune + eval %.3f s\n", r.seconds);
  }
  return 0;
}

}  // namespace flashnas::cli
