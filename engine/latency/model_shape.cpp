// Shape files: the heads, head size and vocabulary an architecture is timed with.
#include "engine/latency/model_shape.hpp"

#include <nlohmann/json.hpp>

#include "engine/util/error.hpp"

namespace flashnas::latency {

namespace {

int64_t positive_field(const nlohmann::json& j, const char* name, const std::string& prefix,
                       int64_t max) {
  const std::string field = prefix + name;
  if (!j.contains(name)) throw InvalidInput(field + " is required", field);
  const auto& v = j.at(name);
  if (!v.is_number_integer()) throw InvalidInput(field + " must be an integer", field);
  const int64_t x = v.get<int64_t>();
  if (x <= 0 || x > max) {
    throw InvalidInput(fmt::format("{} must be in [1, {}], got {}", field, max, x), field);
  }
  return x;
}


}  // namespace

ModelShape model_shape_from_json(const nlohmann::json& j, const std::string& prefix) {
  const std::string self = prefix.empty() ? "shape" : prefix.substr(0, prefix.size() - 1);
  if (!j.is_object()) throw InvalidInput(self + " must be a JSON object", self);
  for (const auto& item : j.items()) {
    const std::string& k = item.key();
    if (k != "n_heads" && k != "n_kv_heads" && k != "head_dim" && k != "vocab_size" &&
        k != "tied_embeddings") {
      throw InvalidInput(fmt::format("{}{} is not a shape field (expected n_heads, n_kv_heads, "
                                     "head_dim, vocab_size, tied_embeddings)",
                                     prefix, k),
                         prefix + k);
    }
  }
  ModelShape s;
  s.n_heads = positive_field(j, "n_heads", prefix, 4096);
  s.n_kv_heads = positive_field(j, "n_kv_heads", prefix, 4096);
  s.head_dim = positive_field(j, "head_dim", prefix, 4096);
  s.vocab_size = positive_field(j, "vocab_size", prefix, 1 << 24);
  if (j.contains("tied_embeddings")) {
    if (!j.at("tied_embeddings").is_boolean()) {
      throw InvalidInput(prefix + "tied_embeddings must be true or false", prefix + "tied_embeddings");
    }
    s.tied_embeddings = j.at("tied_embeddings").get<bool>();
  }
  if (s.n_heads % s.n_kv_heads != 0) {
    throw InvalidInput(fmt::format("{}n_heads ({}) must be a multiple of n_kv_heads ({})", prefix,
                                   s.n_heads, s.n_kv_heads),
                       prefix + "n_kv_heads");
  }
  if (s.head_dim % 2 != 0) {
    throw InvalidInput(fmt::format("{}head_dim must be even for RoPE, got {}", prefix, s.head_dim),
                       prefix + "head_dim");
  }
  return s;
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
