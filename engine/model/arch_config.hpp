// ArchConfig: the full hyperparameters of a runnable Llama-family model, including
// what pruning produces (per-layer FFN width, per-layer attention kind, head_dim
// independent of d_model). Not the weights (model_weights.hpp), not run state.
//
// Dimension legend used across the engine:
//   T tokens, C d_model, NH heads, KVH kv heads, HS head size, FF FFN width,
//   L layers, V vocab.
#pragma once

#include <nlohmann/json_fwd.hpp>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace flashnas {

// How a layer mixes tokens.
//   full: causal attention over all previous positions.
//   swa:  sliding-window attention; query i sees keys i-W < j <= i.
//   skip: no attention sub-block at all (no norm, no weights, no KV cache);
//         the layer runs only its FFN sub-block.
enum class LayerKind : uint8_t { full, swa, skip };

std::string_view layer_kind_name(LayerKind kind);  // "full" | "swa" | "skip"

// RoPE rotates pairs of query/key dimensions. Checkpoint formats disagree on
// which dimensions pair up, so the config records it and the runtime honours it.
enum class RopeLayout : uint8_t {
  interleaved,  // pairs (2i, 2i+1): GGUF and llama2.c ("adjacent pairs")
  half,         // pairs (i, i + HS/2): Hugging Face LlamaForCausalLM
};

struct LayerConfig {
  LayerKind kind = LayerKind::full;
  int64_t window = 0;  // swa only: attended positions including the query itself
  int64_t d_ffn = 0;   // FF of this layer
};

struct ArchConfig {
  int64_t d_model = 0;     // C
  int64_t n_heads = 0;     // NH
  int64_t n_kv_heads = 0;  // KVH; NH must be a multiple of it (grouped-query attention)
  int64_t head_dim = 0;    // HS; NH*HS need not equal C
  int64_t vocab_size = 0;  // V
  std::vector<LayerConfig> layers;  // L entries

  float rope_theta = 10000.0f;
  RopeLayout rope_layout = RopeLayout::interleaved;
  float norm_eps = 1e-5f;
  bool tied_embeddings = false;    // output head shares the token embedding
  int64_t context_length = 2048;   // trained context (informational; not a hard limit)

  int64_t n_layers() const { return static_cast<int64_t>(layers.size()); }
  int64_t q_dim() const { return n_heads * head_dim; }      // NH*HS
  int64_t kv_dim() const { return n_kv_heads * head_dim; }  // KVH*HS

  // Throws InvalidInput naming the first bad field (e.g. "layers[2].window").
  void validate() const;

  bool operator==(const ArchConfig&) const = default;
};
inline bool operator==(const LayerConfig& a, const LayerConfig& b) {
  return a.kind == b.kind && a.window == b.window && a.d_ffn == b.d_ffn;
}

// Parameter counts, following what the weights really hold: skip layers have no
// attention tensors; a tied output head is counted once.
int64_t count_parameters(const ArchConfig& config);
int64_t count_embedding_parameters(const ArchConfig& config);  // token embedding (+ untied head)

// --layer-types / layer_types lists: "full,skip,swa:16". A bare "swa" takes
// `default_window`, which must then be positive. Throws InvalidInput naming
// `field` and the bad entry.
struct LayerTypeSpec {
  LayerKind kind = LayerKind::full;
  int64_t window = 0;
};
LayerTypeSpec parse_layer_type(std::string_view text, int64_t default_window,
                               const std::string& field);
std::vector<LayerTypeSpec> parse_layer_types(std::string_view comma_list, int64_t default_window,
                                             const std::string& field);
std::string format_layer_types(const ArchConfig& config);  // inverse of parse_layer_types

// Overrides every layer's attention kind; the list must have one entry per layer.
void apply_layer_types(ArchConfig& config, const std::vector<LayerTypeSpec>& types,
                       const std::string& field);

// JSON form used by `flashnas info --json`, exported configs and the service.
nlohmann::json arch_config_to_json(const ArchConfig& config);
ArchConfig arch_config_from_json(const nlohmann::json& j);  // validates

}  // namespace flashnas
