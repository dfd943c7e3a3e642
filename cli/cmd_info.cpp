// `flashnas info --model PATH [--json]`: a model's config, parameter counts and
// per-layer table (kind, window, FFN width, parameters). Reads any format
// load_model accepts; does not run the model.
#include <cstdio>
#include <nlohmann/json.hpp>

#include "cli/commands.hpp"
#include "common/flags.hpp"
#include "engine/model/model_io.hpp"
#include "engine/model/tensor_names.hpp"
#include "engine/model/tokenizer.hpp"
#include "engine/util/error.hpp"

namespace flashnas::cli {

namespace {

// Parameters each layer's weights hold, summed from the tensor list itself
// (skip layers have no attention tensors).
std::vector<int64_t> layer_parameters(const ArchConfig& c) {
  std::vector<int64_t> n(c.layers.size(), 0);
  for (const TensorView& v : list_tensor_shapes(c)) {
    if (v.layer >= 0) n[static_cast<size_t>(v.layer)] += v.numel();
  }
  return n;
}

nlohmann::json info_json(const Model& m) {
  const ArchConfig& c = m.config;
  nlohmann::json layers = nlohmann::json::array();
  const std::vector<int64_t> params = layer_parameters(c);
  for (size_t l = 0; l < c.layers.size(); ++l) {
    const LayerConfig& layer = c.layers[l];
    layers.push_back({{"index", l},
                      {"kind", layer_kind_name(layer.kind)},
                      {"window", layer.kind == LayerKind::swa ? nlohmann::json(layer.window) : nullptr},
                      {"d_ffn", layer.d_ffn},
                      {"params", params[l]}});
  }
  const int64_t total = count_parameters(c);
  return {{"config", arch_config_to_json(c)},
          {"params", {{"total", total}, {"non_embedding", total - count_embedding_parameters(c)}}},
          {"tokenizer", m.tokenizer ? nlohmann::json(m.tokenizer->vocab_size()) : nullptr},
          {"layers", std::move(layers)}};
}

void print_text(const Model& m) {
  const ArchConfig& c = m.config;
  const int64_t total = count_parameters(c);
  std::printf("layers %lld, d_model %lld, heads %lld, kv heads %lld, head_dim %lld, vocab %lld\n",
              static_cast<long long>(c.n_layers()), static_cast<long long>(c.d_model),
              static_cast<long long>(c.n_heads), static_cast<long long>(c.n_kv_heads),
              static_cast<long long>(c.head_dim), static_cast<long long>(c.vocab_size));
  std::printf("rope theta %g (%s layout), norm eps %g, %s embeddings, context %lld\n",
              static_cast<double>(c.rope_theta),
              c.rope_layout == RopeLayout::interleaved ? "interleaved" : "half",
              static_cast<double>(c.norm_eps), c.tied_embeddings ? "tied" : "untied",
              static_cast<long long>(c.context_length));
  std::printf("parameters %lld total, %lld non-embedding\n", static_cast<long long>(total),
              static_cast<long long>(total - count_embedding_parameters(c)));
  std::printf("tokenizer %s\n",
              m.tokenizer ? fmt::format("{} tokens", m.tokenizer->vocab_size()).c_str() : "none");
  std::printf("\n%5s  %-5s  %7s  %7s  %10s\n", "layer", "kind", "window", "d_ffn", "params");
  const std::vector<int64_t> params = layer_parameters(c);
  for (size_t l = 0; l < c.layers.size(); ++l) {
    const LayerConfig& layer = c.layers[l];
    const std::string window = layer.kind == LayerKind::swa ? std::to_string(layer.window) : "-";
    std::printf("%5zu  %-5s  %7s  %7lld  %10lld\n", l, std::string(layer_kind_name(layer.kind)).c_str(),
                window.c_str(), static_cast<long long>(layer.d_ffn),
                static_cast<long long>(params[l]));
  }
}

}  // namespace

int run_info(const Args& args) {
  const std::vector<FlagSpec> spec = {
      {"model", true, "a .gguf file or a directory with config.json + model.safetensors"},
      {"json", false, "print the config, parameter counts and layers as JSON"},
      {"help", false, "show this help"},
  };
  const Flags flags(args, spec);
  if (print_help_if_asked(flags, spec, "flashnas info --model PATH [--json]")) return 0;
  const Model model = load_model(flags.require("model"));
  if (flags.has("json")) {
    std::printf("%s\n", info_json(model).dump(2).c_str());
  } else {
    print_text(model);
  }
  return 0;
}

}  // namespace flashnas::cli
