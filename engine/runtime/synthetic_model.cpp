// Random-weight models (see synthetic_model.hpp).
#include "engine/runtime/synthetic_model.hpp"

#include <cmath>

#include "engine/util/error.hpp"

namespace flashnas {

namespace {

// SplitMix64: tiny, fast and identical everywhere (std distributions are not).
struct SplitMix64 {
  uint64_t state;
  uint64_t next() {
    uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  float uniform(float bound) {  // in [-bound, bound)
    const float u = static_cast<float>(next() >> 40) * 0x1.0p-24f;
    return (2.0f * u - 1.0f) * bound;
  }
};

}  // namespace

Model make_synthetic_model(const ArchConfig& config, uint64_t seed) {
  Model model;
  model.config = config;
  model.weights = allocate_weights(config);
  SplitMix64 rng{seed};
  for (const TensorView& t : list_tensors(model.config, model.weights)) {
    const bool is_norm = t.id == TensorId::attn_norm || t.id == TensorId::ffn_norm ||
                         t.id == TensorId::out_norm;
    const float bound = t.id == TensorId::tok_embd
                            ? 1.0f
                            : std::sqrt(3.0f / static_cast<float>(t.cols));
    for (int64_t i = 0; i < t.numel(); ++i) {
      t.data[i] = is_norm ? 1.0f + rng.uniform(0.1f) : rng.uniform(bound);
    }
  }
  return model;
}

ArchConfig llama_shape(int64_t n_layers, int64_t d_model, int64_t n_heads, int64_t n_kv_heads,
                       int64_t d_ffn, int64_t vocab_size) {
  ArchConfig c;
  c.d_model = d_model;
  c.n_heads = n_heads;
  c.n_kv_heads = n_kv_heads;
  c.head_dim = n_heads > 0 ? d_model / n_heads : 0;
  c.vocab_size = vocab_size;
  c.tied_embeddings = false;
  c.layers.assign(static_cast<size_t>(n_layers), LayerConfig{LayerKind::full, 0, d_ffn});
  c.validate();
  return c;
}

}  // namespace flashnas
