// flashnas prune: cut the backbone down to a candidate architecture with
// calibrated importance and write it as safetensors + config.json or GGUF, with
// prune_plan.json saying which backbone layers, channels and neurons were kept.
#include <nlohmann/json.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "cli/commands.hpp"
#include "cli/flags.hpp"
#include "engine/model/arch_cost.hpp"
#include "engine/model/model_io.hpp"
#include "engine/prune/importance.hpp"
#include "engine/prune/prune_inputs.hpp"
#include "engine/prune/prune_to_arch.hpp"
#include "engine/util/error.hpp"

namespace flashnas::cli {

namespace {

const std::vector<FlagSpec> kPruneFlags = {
    {"model", true, "backbone checkpoint (.gguf or HF directory)"},
    {"arch", true, "candidate architecture JSON file"},
    {"calib", true, "calibration text file"},
    {"calib-tokens", true, "calibration tokens (default 8192)"},
    {"cache-dir", true, "directory for cached calibration statistics"},
    {"out", true, "output directory"},
    {"format", true, "safetensors (default) or gguf"},
    {"threads", true, "threads for the calibration forward (default 1)"},
    {"random-importance", true, "SEED: random scores instead of calibrated ones (baseline)"},
    {"help", false, "show this help"},
};

}  // namespace

int run_prune(const Args& args) {
  const Flags flags(args, kPruneFlags);
  if (flags.has("help")) {
    std::fprintf(stderr, "usage: flashnas prune --model M --arch A.json --calib FILE --out DIR\n%s",
                 Flags::usage(kPruneFlags).c_str());
    return 0;
  }
  const std::string model_path = flags.require("model");
  const std::string out_dir = flags.require("out");
  const ModelFormat format = parse_model_format(flags.get("format").value_or("safetensors"), "--format");
  const CandidateArch arch = load_candidate_arch(flags.require("arch"), "--arch");
  const std::string calib_path = flags.require("calib");
  CalibrationOptions calib;
  calib.max_tokens = flags.integer("calib-tokens", 8192, 2, int64_t{1} << 30);
  calib.threads = static_cast<int>(flags.integer("threads", 1, 1, 256));

  const Model backbone = load_model(model_path);
  validate_against_backbone(arch, backbone.config);  // fail before calibrating
  RuntimeContext context(RuntimeOptions{calib.threads, false});
  bool cached = false;
  const CalibrationStats stats = calibrate_from_files(
      backbone, model_path, calib_path, calib, flags.get("cache-dir").value_or(""), &context, &cached);

  const bool random = flags.has("random-importance");
  const int64_t seed = random ? flags.integer("random-importance", 0, 0, INT64_MAX) : 0;
  const ImportanceScores scores = random ? random_importance(backbone.config, static_cast<uint64_t>(seed))
                                         : importance_from_stats(stats, backbone.config);
  const PrunePlan plan = plan_pruning(backbone.config, scores, arch);
  const Model pruned = apply_prune_plan(backbone, arch, plan);

  std::filesystem::create_directories(out_dir);
  const std::string model_out = format == ModelFormat::gguf
                                    ? (std::filesystem::path(out_dir) / "model.gguf").string()
                                    : out_dir;
  save_model(pruned, model_out, format);

  nlohmann::json report = {
      {"arch", candidate_arch_to_json(arch)},
      {"arch_hash", candidate_arch_hash(arch)},
      {"format", std::string(model_format_name(format))},
      {"model", model_out},
      {"importance", random ? fmt::format("random:{}", seed) : "calibrated"},
      {"calibration",
       {{"backbone_sha256", stats.key.backbone_sha256},
        {"text_sha256", stats.key.text_sha256},
        {"n_tokens", stats.key.n_tokens},
        {"window", stats.key.window},
        {"from_cache", cached}}},
      {"kept_layers", plan.layers},
      {"kept_channels", plan.channels},
      {"kept_neurons", plan.neurons},
      {"params", cost_parameters(pruned.config)},
      {"non_embedding_params", cost_non_embedding_parameters(pruned.config)}};
  const auto plan_path = std::filesystem::path(out_dir) / "prune_plan.json";
  std::ofstream(plan_path) << report.dump(2) << "\n";
  report.erase("kept_channels");
  report.erase("kept_neurons");
  std::printf("%s\n", report.dump().c_str());
  return 0;
}

}  // namespace flashnas::cli
