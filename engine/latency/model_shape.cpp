// Shape files: the heads, head size and vocabulary an architecture is timed with.
#include "engine/latency/model_shape.hpp"

#include <nlohmann/json.hpp>

#include "engine/util/json_reader.hpp"

namespace flashnas::latency {

ModelShape read_model_shape(JsonObjectReader& r) {
  ModelShape s;
  s.n_heads = r.integer("n_heads", true, 1, 4096).value_or(0);
  s.n_kv_heads = r.integer("n_kv_heads", true, 1, 4096).value_or(0);
  s.head_dim = r.integer("head_dim", true, 1, 4096).value_or(0);
  s.vocab_size = r.integer("vocab_size", true, 1, 1 << 24).value_or(0);
  s.tied_embeddings = r.boolean("tied_embeddings", false).value_or(false);
  FieldChecks c(r.errors(), r.prefix());
  if (c.fine("n_heads") && c.fine("n_kv_heads")) {  // both positive: the remainder is defined
    c.require(s.n_heads % s.n_kv_heads == 0, "n_kv_heads",
              fmt::format("n_heads ({}) must be a multiple of n_kv_heads ({})", s.n_heads, s.n_kv_heads));
  }
  c.require(s.head_dim % 2 == 0, "head_dim", fmt::format("must be even for RoPE, got {}", s.head_dim));
  return s;
}

ModelShape model_shape_from_json(const nlohmann::json& j, const std::string& prefix) {
  return read_object(j, prefix, "shape", read_model_shape);
}

nlohmann::json model_shape_to_json(const ModelShape& s) {
  return {{"n_heads", s.n_heads},
          {"n_kv_heads", s.n_kv_heads},
          {"head_dim", s.head_dim},
          {"vocab_size", s.vocab_size},
          {"tied_embeddings", s.tied_embeddings}};
}

ArchConfig shape_to_config(const ModelShape& shape, const CandidateArch& arch) {
  ArchConfig backbone;
  backbone.n_heads = shape.n_heads;
  backbone.n_kv_heads = shape.n_kv_heads;
  backbone.head_dim = shape.head_dim;
  backbone.vocab_size = shape.vocab_size;
  backbone.tied_embeddings = shape.tied_embeddings;
  return candidate_to_config(backbone, arch);
}

ModelShape shape_of(const ArchConfig& b) {
  return ModelShape{b.n_heads, b.n_kv_heads, b.head_dim, b.vocab_size, b.tied_embeddings};
}


}  // namespace flashnas::latency
