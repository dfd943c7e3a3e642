// q/k row permutation between RoPE layouts (see rope_permute.hpp).
#include "engine/model/rope_permute.hpp"

#include <cstring>
#include <vector>

#include "engine/util/error.hpp"

namespace flashnas {

void permute_rope_rows(float* out, const float* in, int64_t n_heads, int64_t head_dim,
                       int64_t cols, RopeLayout from, RopeLayout to) {
  FLASHNAS_CHECK(out != in, "permute_rope_rows needs distinct buffers");
  FLASHNAS_CHECK(head_dim % 2 == 0, "head_dim {} must be even", head_dim);
  const int64_t half = head_dim / 2;
  const size_t row_bytes = static_cast<size_t>(cols) * sizeof(float);
  for (int64_t h = 0; h < n_heads; ++h) {
    const float* src = in + h * head_dim * cols;
    float* dst = out + h * head_dim * cols;
    for (int64_t i = 0; i < half; ++i) {
      for (int64_t a = 0; a < 2; ++a) {
        // Row a*HS/2 + i of the half layout is row 2i + a of the interleaved one.
        const int64_t half_row = a * half + i;
        const int64_t inter_row = 2 * i + a;
        int64_t src_row = half_row, dst_row = half_row;
        if (from == RopeLayout::half && to == RopeLayout::interleaved) {
          dst_row = inter_row;
        } else if (from == RopeLayout::interleaved && to == RopeLayout::half) {
          src_row = inter_row;
        }
        std::memcpy(dst + dst_row * cols, src + src_row * cols, row_bytes);
      }
    }
  }
}

void convert_rope_layout(ArchConfig& config, ModelWeights& weights, RopeLayout to) {
  if (config.rope_layout == to) return;
  const int64_t C = config.d_model;
  std::vector<float> scratch(static_cast<size_t>(config.q_dim() * C));
  for (size_t l = 0; l < config.layers.size(); ++l) {
    if (config.layers[l].kind == LayerKind::skip) continue;
    LayerWeights& lw = weights.layers[l];
    const std::pair<float*, int64_t> mats[] = {{lw.wq, config.n_heads}, {lw.wk, config.n_kv_heads}};
    for (const auto& [w, heads] : mats) {
      const int64_t n = heads * config.head_dim * C;
      permute_rope_rows(scratch.data(), w, heads, config.head_dim, C, config.rope_layout, to);
      std::memcpy(w, scratch.data(), static_cast<size_t>(n) * sizeof(float));
    }
  }
  config.rope_layout = to;
}

}  // namespace flashnas
