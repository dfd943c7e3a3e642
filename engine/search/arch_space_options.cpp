// ArchSpaceOptions: validation and JSON.
#include "engine/search/arch_space_options.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <set>

#include "engine/model/candidate_arch.hpp"
#include "engine/util/json_reader.hpp"

namespace flashnas::search {

namespace {

constexpr size_t kMaxListEntries = 64;  // layer kinds, sliding windows

// min >= 1, min <= max <= max_allowed, step >= 1 dividing max - min.
void check_range(FieldChecks& c, const std::string& name, const IntRange& r, int64_t max_allowed) {
  const std::string min = name + ".min", max = name + ".max", step = name + ".step";
  c.at_least(min, r.min, 1);
  c.require(r.max >= r.min, max, fmt::format("must be >= min ({}), got {}", r.min, r.max), {min});
  c.require(r.max <= max_allowed, max, fmt::format("must be <= {}, got {}", max_allowed, r.max));
  c.at_least(step, r.step, 1);
  // Only once min, max and step hold: 1 <= min <= max <= max_allowed cannot overflow.
  if (c.fine(min) && c.fine(max) && c.fine(step)) {
    c.require((r.max - r.min) % r.step == 0, step,
              fmt::format("max - min ({}) is not a multiple of step {}", r.max - r.min, r.step));
  }
}

// {"min", "max", "step"}; step defaults to 1. The values are checked by validate().
IntRange read_range(JsonObjectReader& r) {
  IntRange out;
  out.min = r.integer("min", true).value_or(out.min);
  out.max = r.integer("max", true).value_or(out.max);
  out.step = r.integer("step", false).value_or(1);
  return out;
}

nlohmann::json range_to_json(const IntRange& r) { return {{"min", r.min}, {"max", r.max}, {"step", r.step}}; }

}  // namespace

void ArchSpaceOptions::validate(FieldErrors& errors, const std::string& prefix) const {
  FieldChecks c(errors, prefix);
  check_range(c, "n_layers", n_layers, kArchSpaceMaxLayers);
  check_range(c, "d_model", d_model, 1 << 20);
  check_range(c, "d_ffn", d_ffn, 1 << 22);
  const auto allows = [&](LayerKind k) { return std::count(layer_kinds.begin(), layer_kinds.end(), k) > 0; };
  c.require(!layer_kinds.empty(), "layer_kinds", "must list at least one kind");
  c.require(std::set<LayerKind>(layer_kinds.begin(), layer_kinds.end()).size() == layer_kinds.size(),
            "layer_kinds", "lists a kind twice");
  c.require(allows(LayerKind::full), "layer_kinds",
            "must include \"full\" (the first-layer and minimum-full rules need it)");
  c.require(!allows(LayerKind::swa) || !sliding_windows.empty(), "sliding_windows",
            "needed when \"swa\" is allowed", {"layer_kinds"});
  for (size_t i = 0; i < sliding_windows.size(); ++i) {
    c.at_least(fmt::format("sliding_windows[{}]", i), sliding_windows[i], 1);
  }
  c.require(std::set<int64_t>(sliding_windows.begin(), sliding_windows.end()).size() == sliding_windows.size(),
            "sliding_windows", "lists a window twice");
  c.require(max_consecutive_non_full >= -1, "rules.max_consecutive_non_full",
            fmt::format("must be >= 0, or -1 for no limit, got {}", max_consecutive_non_full));
  c.at_least("rules.min_full_layers", min_full_layers, 0);
  c.require(min_full_layers <= n_layers.min, "rules.min_full_layers",
            fmt::format("exceeds the smallest n_layers ({})", n_layers.min), {"n_layers.min"});
}

void ArchSpaceOptions::validate() const {
  FieldErrors errors;
  validate(errors);
  errors.throw_if_any();
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

ArchSpaceOptions read_arch_space_options(JsonObjectReader& r) {
  ArchSpaceOptions o;
  o.n_layers = r.nested("n_layers", true, read_range).value_or(o.n_layers);
  o.d_model = r.nested("d_model", true, read_range).value_or(o.d_model);
  o.d_ffn = r.nested("d_ffn", true, read_range).value_or(o.d_ffn);
  o.per_layer_ffn = r.boolean("per_layer_ffn", false).value_or(o.per_layer_ffn);
  if (const nlohmann::json* kinds = r.array("layer_kinds", false, kMaxListEntries)) {
    o.layer_kinds.clear();  // a bad entry is left out: its error stops the checks of the list
    for (size_t i = 0; i < kinds->size(); ++i) {
      const std::string field = fmt::format("{}[{}]", r.field_name("layer_kinds"), i);
      if (const auto kind = layer_kind_from_json((*kinds)[i], field, "sliding_windows", r.errors())) {
        o.layer_kinds.push_back(*kind);
      }
    }
  }
  o.sliding_windows = r.integers("sliding_windows", false, kMaxListEntries).value_or(o.sliding_windows);
  if (const nlohmann::json* rules = r.object("rules", false)) {
    JsonObjectReader rr(*rules, r.field_name("rules"), r.errors());
    o.first_layer_full = rr.boolean("first_layer_full", false).value_or(o.first_layer_full);
    o.max_consecutive_non_full = rr.integer("max_consecutive_non_full", false).value_or(o.max_consecutive_non_full);
    o.min_full_layers = rr.integer("min_full_layers", false).value_or(o.min_full_layers);
    rr.finish();
  }
  o.validate(r.errors(), r.prefix());
  return o;
}

ArchSpaceOptions arch_space_options_from_json(const nlohmann::json& j) {
  return read_object(j, "", "space", read_arch_space_options);
}

}  // namespace flashnas::search
