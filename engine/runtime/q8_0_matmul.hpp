// Q8_0 kernels of the runtime: quantising a row into the runtime's Q8_0 row
// layout (weight_matrix.hpp), dequantising it, and the two products over rows
// [n0, n1) of a Q8_0 weight matrix that matmul_forward (matmul.hpp) splits
// across threads. Not the thread split and not the model-level quantisation
// (runtime_weights.hpp).
//   decode (GEMV): the activation row is quantised to Q8_0 once, then each
//     output is a sum of int8 x int8 block dots times d_w * d_x (ggml's
//     ggml_vec_dot_q8_0_q8_0), eight rows of W at a time.
//   prefill (GEMM): the packed SGEMM of sgemm.hpp with W dequantised to F32
//     while it is packed; activations stay F32.
//
// Legend: M (or T) rows of activations, K input width (a multiple of 32), N outputs.
#pragma once

#include <cstdint>

#include "engine/runtime/matmul.hpp"

namespace flashnas {

// Throws InvalidInput (field "K") unless K is a positive multiple of 32, the
// Q8_0 block size.
void check_q8_0_row_length(int64_t K);

// row (q8_0_row_bytes(K)) = Q8_0 of x (K), each block by quantize_q8_0_block
// (tensor_types.hpp), so the values equal those of a GGUF Q8_0 tensor.
// Throws as check_q8_0_row_length.
void quantize_row_q8_0(uint8_t* row, const float* x, int64_t K);

// x[0, kc) = values [k0, k0 + kc) of a Q8_0 row of length K (scale * quant).
void dequantize_row_q8_0(float* x, const uint8_t* row, int64_t K, int64_t k0, int64_t kc);

// y[n] (=|+=) sum_b d_w[n,b] d_x[b] (q_w[n,b] . q_x[b]) for n in [n0, n1):
// y (N), xq one Q8_0 row of K, weight N Q8_0 rows of K. A row's result does not
// depend on [n0, n1) (each row's lanes are reduced the same way).
void q8_0_gemv_rows(float* y, const uint8_t* xq, const uint8_t* weight, int64_t K, int64_t n0,
                    int64_t n1, MatmulMode mode);

// out[:, n0:n1] (=|+=) inp dequantise(W)[n0:n1]^T; out (M, N), inp (M, K).
void q8_0_gemm_rows(float* out, const float* inp, const uint8_t* weight, int64_t M, int64_t K,
                    int64_t N, int64_t n0, int64_t n1, MatmulMode mode);

}  // namespace flashnas
