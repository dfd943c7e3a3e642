// flashnas evaluate-candidate: prune the backbone to a candidate architecture and
// report its evaluation NLL with its analytic cost. A thin wrapper over
// evaluate_candidate (engine/prune/evaluate_candidate.hpp), which the service's
// evaluate worker calls too.
#include <nlohmann/json.hpp>

#include <cstdint>
#include <cstdio>
#include <optional>

#include "cli/commands.hpp"
#include "cli/flags.hpp"
#include "engine/model/model_io.hpp"
#include "engine/prune/evaluate_candidate.hpp"
#include "engine/prune/prune_inputs.hpp"
#include "engine/util/error.hpp"

namespace flashnas::cli {

namespace {

const std::vector<FlagSpec> kEvaluateCandidateFlags = {
    {"model", true, "backbone checkpoint (.gguf or HF directory)"},
    {"arch", true, "candidate architecture JSON file"},
    {"calib", true, "calibration text file"},
    {"calib-tokens", true, "calibration tokens (default 8192)"},
    {"eval", true, "evaluation text file"},
    {"eval-tokens", true, "evaluation tokens: BOS + encode(file), cut (default 16384)"},
    {"ctx", true, "evaluation window (default 256)"},
    {"threads", true, "threads (default 1)"},
    {"random-importance", true, "SEED: random scores instead of calibrated ones (baseline)"},
    {"cache-dir", true, "directory for cached calibration statistics"},
    {"json", false, "print one JSON object"},
    {"help", false, "show this help"},
};

}  // namespace

int run_evaluate_candidate(const Args& args) {
  const Flags flags(args, kEvaluateCandidateFlags);
  if (flags.has("help")) {
    std::fprintf(stderr,
                 "usage: flashnas evaluate-candidate --model M --arch A.json --calib FILE --eval FILE "
                 "[--json]\n%s",
                 Flags::usage(kEvaluateCandidateFlags).c_str());
    return 0;
  }
  const std::string model_path = flags.require("model");
  const CandidateArch arch = load_candidate_arch(flags.require("arch"), "--arch");
  const std::string calib_path = flags.require("calib");
  const std::string eval_text = read_text_file(flags.require("eval"), "--eval");
  CalibrationOptions calib;
  calib.max_tokens = flags.integer("calib-tokens", 8192, 2, int64_t{1} << 30);
  calib.threads = static_cast<int>(flags.integer("threads", 1, 1, 256));
  CandidateEvalOptions eval;
  eval.ctx = flags.integer("ctx", 256, 1, 1 << 20);
  eval.threads = calib.threads;
  if (flags.has("random-importance")) {
    eval.random_importance_seed =
        static_cast<uint64_t>(flags.integer("random-importance", 0, 0, INT64_MAX));
  }
  const int64_t eval_tokens = flags.integer("eval-tokens", 16384, 2, int64_t{1} << 30);

  const Model backbone = load_model(model_path);
  validate_against_backbone(arch, backbone.config);  // fail before calibrating
  if (!backbone.tokenizer) throw InvalidInput("the backbone has no tokenizer", "--model");
  RuntimeContext context(RuntimeOptions{calib.threads, false});
  bool cached = false;
  const CalibrationStats stats = calibrate_from_files(
      backbone, model_path, calib_path, calib, flags.get("cache-dir").value_or(""), &context, &cached);
  const std::vector<int32_t> tokens = tokens_for_text(*backbone.tokenizer, eval_text, eval_tokens, "--eval");
  const CandidateResult r = evaluate_candidate(backbone, stats, arch, tokens, eval, &context);

  if (flags.has("json")) {
    std::printf("%s\n", candidate_result_to_json(r).dump().c_str());
  } else {
    std::printf("arch %s\n", candidate_arch_to_json(arch).dump().c_str());
    std::printf("calibration: %lld tokens%s\n", static_cast<long long>(stats.key.n_tokens),
                cached ? " (cached)" : "");
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
