// ModelShape: what an architecture leaves open (heads, head size, vocabulary),
// read from a shape file, so a CandidateArch can be timed without a backbone.
// Latency depends only on the shape, so random weights of that shape
// (make_synthetic_model in engine/runtime/synthetic_model.hpp) time exactly like
// trained or pruned ones. Not a loader of real checkpoints (engine/model/).
#pragma once

#include <nlohmann/json_fwd.hpp>

#include <cstdint>
#include <string>

#include "engine/model/arch_config.hpp"
#include "engine/model/candidate_arch.hpp"
#include "engine/util/json_reader_fwd.hpp"

namespace flashnas::latency {

// SHAPE.json: {"n_heads", "n_kv_heads", "head_dim", "vocab_size"} and optionally
// "tied_embeddings" (default false). Unknown fields are refused.
struct ModelShape {
  int64_t n_heads = 0;     // NH
  int64_t n_kv_heads = 0;  // KVH
  int64_t head_dim = 0;    // HS
  int64_t vocab_size = 0;  // V
  bool tied_embeddings = false;

  bool operator==(const ModelShape&) const = default;
};

// Validates (positive sizes, NH a multiple of KVH, even HS) and throws one
// InvalidInput listing every bad field, named under `prefix` ("--shape.n_heads").
ModelShape model_shape_from_json(const nlohmann::json& j, const std::string& prefix = "");
// The same from `r`'s object, errors recorded in r.errors(); the caller reports
// unknown fields with finish().
ModelShape read_model_shape(JsonObjectReader& r);
nlohmann::json model_shape_to_json(const ModelShape& shape);

// The config of `arch` on `shape` (through candidate_to_config, so the same
// rules as a pruned backbone apply). Throws InvalidInput on inconsistencies.
ArchConfig shape_to_config(const ModelShape& shape, const CandidateArch& arch);

// The shape a backbone leaves to its candidates.
ModelShape shape_of(const ArchConfig& backbone);

}  // namespace flashnas::latency
