// Reordering q/k projection rows between the two RoPE layouts. Hugging Face
// Llama rotates pairs (i, i + HS/2) of each head ("half"); GGUF and llama2.c
// rotate adjacent pairs (2i, 2i+1) ("interleaved"). The same model in either
// layout gives identical outputs once its q/k rows are permuted, which is what
// llama.cpp's convert_hf_to_gguf `permute` does. Pure reordering: bit-exact.
#pragma once

#include <cstdint>

#include "engine/model/arch_config.hpp"
#include "engine/model/model_weights.hpp"

namespace flashnas {

// out, in: (n_heads*HS, cols) row-major; rows of each head are reordered from
// layout `from` to layout `to` (a copy when they are equal). out != in.
void permute_rope_rows(float* out, const float* in, int64_t n_heads, int64_t head_dim,
                       int64_t cols, RopeLayout from, RopeLayout to);

// Rewrites wq and wk of every attention layer in place and sets config.rope_layout.
void convert_rope_layout(ArchConfig& config, ModelWeights& weights, RopeLayout to);

}  // namespace flashnas
