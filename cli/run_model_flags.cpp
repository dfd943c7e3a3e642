// --model / --layer-types / --threads handling for generate and eval.
#include "cli/run_model_flags.hpp"

#include <filesystem>

#include "engine/model/arch_config.hpp"
#include "engine/model/model_io.hpp"
#include "engine/util/error.hpp"

namespace flashnas::cli {

std::vector<FlagSpec> run_model_flag_specs() {
  return {
      {"model", true,
       "checkpoint to run: a GGUF file or a Hugging Face directory (config.json + "
       "model.safetensors)"},
      {"layer-types", true,
       "override every layer's attention kind, e.g. full,skip,swa:16,full,skip (one per layer)"},
      {"threads", true, "worker threads including the caller (default 1)"},
  };
}

Model load_run_model(const Flags& flags) {
  const std::string path = flags.require("model");
  if (!std::filesystem::exists(path)) {
    throw InvalidInput(fmt::format("--model: no such file or directory '{}'", path), "--model");
  }
  Model model = load_model(path);  // recognises GGUF or safetensors by content
  if (!model.tokenizer) {
    throw InvalidInput(fmt::format("--model: '{}' has no tokenizer", path), "--model");
  }
  if (auto types = flags.get("layer-types")) {
    // A bare "swa" takes the model's own window when it has one.
    int64_t default_window = 0;
    for (const LayerConfig& l : model.config.layers) {
      if (l.kind == LayerKind::swa) default_window = l.window;
    }
    apply_layer_types(model.config, parse_layer_types(*types, default_window, "--layer-types"),
                      "--layer-types");
  }
  return model;
}

int threads_flag(const Flags& flags) {
  return static_cast<int>(flags.integer("threads", 1, 1, 256));
}

FlagSpec weights_flag_spec() {
  return {"weights", true, "f32 | q8_0: weight format of the matrix products (default f32)"};
}

WeightFormat weights_flag(const Flags& flags) {
  const auto text = flags.get("weights");
  return text ? parse_weight_format(*text, "--weights") : WeightFormat::f32;
}

}  // namespace flashnas::cli
