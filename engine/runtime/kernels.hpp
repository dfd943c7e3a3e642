// Elementwise and row-wise kernels of the Llama block: RMSNorm, RoPE, SwiGLU,
// softmax, each backward (training, engine/train/) next to its forward. Free
// functions in llm.c style: outputs first, inputs const, row-major activations;
// a backward adds into the gradients of weights (the trainer zeroes them once
// per step). Matrix products live in matmul.hpp, attention in attention.hpp.
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
// The same, also saving each row's reciprocal RMS (the scale applied) in
// rstd (T) for the backward; rstd may be null.
void rmsnorm_forward(float* out, float* rstd, const float* inp, const float* weight, int64_t T,
                     int64_t C, float eps);

// Backward of rmsnorm_forward. With y_i = x_i r w_i and r = (mean(x^2) + eps)^-1/2,
// so dr/dx_j = -r^3 x_j / C:
//   dinp_j    += r w_j dout_j - (r^3 / C) x_j sum_i(dout_i w_i x_i)
//   dweight_i += sum over rows of dout_i x_i r
// dinp (T, C) accumulates (+=), dweight (C) accumulates; dout, inp (T, C),
// rstd (T) as saved by the forward. The row sums are in double.
void rmsnorm_backward(float* dinp, float* dweight, const float* dout, const float* inp,
                      const float* weight, const float* rstd, int64_t T, int64_t C);

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

// Backward of rope_forward, in place: each pair was rotated by the orthogonal
// R(angle), so its gradient goes back through R^T = R(-angle):
//   dx0 = c dy0 + s dy1,  dx1 = -s dy0 + c dy1.
// dx (T, n_heads*HS) holds d(rotated) on entry and d(unrotated) on return.
void rope_backward(float* dx, const RopeTable& table, int64_t pos0, int64_t T, int64_t n_heads);

// SwiGLU gate: out = silu(gate) * up, silu(g) = g / (1 + exp(-g)).
// out, gate, up (T*FF) flattened; out may alias gate.
void swiglu_forward(float* out, const float* gate, const float* up, int64_t n);

// Backward of swiglu_forward, with s = sigmoid(g), silu(g) = g s and
// silu'(g) = s (1 + g (1 - s)):
//   dgate = dout * up * s (1 + g (1 - s)),  dup = dout * silu(g).
// Writes (not adds) dgate and dup (n each); they may alias dout or each other
// only as dgate == dout. gate, up are the forward's inputs.
void swiglu_backward(float* dgate, float* dup, const float* dout, const float* gate,
                     const float* up, int64_t n);

// In-place softmax of one row of n scores, stable (max subtracted); sum in double.
void softmax_forward(float* x, int64_t n);

// log(sum_i exp(x[i])) computed stably in double: the NLL of the token y under
// logits x is logsumexp(x) - x[y].
double log_sum_exp(const float* x, int64_t n);

}  // namespace flashnas
