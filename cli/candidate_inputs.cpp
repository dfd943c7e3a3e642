// Shared inputs of the pruning commands (see candidate_inputs.hpp).
#include "cli/candidate_inputs.hpp"

#include "engine/model/model_io.hpp"
#include "engine/prune/calibration.hpp"
#include "engine/prune/prune_inputs.hpp"
#include "engine/util/error.hpp"

namespace flashnas::cli {

std::vector<FlagSpec> candidate_input_flags() {
  return {
      {"model", true, "backbone checkpoint (.gguf or HF directory)"},
      {"arch", true, "candidate architecture JSON file"},
      {"calib", true, "calibration text file"},
      {"calib-tokens", true, "calibration tokens (default 8192)"},
      {"cache-dir", true, "directory for cached calibration statistics"},
      {"threads", true, "threads (default 1)"},
      {"random-importance", true, "SEED: random scores instead of calibrated ones (baseline)"},
  };
}

CandidateInputs load_candidate_inputs(const Flags& flags) {
  const std::string model_path = flags.require("model");
  CandidateInputs in;
  const CandidateArch arch = load_candidate_arch(flags.require("arch"), "--arch");
  const std::string calib_path = flags.require("calib");
  CalibrationOptions calib;
  calib.max_tokens = flags.integer("calib-tokens", 8192, 2, int64_t{1} << 30);
  calib.threads = static_cast<int>(flags.integer("threads", 1, 1, 256));
  if (flags.has("random-importance")) {
    in.prune.random_importance_seed = static_cast<uint64_t>(flags.integer("random-importance", 0, 0, INT64_MAX));
  }

  in.backbone = load_model(model_path);
  in.arch = bind_arch(arch, in.backbone.config, "--arch");  // fail before calibrating
  if (!in.backbone.tokenizer) throw InvalidInput("the backbone has no tokenizer", "--model");
  in.context = std::make_unique<RuntimeContext>(RuntimeOptions{calib.threads, false});
  in.stats = calibrate_from_files(in.backbone, model_path, calib_path, calib, flags.get("cache-dir").value_or(""),
                                  in.context.get(), &in.stats_from_cache);
  return in;
}

}  // namespace flashnas::cli
