// flashnas prune: cut the backbone down to a candidate architecture with
// calibrated importance and write it as safetensors + config.json or GGUF, with
// prune_plan.json saying which backbone layers, channels and neurons were kept.
#include <nlohmann/json.hpp>

#include <cstdio>
#include <filesystem>

#include "cli/candidate_inputs.hpp"
#include "cli/commands.hpp"
#include "common/flags.hpp"
#include "engine/model/arch_cost.hpp"
#include "engine/model/model_io.hpp"
#include "engine/prune/prune_to_arch.hpp"
#include "engine/util/atomic_file.hpp"
#include "engine/util/error.hpp"

namespace flashnas::cli {

namespace {

std::vector<FlagSpec> prune_flags() {
  std::vector<FlagSpec> spec = candidate_input_flags();
  spec.insert(spec.end(), {
      {"out", true, "output directory"},
      {"format", true, "safetensors (default) or gguf"},
      {"dtype", true, "f32 (default), f16, bf16 or (gguf only) q8_0: encoding of the matrices"},
      {"help", false, "show this help"},
  });
  return spec;
}

}  // namespace

int run_prune(const Args& args) {
  const std::vector<FlagSpec> spec = prune_flags();
  const Flags flags(args, spec);
  if (print_help_if_asked(flags, spec, "flashnas prune --model M --arch A.json --calib FILE --out DIR")) return 0;
  const std::string out_dir = flags.require("out");
  const ModelFormat format = parse_model_format(flags.get("format").value_or("safetensors"), "--format");
  const TensorType dtype = parse_tensor_type(flags.get("dtype").value_or("f32"), "--dtype");
  if (dtype == TensorType::q8_0 && format != ModelFormat::gguf) {
    throw InvalidInput("--dtype: q8_0 needs --format gguf", "--dtype");
  }

  const CandidateInputs in = load_candidate_inputs(flags);
  const PrunePlan plan = plan_from_stats(in.backbone.config, in.stats, *in.arch, in.prune);
  const Model pruned = apply_prune_plan(in.backbone, *in.arch, plan);

  std::filesystem::create_directories(out_dir);
  const std::string model_out = format == ModelFormat::gguf
                                    ? (std::filesystem::path(out_dir) / "model.gguf").string()
                                    : out_dir;
  save_model(pruned, model_out, format, {.type = dtype});

  nlohmann::json report = {
      {"arch", candidate_arch_to_json(in.arch->arch())},
      {"arch_hash", candidate_arch_hash(in.arch->arch())},
      {"format", std::string(model_format_name(format))},
      {"model", model_out},
      {"importance", in.prune.random_importance_seed
                         ? fmt::format("random:{}", *in.prune.random_importance_seed)
                         : "calibrated"},
      {"calibration",
       {{"backbone_sha256", in.stats.key.backbone_sha256},
        {"text_sha256", in.stats.key.text_sha256},
        {"n_tokens", in.stats.key.n_tokens},
        {"window", in.stats.key.window},
        {"from_cache", in.stats_from_cache}}},
      {"kept_layers", plan.layers},
      {"kept_channels", plan.channels},
      {"kept_neurons", plan.neurons},
      {"params", cost_parameters(pruned.config)},
      {"non_embedding_params", cost_non_embedding_parameters(pruned.config)}};
  const auto plan_path = (std::filesystem::path(out_dir) / "prune_plan.json").string();
  write_file_atomically(plan_path, [&](std::ostream& out) { out << report.dump(2) << "\n"; }, "--out");
  report.erase("kept_channels");
  report.erase("kept_neurons");
  std::printf("%s\n", report.dump().c_str());
  return 0;
}

}  // namespace flashnas::cli
