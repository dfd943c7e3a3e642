// Elementwise and row-wise forward kernels of the Llama block: RMSNorm, RoPE,
// SwiGLU, softmax. Free functions in llm.c style: outputs first, inputs const,
// row-major activations. Matrix products live in matmul.hpp, attention in
// attention.hpp.
//
// Legend: T tokens, C d_model, NH heads, KVH kv heads, HS head size, FF FFN width.
#pragma once

#include <cstdint>
#include <vector>

#include "engine/model/arch_config.hpp"

namespace flashnas {

// out[t] = inp[t] / sqrt(mean(inp[t]^2) + eps) * weight. Sum of squares in double.
// out (T, C), inp (T, C), weight (C). out may alias inp.
void rmsnorm_forward(float* out, const float* inp, const float* weight, int64_t T, int64_t C,
                     float eps);

// Precomputed RoPE rotations: angle(p, i) = p * theta^(-2i/HS), for positions
// [0, max_positions) and pair index i in [0, HS/2). Computed in double, stored float.
struct RopeTable {
  int64_t max_positions = 0;
  int64_t half = 0;          // HS/2
  RopeLayout layout = RopeLayout::interleaved;
  std::vector<float> cos;    // (max_positions, HS/2)
  std::vector<float> sin;    // (max_positions, HS/2)
};
RopeTable make_rope_table(int64_t head_dim, float theta, RopeLayout layout, int64_t max_positions);

// Rotates every head of x in place for positions pos0 .. pos0+T-1.
// x (T, n_heads*HS); the table's layout decides which dimensions pair up:
// interleaved (2i, 2i+1), half (i, i+HS/2).
void rope_forward(float* x, const RopeTable& table, int64_t pos0, int64_t T, int64_t n_heads);

// SwiGLU gate: out = silu(gate) * up, silu(g) = g / (1 + exp(-g)).
// out, gate, up (T*FF) flattened; out may alias gate.
void swiglu_forward(float* out, const float* gate, const float* up, int64_t n);

// In-place softmax of one row of n scores, stable (max subtracted); sum in double.
void softmax_forward(float* x, int64_t n);

// log(sum_i exp(x[i])) computed stably in double: the NLL of the token y under
// logits x is logsumexp(x) - x[y].
double log_sum_exp(const float* x, int64_t n);

}  // namespace flashnas
