// CandidateArch parsing, validation, canonical form and hashing.
#include "engine/model/candidate_arch.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>

#include "engine/util/json_reader.hpp"
#include "engine/util/sha256.hpp"

namespace flashnas {
namespace {

// Generous limits so a hostile request cannot make us allocate much.
constexpr int64_t kMaxLayers = 1024;
constexpr int64_t kMaxWidth = 1 << 20;

std::string element(std::string_view field, size_t i) { return fmt::format("{}[{}]", field, i); }

bool check_layer_count(FieldChecks& c, int64_t n_layers) { return c.range("n_layers", n_layers, 1, kMaxLayers); }
bool check_width(FieldChecks& c, const std::string& field, int64_t width) { return c.range(field, width, 1, kMaxWidth); }

}  // namespace

std::optional<LayerKind> layer_kind_from_json(const nlohmann::json& v, const std::string& field,
                                              std::string_view window_field, FieldErrors& errors) {
  if (!v.is_string()) {
    errors.add(field, type_mismatch("\"full\", \"swa\" or \"skip\"", v));
    return std::nullopt;
  }
  const auto& text = v.get_ref<const std::string&>();
  if (text.find(':') != std::string::npos) {
    errors.add(field, fmt::format("give the window once, in {}, not per layer", window_field));
    return std::nullopt;
  }
  try {
    return parse_layer_type(text, 1, field).kind;  // the shared names, HF's included
  } catch (const InvalidInput&) {
    errors.add(field, fmt::format("unknown layer kind '{}' (expected full, swa or skip)", text));
    return std::nullopt;
  }
}

CandidateArch read_candidate_arch(JsonObjectReader& r) {
  CandidateArch a;
  if (!r.is_object()) return a;
  FieldChecks c(r.errors(), r.prefix());
  a.n_layers = r.integer("n_layers", true).value_or(0);
  a.d_model = r.integer("d_model", true).value_or(0);
  a.sliding_window = r.integer("sliding_window", false).value_or(0);
  if (const nlohmann::json* ffn = r.value("d_ffn", true)) {
    if (ffn->is_array()) {
      a.d_ffn = r.integers("d_ffn", true, kMaxLayers).value_or(std::vector<int64_t>{});
    } else if (!ffn->is_number_integer()) {
      r.errors().add(r.field_name("d_ffn"), type_mismatch("an integer or a list of one per layer", *ffn));
    } else if (const auto width = r.integer("d_ffn", true)) {
      // One width for every layer: checked once, here, and expanded only for a
      // layer count that is sane (check_layer_count reports it once).
      if (check_width(c, "d_ffn", *width) && check_layer_count(c, a.n_layers)) {
        a.d_ffn.assign(static_cast<size_t>(a.n_layers), *width);
      }
    }
  }
  if (const nlohmann::json* types = r.array("layer_types", true, kMaxLayers)) {
    const std::string field = r.field_name("layer_types");
    for (size_t i = 0; i < types->size(); ++i) {
      // A bad entry reads as full; its error stops the checks that look at kinds.
      a.layer_types.push_back(
          layer_kind_from_json((*types)[i], element(field, i), "sliding_window", r.errors()).value_or(LayerKind::full));
    }
  }
  check_candidate_arch(a, r.errors(), r.prefix());
  if (std::count(a.layer_types.begin(), a.layer_types.end(), LayerKind::swa) == 0) {
    a.sliding_window = 0;  // meaningless without swa layers; canonical 0
  }
  return a;
}

CandidateArch candidate_arch_from_json(const nlohmann::json& j, const std::string& prefix) {
  return read_object(j, prefix, "arch", read_candidate_arch);
}

void check_candidate_arch(const CandidateArch& a, FieldErrors& errors, const std::string& prefix) {
  FieldChecks c(errors, prefix);
  check_layer_count(c, a.n_layers);
  c.range("d_model", a.d_model, 1, kMaxWidth);
  c.range("sliding_window", a.sliding_window, 0, kMaxWidth);
  c.require(static_cast<int64_t>(a.d_ffn.size()) == a.n_layers, "d_ffn",
            fmt::format("has {} entries for {} layers", a.d_ffn.size(), a.n_layers), {"n_layers"});
  c.require(static_cast<int64_t>(a.layer_types.size()) == a.n_layers, "layer_types",
            fmt::format("has {} entries for {} layers", a.layer_types.size(), a.n_layers), {"n_layers"});
  for (size_t i = 0; i < a.d_ffn.size(); ++i) check_width(c, element("d_ffn", i), a.d_ffn[i]);
  const bool any_swa = std::count(a.layer_types.begin(), a.layer_types.end(), LayerKind::swa) > 0;
  c.require(!any_swa || a.sliding_window > 0, "sliding_window", "must be positive when a layer is swa",
            {"layer_types"});
}

void check_candidate_arch(const CandidateArch& a, const std::string& prefix) {
  FieldErrors errors;
  check_candidate_arch(a, errors, prefix);
  errors.throw_if_any();
}

void validate_against_backbone(const CandidateArch& a, const ArchConfig& b,
                               const std::string& prefix) {
  FieldErrors errors;
  check_candidate_arch(a, errors, prefix);
  FieldChecks c(errors, prefix);
  c.require(a.n_layers <= b.n_layers(), "n_layers",
            fmt::format("{} exceeds the backbone's {} layers", a.n_layers, b.n_layers()));
  c.require(a.d_model <= b.d_model, "d_model",
            fmt::format("{} exceeds the backbone's d_model {}", a.d_model, b.d_model));
  // Kept layers are chosen by importance, so a width is bounded by the widest
  // backbone layer here; prune_to_arch checks the layer actually kept.
  int64_t max_ffn = 0;
  for (const LayerConfig& layer : b.layers) max_ffn = std::max(max_ffn, layer.d_ffn);
  for (size_t i = 0; i < a.d_ffn.size(); ++i) {
    c.require(a.d_ffn[i] <= max_ffn, element("d_ffn", i),
              fmt::format("{} exceeds the backbone's FFN width {}", a.d_ffn[i], max_ffn));
  }
  errors.throw_if_any();
}

nlohmann::json candidate_arch_to_json(const CandidateArch& a) {
  nlohmann::json types = nlohmann::json::array();
  for (LayerKind kind : a.layer_types) types.push_back(std::string(layer_kind_name(kind)));
  // nlohmann::json objects are std::map-backed: keys come out sorted.
  return {{"n_layers", a.n_layers},
          {"d_model", a.d_model},
          {"d_ffn", a.d_ffn},
          {"layer_types", std::move(types)},
          {"sliding_window", a.sliding_window}};
}

std::string candidate_arch_hash(const CandidateArch& a) {
  // candidate_arch_to_json(a).dump() written directly (keys in sorted order,
  // compact separators): the acquisition search keys every candidate it scores,
  // and building the JSON tree cost more than the sha256. The test checks the two agree.
  std::string text = "{\"d_ffn\":[";
  for (size_t i = 0; i < a.d_ffn.size(); ++i) {
    if (i > 0) text += ',';
    text += std::to_string(a.d_ffn[i]);
  }
  text += "],\"d_model\":" + std::to_string(a.d_model) + ",\"layer_types\":[";
  for (size_t i = 0; i < a.layer_types.size(); ++i) {
    if (i > 0) text += ',';
    text += '"';
    text += layer_kind_name(a.layer_types[i]);
    text += '"';
  }
  text += "],\"n_layers\":" + std::to_string(a.n_layers) + ",\"sliding_window\":" + std::to_string(a.sliding_window) + "}";
  return sha256_hex(text);
}

ArchConfig candidate_to_config(const ArchConfig& backbone, const CandidateArch& a) {
  ArchConfig c = backbone;
  c.d_model = a.d_model;
  c.layers.clear();
  for (int64_t i = 0; i < a.n_layers; ++i) {
    const LayerKind kind = a.layer_types[static_cast<size_t>(i)];
    c.layers.push_back(LayerConfig{kind, kind == LayerKind::swa ? a.sliding_window : 0,
                                   a.d_ffn[static_cast<size_t>(i)]});
  }
  c.validate();
  return c;
}

CandidateArch backbone_as_candidate(const ArchConfig& b) {
  CandidateArch a;
  a.n_layers = b.n_layers();
  a.d_model = b.d_model;
  for (const LayerConfig& layer : b.layers) {
    a.d_ffn.push_back(layer.d_ffn);
    a.layer_types.push_back(layer.kind);
    if (layer.kind == LayerKind::swa) {
      if (a.sliding_window != 0 && a.sliding_window != layer.window) {
        throw InvalidInput("the backbone's swa layers use different windows", "layers");
      }
      a.sliding_window = layer.window;
    }
  }
  return a;
}

}  // namespace flashnas
