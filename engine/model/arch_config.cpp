// ArchConfig validation, parameter counting, layer-type lists and JSON.
#include "engine/model/arch_config.hpp"

#include <nlohmann/json.hpp>

#include <charconv>

#include "engine/util/error.hpp"

namespace flashnas {

std::string_view layer_kind_name(LayerKind kind) {
  switch (kind) {
    case LayerKind::full: return "full";
    case LayerKind::swa: return "swa";
    case LayerKind::skip: return "skip";
  }
  return "?";
}

namespace {

// Upper bounds that keep sizes far from int64 overflow and refuse absurd files
// before anything is allocated.
constexpr int64_t kMaxDim = 1 << 20;
constexpr int64_t kMaxLayers = 4096;

void require_dim(int64_t value, const char* field, int64_t max = kMaxDim) {
  if (value <= 0 || value > max) {
    throw InvalidInput(fmt::format("{} must be in [1, {}], got {}", field, max, value), field);
  }
}

}  // namespace

void ArchConfig::validate() const {
  require_dim(d_model, "d_model");
  require_dim(n_heads, "n_heads", 4096);
  require_dim(n_kv_heads, "n_kv_heads", 4096);
  require_dim(head_dim, "head_dim", 4096);
  require_dim(vocab_size, "vocab_size", 1 << 24);
  if (n_heads % n_kv_heads != 0) {
    throw InvalidInput(fmt::format("n_heads ({}) must be a multiple of n_kv_heads ({})", n_heads,
                                   n_kv_heads),
                       "n_kv_heads");
  }
  if (head_dim % 2 != 0) {
    throw InvalidInput(fmt::format("head_dim must be even for RoPE, got {}", head_dim), "head_dim");
  }
  if (layers.empty() || n_layers() > kMaxLayers) {
    throw InvalidInput(fmt::format("n_layers must be in [1, {}], got {}", kMaxLayers, n_layers()),
                       "n_layers");
  }
  for (size_t i = 0; i < layers.size(); ++i) {
    const LayerConfig& layer = layers[i];
    const std::string prefix = fmt::format("layers[{}]", i);
    if (layer.d_ffn <= 0 || layer.d_ffn > kMaxDim) {
      throw InvalidInput(fmt::format("{}.d_ffn must be in [1, {}], got {}", prefix, kMaxDim,
                                     layer.d_ffn),
                         prefix + ".d_ffn");
    }
    if (layer.kind == LayerKind::swa && layer.window <= 0) {
      throw InvalidInput(fmt::format("{}.window must be positive for a swa layer, got {}", prefix,
                                     layer.window),
                         prefix + ".window");
    }
  }
  if (!(rope_theta > 0.0f)) {
    throw InvalidInput(fmt::format("rope_theta must be positive, got {}", rope_theta), "rope_theta");
  }
  if (!(norm_eps > 0.0f && norm_eps < 1.0f)) {
    throw InvalidInput(fmt::format("norm_eps must be in (0, 1), got {}", norm_eps), "norm_eps");
  }
  if (context_length <= 0) {
    throw InvalidInput(fmt::format("context_length must be positive, got {}", context_length),
                       "context_length");
  }
}

int64_t count_embedding_parameters(const ArchConfig& c) {
  const int64_t embd = c.vocab_size * c.d_model;
  return c.tied_embeddings ? embd : 2 * embd;
}

int64_t count_parameters(const ArchConfig& c) {
  int64_t n = count_embedding_parameters(c) + c.d_model;  // + final norm
  for (const LayerConfig& layer : c.layers) {
    if (layer.kind != LayerKind::skip) {
      n += c.d_model                          // attn_norm
           + 2 * c.q_dim() * c.d_model        // wq, wo
           + 2 * c.kv_dim() * c.d_model;      // wk, wv
    }
    n += c.d_model + 3 * layer.d_ffn * c.d_model;  // ffn_norm, gate, up, down
  }
  return n;
}

LayerTypeSpec parse_layer_type(std::string_view text, int64_t default_window,
                               const std::string& field) {
  LayerTypeSpec spec;
  std::string_view name = text;
  std::string_view window_text;
  if (auto colon = text.find(':'); colon != std::string_view::npos) {
    name = text.substr(0, colon);
    window_text = text.substr(colon + 1);
  }
  if (name == "full" || name == "full_attention") {
    spec.kind = LayerKind::full;
  } else if (name == "skip" || name == "skip_attention") {
    spec.kind = LayerKind::skip;
  } else if (name == "swa" || name == "sliding_attention") {
    spec.kind = LayerKind::swa;
    spec.window = default_window;
  } else {
    throw InvalidInput(fmt::format("{}: unknown layer type '{}' (expected full, swa[:W] or skip)",
                                   field, text),
                       field);
  }
  if (!window_text.empty() || text.find(':') != std::string_view::npos) {
    if (spec.kind != LayerKind::swa) {
      throw InvalidInput(fmt::format("{}: only swa takes a window, got '{}'", field, text), field);
    }
    int64_t w = 0;
    auto [ptr, ec] = std::from_chars(window_text.data(), window_text.data() + window_text.size(), w);
    if (ec != std::errc() || ptr != window_text.data() + window_text.size()) {
      throw InvalidInput(fmt::format("{}: bad window in '{}'", field, text), field);
    }
    spec.window = w;
  }
  if (spec.kind == LayerKind::swa && spec.window <= 0) {
    throw InvalidInput(fmt::format("{}: swa needs a positive window (write swa:W), got '{}'",
                                   field, text),
                       field);
  }
  return spec;
}

std::vector<LayerTypeSpec> parse_layer_types(std::string_view list, int64_t default_window,
                                             const std::string& field) {
  std::vector<LayerTypeSpec> out;
  size_t start = 0;
  while (start <= list.size()) {
    size_t comma = list.find(',', start);
    if (comma == std::string_view::npos) comma = list.size();
    out.push_back(parse_layer_type(list.substr(start, comma - start), default_window, field));
    start = comma + 1;
  }
  return out;
}

std::string format_layer_types(const ArchConfig& config) {
  std::string out;
  for (const LayerConfig& layer : config.layers) {
    if (!out.empty()) out += ',';
    out += layer_kind_name(layer.kind);
    if (layer.kind == LayerKind::swa) out += fmt::format(":{}", layer.window);
  }
  return out;
}

void apply_layer_types(ArchConfig& config, const std::vector<LayerTypeSpec>& types,
                       const std::string& field) {
  if (static_cast<int64_t>(types.size()) != config.n_layers()) {
    throw InvalidInput(fmt::format("{}: {} entries given for a model with {} layers", field,
                                   types.size(), config.n_layers()),
                       field);
  }
  for (size_t i = 0; i < types.size(); ++i) {
    config.layers[i].kind = types[i].kind;
    config.layers[i].window = types[i].kind == LayerKind::swa ? types[i].window : 0;
  }
}

nlohmann::json arch_config_to_json(const ArchConfig& c) {
  nlohmann::json layers = nlohmann::json::array();
  for (const LayerConfig& layer : c.layers) {
    nlohmann::json l = {{"kind", layer_kind_name(layer.kind)}, {"d_ffn", layer.d_ffn}};
    if (layer.kind == LayerKind::swa) l["window"] = layer.window;
    layers.push_back(std::move(l));
  }
  return {
      {"n_layers", c.n_layers()},
      {"d_model", c.d_model},
      {"n_heads", c.n_heads},
      {"n_kv_heads", c.n_kv_heads},
      {"head_dim", c.head_dim},
      {"vocab_size", c.vocab_size},
      {"rope_theta", c.rope_theta},
      {"rope_layout", c.rope_layout == RopeLayout::interleaved ? "interleaved" : "half"},
      {"norm_eps", c.norm_eps},
      {"tied_embeddings", c.tied_embeddings},
      {"context_length", c.context_length},
      {"layers", std::move(layers)},
  };
}

namespace {

template <typename T>
T get_field(const nlohmann::json& j, const char* name) {
  if (!j.contains(name)) throw InvalidInput(fmt::format("{} is required", name), name);
  try {
    return j.at(name).get<T>();
  } catch (const nlohmann::json::exception&) {
    throw InvalidInput(fmt::format("{} has the wrong type", name), name);
  }
}

}  // namespace

ArchConfig arch_config_from_json(const nlohmann::json& j) {
  if (!j.is_object()) throw InvalidInput("config must be a JSON object", "config");
  ArchConfig c;
  c.d_model = get_field<int64_t>(j, "d_model");
  c.n_heads = get_field<int64_t>(j, "n_heads");
  c.n_kv_heads = get_field<int64_t>(j, "n_kv_heads");
  c.head_dim = get_field<int64_t>(j, "head_dim");
  c.vocab_size = get_field<int64_t>(j, "vocab_size");
  c.rope_theta = get_field<float>(j, "rope_theta");
  const auto layout = get_field<std::string>(j, "rope_layout");
  if (layout == "interleaved") {
    c.rope_layout = RopeLayout::interleaved;
  } else if (layout == "half") {
    c.rope_layout = RopeLayout::half;
  } else {
    throw InvalidInput("rope_layout must be 'interleaved' or 'half'", "rope_layout");
  }
  c.norm_eps = get_field<float>(j, "norm_eps");
  c.tied_embeddings = get_field<bool>(j, "tied_embeddings");
  c.context_length = get_field<int64_t>(j, "context_length");
  const auto& layers = j.contains("layers") ? j.at("layers") : nlohmann::json();
  if (!layers.is_array()) throw InvalidInput("layers must be an array", "layers");
  for (size_t i = 0; i < layers.size(); ++i) {
    const std::string field = fmt::format("layers[{}]", i);
    if (!layers[i].is_object()) throw InvalidInput(field + " must be an object", field);
    LayerConfig layer;
    LayerTypeSpec spec = parse_layer_type(get_field<std::string>(layers[i], "kind"),
                                          layers[i].value("window", int64_t{0}), field + ".kind");
    layer.kind = spec.kind;
    layer.window = spec.window;
    layer.d_ffn = get_field<int64_t>(layers[i], "d_ffn");
    c.layers.push_back(layer);
  }
  c.validate();
  return c;
}

}  // namespace flashnas
