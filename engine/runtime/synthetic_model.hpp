// Synthetic models: random weights for any ArchConfig, for tests that need no
// download and for latency measurements where only the shape matters. Not a
// trained model: its text is noise.
#pragma once

#include <cstdint>

#include "engine/model/arch_config.hpp"
#include "engine/model/model.hpp"

namespace flashnas {

// Every matrix uniform in +-sqrt(3 / fan_in) (unit-variance outputs for
// unit-variance inputs), embeddings uniform in +-1, norm weights 1 + small
// noise. Deterministic in `seed` on every platform (SplitMix64). No tokenizer.
Model make_synthetic_model(const ArchConfig& config, uint64_t seed);

// The shape of a Llama-family model with uniform layers, for benchmarks and
// tests: d_model C, n_heads (head_dim C / n_heads), n_kv_heads, FFN width,
// vocab, layer count; all layers full attention, untied head, interleaved RoPE.
ArchConfig llama_shape(int64_t n_layers, int64_t d_model, int64_t n_heads, int64_t n_kv_heads,
                       int64_t d_ffn, int64_t vocab_size);

}  // namespace flashnas
