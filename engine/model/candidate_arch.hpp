// CandidateArch: one search candidate, relative to a backbone (the vocabulary's
// "architecture"): how many layers, the model width, per-layer FFN widths and
// attention kinds. Heads, head size and vocabulary are the backbone's.
// JSON: {"n_layers": 3, "d_model": 48, "d_ffn": 128 | [..], "layer_types":
// ["full", "skip", "swa"], "sliding_window": 32}.
// Not the pruning itself (engine/prune/) nor the search space (engine/search/).
#pragma once

#include <nlohmann/json_fwd.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/model/arch_config.hpp"
#include "engine/util/json_reader_fwd.hpp"

namespace flashnas {

struct CandidateArch {
  int64_t n_layers = 0;
  int64_t d_model = 0;
  std::vector<int64_t> d_ffn;           // one width per layer
  std::vector<LayerKind> layer_types;   // one kind per layer
  int64_t sliding_window = 0;           // window of every swa layer; 0 when there is none

  bool operator==(const CandidateArch&) const = default;
};

// Parses and checks internal consistency (lengths, positive widths, a window
// when a layer is swa). Unknown fields are refused. Errors are one InvalidInput
// listing every bad field, named `prefix` + the JSON field, e.g.
// "candidates[2].layer_types[1]".
CandidateArch candidate_arch_from_json(const nlohmann::json& j, const std::string& prefix = "");
// The same from `r`'s object, errors recorded in r.errors(); the caller reports
// unknown fields with finish().
CandidateArch read_candidate_arch(JsonObjectReader& r);

// One layer kind ("full", "swa", "skip", or the HF names), recorded in `errors`
// under `field` when it is not one. A window ("swa:32") is refused: it is given
// once, in `window_field`. Shared by architectures and search spaces.
std::optional<LayerKind> layer_kind_from_json(const nlohmann::json& v, const std::string& field,
                                              std::string_view window_field, FieldErrors& errors);

// Checks the candidate's own consistency (one width and one kind per layer,
// positive sizes within the parser's limits), for candidates built in code
// rather than parsed: the parser's own checks. Records every problem in
// `errors`, or throws one InvalidInput listing them. Same field names.
void check_candidate_arch(const CandidateArch& arch, FieldErrors& errors, const std::string& prefix = "");
void check_candidate_arch(const CandidateArch& arch, const std::string& prefix = "");

// Checks that the backbone can supply the candidate: no more layers, no wider
// model or FFN than it has (and check_candidate_arch). Throws one InvalidInput
// listing every problem. (bind_arch in bound_arch.hpp calls this once; the
// bound architecture then travels with its config.)
void validate_against_backbone(const CandidateArch& arch, const ArchConfig& backbone,
                               const std::string& prefix = "");

// Canonical JSON: d_ffn always a list, sliding_window 0 unless a layer is swa,
// keys sorted. Equal architectures give byte-identical dumps.
nlohmann::json candidate_arch_to_json(const CandidateArch& arch);

// sha256 of the canonical JSON dump: the identity of an architecture in a job.
std::string candidate_arch_hash(const CandidateArch& arch);

// The full config of the pruned model: the candidate's dimensions and layer
// kinds with the backbone's heads, head size, vocabulary, RoPE and norms.
ArchConfig candidate_to_config(const ArchConfig& backbone, const CandidateArch& arch);

// The backbone expressed as a candidate (same layers, widths and kinds).
// Throws InvalidInput when its swa layers use different windows.
CandidateArch backbone_as_candidate(const ArchConfig& backbone);

}  // namespace flashnas
