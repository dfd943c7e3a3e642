// ArchSpaceOptions: validation and JSON.
#include "engine/search/arch_space_options.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <set>

#include "engine/util/error.hpp"

namespace flashnas::search {

namespace {

[[noreturn]] void fail(const std::string& field, const std::string& message) {
  throw InvalidInput(field + ": " + message, field);
}

void check_range(const IntRange& r, const std::string& name, int64_t max_allowed) {
  if (r.min < 1) fail(name + ".min", fmt::format("must be >= 1, got {}", r.min));
  if (r.max < r.min) fail(name + ".max", fmt::format("must be >= min ({}), got {}", r.min, r.max));
  if (r.max > max_allowed) fail(name + ".max", fmt::format("must be <= {}, got {}", max_allowed, r.max));
  if (r.step < 1) fail(name + ".step", fmt::format("must be >= 1, got {}", r.step));
  if ((r.max - r.min) % r.step != 0) {
    fail(name + ".step", fmt::format("max - min ({}) is not a multiple of step {}", r.max - r.min, r.step));
  }
}

int64_t get_int(const nlohmann::json& j, const std::string& field) {
  if (!j.is_number_integer()) fail(field, "must be an integer");
  return j.get<int64_t>();
}

IntRange range_from_json(const nlohmann::json& j, const std::string& name) {
  if (!j.is_object()) fail(name, "must be an object {\"min\", \"max\", \"step\"}");
  for (const auto& [key, _] : j.items()) {
    if (key != "min" && key != "max" && key != "step") fail(name + "." + key, "unknown field");
  }
  IntRange r;
  if (!j.contains("min")) fail(name + ".min", "is required");
  if (!j.contains("max")) fail(name + ".max", "is required");
  r.min = get_int(j.at("min"), name + ".min");
  r.max = get_int(j.at("max"), name + ".max");
  r.step = j.contains("step") ? get_int(j.at("step"), name + ".step") : 1;
  return r;
}

nlohmann::json range_to_json(const IntRange& r) { return {{"min", r.min}, {"max", r.max}, {"step", r.step}}; }

}  // namespace

void ArchSpaceOptions::validate() const {
  check_range(n_layers, "n_layers", kArchSpaceMaxLayers);
  check_range(d_model, "d_model", 1 << 20);
  check_range(d_ffn, "d_ffn", 1 << 22);
  if (layer_kinds.empty()) fail("layer_kinds", "must list at least one kind");
  if (std::set<LayerKind>(layer_kinds.begin(), layer_kinds.end()).size() != layer_kinds.size()) {
    fail("layer_kinds", "lists a kind twice");
  }
  const bool has_full = std::count(layer_kinds.begin(), layer_kinds.end(), LayerKind::full) > 0;
  const bool has_swa = std::count(layer_kinds.begin(), layer_kinds.end(), LayerKind::swa) > 0;
  if (!has_full) fail("layer_kinds", "must include \"full\" (the first-layer and minimum-full rules need it)");
  if (has_swa && sliding_windows.empty()) fail("sliding_windows", "needed when \"swa\" is allowed");
  for (size_t i = 0; i < sliding_windows.size(); ++i) {
    if (sliding_windows[i] < 1) fail(fmt::format("sliding_windows[{}]", i), "must be >= 1");
  }
  if (std::set<int64_t>(sliding_windows.begin(), sliding_windows.end()).size() != sliding_windows.size()) {
    fail("sliding_windows", "lists a window twice");
  }
  if (max_consecutive_non_full < -1) fail("rules.max_consecutive_non_full", "must be >= 0, or -1 for no limit");
  if (min_full_layers < 0) fail("rules.min_full_layers", "must be >= 0");
  if (min_full_layers > n_layers.min) {
    fail("rules.min_full_layers", fmt::format("exceeds the smallest n_layers ({})", n_layers.min));
  }
}

nlohmann::json arch_space_options_to_json(const ArchSpaceOptions& o) {
  nlohmann::json kinds = nlohmann::json::array();
  for (LayerKind k : o.layer_kinds) kinds.push_back(std::string(layer_kind_name(k)));
  return {{"n_layers", range_to_json(o.n_layers)},
          {"d_model", range_to_json(o.d_model)},
          {"d_ffn", range_to_json(o.d_ffn)},
          {"per_layer_ffn", o.per_layer_ffn},
          {"layer_kinds", kinds},
          {"sliding_windows", o.sliding_windows},
          {"rules",
           {{"first_layer_full", o.first_layer_full},
            {"max_consecutive_non_full", o.max_consecutive_non_full},
            {"min_full_layers", o.min_full_layers}}}};
}

ArchSpaceOptions arch_space_options_from_json(const nlohmann::json& j) {
  if (!j.is_object()) fail("space", "must be a JSON object");
  static const std::set<std::string> known = {"n_layers", "d_model", "d_ffn", "per_layer_ffn",
                                              "layer_kinds", "sliding_windows", "rules"};
  for (const auto& [key, _] : j.items()) {
    if (!known.count(key)) fail(key, "unknown field");
  }
  ArchSpaceOptions o;
  for (const char* name : {"n_layers", "d_model", "d_ffn"}) {
    if (!j.contains(name)) fail(name, "is required");
  }
  o.n_layers = range_from_json(j.at("n_layers"), "n_layers");
  o.d_model = range_from_json(j.at("d_model"), "d_model");
  o.d_ffn = range_from_json(j.at("d_ffn"), "d_ffn");
  if (j.contains("per_layer_ffn")) {
    if (!j.at("per_layer_ffn").is_boolean()) fail("per_layer_ffn", "must be true or false");
    o.per_layer_ffn = j.at("per_layer_ffn").get<bool>();
  }
  if (j.contains("layer_kinds")) {
    const auto& kinds = j.at("layer_kinds");
    if (!kinds.is_array()) fail("layer_kinds", "must be a list of \"full\", \"swa\", \"skip\"");
    o.layer_kinds.clear();
    for (size_t i = 0; i < kinds.size(); ++i) {
      const std::string field = fmt::format("layer_kinds[{}]", i);
      if (!kinds[i].is_string()) fail(field, "must be a string");
      // The shared parser; the window argument only matters for a bare "swa:" form.
      o.layer_kinds.push_back(parse_layer_type(kinds[i].get<std::string>(), 1, field).kind);
    }
  }
  if (j.contains("sliding_windows")) {
    const auto& w = j.at("sliding_windows");
    if (!w.is_array()) fail("sliding_windows", "must be a list of integers");
    o.sliding_windows.clear();
    for (size_t i = 0; i < w.size(); ++i) o.sliding_windows.push_back(get_int(w[i], fmt::format("sliding_windows[{}]", i)));
  }
  if (j.contains("rules")) {
    const auto& r = j.at("rules");
    if (!r.is_object()) fail("rules", "must be an object");
    for (const auto& [key, value] : r.items()) {
      if (key == "first_layer_full") {
        if (!value.is_boolean()) fail("rules.first_layer_full", "must be true or false");
        o.first_layer_full = value.get<bool>();
      } else if (key == "max_consecutive_non_full") {
        o.max_consecutive_non_full = get_int(value, "rules.max_consecutive_non_full");
      } else if (key == "min_full_layers") {
        o.min_full_layers = get_int(value, "rules.min_full_layers");
      } else {
        fail("rules." + key, "unknown field");
      }
    }
  }
  o.validate();
  return o;
}

}  // namespace flashnas::search
