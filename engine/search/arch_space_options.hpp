// The architecture search space as data: integer ranges with steps for n_layers,
// d_model and d_ffn, the allowed layer kinds and sliding windows, and the pattern
// rules. Plain struct with JSON in/out and validation naming every bad field. The
// behaviour (sampling, encoding, rules) is ArchSpace (arch_space.hpp).
//
// JSON: {"n_layers": {"min": 2, "max": 12, "step": 1},
//        "d_model": {"min": 128, "max": 768, "step": 64},
//        "d_ffn": {"min": 256, "max": 3072, "step": 128}, "per_layer_ffn": false,
//        "layer_kinds": ["full", "swa", "skip"], "sliding_windows": [128],
//        "rules": {"first_layer_full": true, "max_consecutive_non_full": 3, "min_full_layers": 1}}
#pragma once

#include <nlohmann/json_fwd.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "engine/model/arch_config.hpp"
#include "engine/util/json_reader_fwd.hpp"

namespace flashnas::search {

// min, min + step, ..., max.
struct IntRange {
  int64_t min = 1, max = 1, step = 1;
  int64_t count() const { return (max - min) / step + 1; }
  int64_t value(int64_t index) const { return min + index * step; }
  int64_t index_of(int64_t v) const { return (v - min) / step; }
  bool contains(int64_t v) const { return v >= min && v <= max && (v - min) % step == 0; }
  bool operator==(const IntRange&) const = default;
};

struct ArchSpaceOptions {
  IntRange n_layers{2, 12, 1};
  IntRange d_model{128, 768, 64};
  IntRange d_ffn{256, 3072, 128};
  bool per_layer_ffn = false;  // false: one FFN width shared by every layer
  std::vector<LayerKind> layer_kinds = {LayerKind::full, LayerKind::swa, LayerKind::skip};
  std::vector<int64_t> sliding_windows = {128};  // window choices of swa layers

  // Pattern rules.
  bool first_layer_full = true;
  int64_t max_consecutive_non_full = 3;  // -1: no limit
  int64_t min_full_layers = 1;

  // Records every broken rule as {field, reason}, fields under `prefix`
  // ("space.d_model.step"). The JSON reader shares these checks.
  void validate(FieldErrors& errors, const std::string& prefix = "") const;
  // Throws one InvalidInput naming every broken rule, e.g. "d_model.step".
  void validate() const;
};

// Above this many layers the fixed-length encoding gets too wide for the surrogate.
inline constexpr int64_t kArchSpaceMaxLayers = 32;

nlohmann::json arch_space_options_to_json(const ArchSpaceOptions& o);
// Validates; unknown fields refused; every bad field reported in one InvalidInput.
ArchSpaceOptions arch_space_options_from_json(const nlohmann::json& j);
// The space's fields of `r`'s object, validated, errors recorded in r.errors();
// the caller reports unknown fields with finish() (or reads the object with
// JsonObjectReader::nested, which does).
ArchSpaceOptions read_arch_space_options(JsonObjectReader& r);

}  // namespace flashnas::search
