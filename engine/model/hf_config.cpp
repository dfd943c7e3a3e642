// config.json parsing and writing for LlamaForCausalLM (see hf_config.hpp).
#include "engine/model/hf_config.hpp"

#include <algorithm>

#include "engine/util/error.hpp"

namespace flashnas {

namespace {

constexpr int64_t kMaxDim = 1 << 20;

[[noreturn]] void bad(const std::string& field, const std::string& reason) {
  throw InvalidInput(fmt::format("config.json: {} {}", field, reason), field);
}

bool present(const nlohmann::json& j, const char* key) {
  return j.contains(key) && !j.at(key).is_null();
}

int64_t as_int(const nlohmann::json& v, const std::string& field, int64_t min, int64_t max) {
  if (!v.is_number_integer()) bad(field, "must be an integer");
  const int64_t x = v.is_number_unsigned() && v.get<uint64_t>() > uint64_t{INT64_MAX}
                        ? INT64_MAX
                        : v.get<int64_t>();
  if (x < min || x > max) bad(field, fmt::format("= {} is outside [{}, {}]", x, min, max));
  return x;
}

int64_t get_int(const nlohmann::json& j, const char* key, int64_t min, int64_t max,
                std::optional<int64_t> fallback = std::nullopt) {
  if (!present(j, key)) {
    if (!fallback) bad(key, "is required");
    return *fallback;
  }
  return as_int(j.at(key), key, min, max);
}

double get_number(const nlohmann::json& j, const char* key, double fallback) {
  if (!present(j, key)) return fallback;
  if (!j.at(key).is_number()) bad(key, "must be a number");
  return j.at(key).get<double>();
}

// An integer broadcast to every layer, or a list with one entry per layer.
std::vector<int64_t> per_layer(const nlohmann::json& v, const char* key, int64_t L, int64_t min,
                               int64_t max) {
  if (!v.is_array()) return std::vector<int64_t>(static_cast<size_t>(L), as_int(v, key, min, max));
  if (static_cast<int64_t>(v.size()) != L) bad(key, fmt::format("must have {} entries", L));
  std::vector<int64_t> out;
  for (size_t i = 0; i < v.size(); ++i) {
    out.push_back(as_int(v[i], fmt::format("{}[{}]", key, i), min, max));
  }
  return out;
}

void check_supported(const nlohmann::json& j) {
  bool llama = j.value("model_type", std::string()) == "llama";
  if (present(j, "architectures")) {
    const auto& a = j.at("architectures");
    if (!a.is_array()) bad("architectures", "must be a list");
    llama = llama || std::find(a.begin(), a.end(), "LlamaForCausalLM") != a.end();
  }
  if (!llama) bad("architectures", "must name LlamaForCausalLM (or model_type llama)");
  if (present(j, "rope_scaling")) bad("rope_scaling", "is not supported");
  if (present(j, "hidden_act") && j.at("hidden_act") != "silu") bad("hidden_act", "must be silu");
  for (const char* key : {"attention_bias", "mlp_bias"}) {
    if (present(j, key) && j.at(key) != false) bad(key, "is not supported (must be false)");
  }
}

}  // namespace

ArchConfig arch_config_from_hf_json(const nlohmann::json& j) {
  if (!j.is_object()) bad("config", "must be a JSON object");
  check_supported(j);
  ArchConfig c;
  const int64_t L = get_int(j, "num_hidden_layers", 1, 4096);
  c.d_model = get_int(j, "hidden_size", 1, kMaxDim);
  c.n_heads = get_int(j, "num_attention_heads", 1, 4096);
  c.n_kv_heads = get_int(j, "num_key_value_heads", 1, 4096, c.n_heads);
  if (!present(j, "head_dim") && c.d_model % c.n_heads != 0) {
    bad("head_dim", "is required when num_attention_heads does not divide hidden_size");
  }
  c.head_dim = get_int(j, "head_dim", 1, 4096, c.d_model / c.n_heads);
  c.vocab_size = get_int(j, "vocab_size", 1, 1 << 24);
  c.norm_eps = static_cast<float>(get_number(j, "rms_norm_eps", 1e-6));
  c.rope_theta = static_cast<float>(get_number(j, "rope_theta", 10000.0));
  c.rope_layout = RopeLayout::half;
  c.context_length = get_int(j, "max_position_embeddings", 1, int64_t{1} << 40, 2048);
  if (present(j, "tie_word_embeddings") && !j.at("tie_word_embeddings").is_boolean()) {
    bad("tie_word_embeddings", "must be true or false");
  }
  c.tied_embeddings = present(j, "tie_word_embeddings") && j.at("tie_word_embeddings").get<bool>();
  if (!present(j, "intermediate_size")) bad("intermediate_size", "is required");
  const auto ffn = per_layer(j.at("intermediate_size"), "intermediate_size", L, 1, kMaxDim);
  std::vector<int64_t> windows(static_cast<size_t>(L), 0);
  if (present(j, "sliding_window")) {
    windows = per_layer(j.at("sliding_window"), "sliding_window", L, 0, int64_t{1} << 40);
  }
  c.layers.resize(static_cast<size_t>(L));
  const nlohmann::json* types = present(j, "layer_types") ? &j.at("layer_types") : nullptr;
  if (types && (!types->is_array() || static_cast<int64_t>(types->size()) != L)) {
    bad("layer_types", fmt::format("must be a list of {} layer kinds", L));
  }
  for (size_t l = 0; l < c.layers.size(); ++l) {
    c.layers[l].d_ffn = ffn[l];
    if (!types) continue;
    const std::string field = fmt::format("layer_types[{}]", l);
    if (!(*types)[l].is_string()) bad(field, "must be a string");
    const LayerTypeSpec spec = parse_layer_type((*types)[l].get<std::string>(), windows[l], field);
    c.layers[l].kind = spec.kind;
    c.layers[l].window = spec.window;
  }
  try {
    c.validate();
  } catch (const InvalidInput& e) {
    // Report the config.json name of the field, not ArchConfig's.
    static const std::pair<std::string_view, const char*> kNames[] = {
        {"d_model", "hidden_size"}, {"n_heads", "num_attention_heads"},
        {"n_kv_heads", "num_key_value_heads"}, {"n_layers", "num_hidden_layers"},
        {"norm_eps", "rms_norm_eps"}, {"context_length", "max_position_embeddings"},
        {".d_ffn", "intermediate_size"}, {".window", "sliding_window"}};
    std::string field = e.field();
    for (const auto& [ours, theirs] : kNames) {
      if (field.ends_with(ours)) {
        field = theirs;
        break;
      }
    }
    bad(field, fmt::format("is invalid: {}", e.what()));
  }
  return c;
}

nlohmann::json arch_config_to_hf_json(const ArchConfig& c, int64_t bos_id, int64_t eos_id) {
  nlohmann::json ffn = nlohmann::json::array(), types = nlohmann::json::array();
  nlohmann::json windows = nlohmann::json::array();
  std::vector<int64_t> swa_windows;
  bool uniform_ffn = true;
  for (const LayerConfig& l : c.layers) {
    ffn.push_back(l.d_ffn);
    uniform_ffn = uniform_ffn && l.d_ffn == c.layers[0].d_ffn;
    types.push_back(l.kind == LayerKind::full  ? "full_attention"
                    : l.kind == LayerKind::swa ? "sliding_attention"
                                               : "skip_attention");
    windows.push_back(l.kind == LayerKind::swa ? l.window : 0);
    if (l.kind == LayerKind::swa) swa_windows.push_back(l.window);
  }
  nlohmann::json sliding_window = nullptr;  // HF's "no sliding window"
  if (!swa_windows.empty()) {
    const bool same = std::all_of(swa_windows.begin(), swa_windows.end(),
                                  [&](int64_t w) { return w == swa_windows[0]; });
    sliding_window = same ? nlohmann::json(swa_windows[0]) : windows;
  }
  nlohmann::json j = {
      {"architectures", {"LlamaForCausalLM"}},
      {"model_type", "llama"},
      {"hidden_act", "silu"},
      {"hidden_size", c.d_model},
      {"intermediate_size", uniform_ffn ? nlohmann::json(c.layers[0].d_ffn) : ffn},
      {"num_hidden_layers", c.n_layers()},
      {"num_attention_heads", c.n_heads},
      {"num_key_value_heads", c.n_kv_heads},
      {"head_dim", c.head_dim},
      {"rms_norm_eps", c.norm_eps},
      {"rope_theta", c.rope_theta},
      {"vocab_size", c.vocab_size},
      {"tie_word_embeddings", c.tied_embeddings},
      {"max_position_embeddings", c.context_length},
      {"layer_types", types},
      {"sliding_window", sliding_window},
      {"attention_bias", false},
      {"mlp_bias", false},
      {"torch_dtype", "float32"},
  };
  if (bos_id >= 0) j["bos_token_id"] = bos_id;
  if (eos_id >= 0) j["eos_token_id"] = eos_id;
  return j;
}

}  // namespace flashnas
