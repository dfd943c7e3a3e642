// Matrix products of the forward pass: out = inp W^T with W a row-major
// checkpoint matrix (N, K). Most of the runtime's time is spent here.
//   prefill (T > 1): the packed 6x16 AVX2 SGEMM of sgemm.hpp (Eigen's GEMM
//                    through row-major Maps on machines without AVX2).
//   decode (T == 1): a matrix-vector product that streams W exactly once.
// Threads split the output columns (rows of W) into fixed contiguous ranges,
// so a result depends only on the thread count, never on timing. Products too
// small to amortise a fork-join run on the calling thread.
//
// Legend: T tokens, K input width, N output width.
#pragma once

#include <cstdint>

namespace flashnas {

class ThreadPool;
struct WeightMatrix;

enum class MatmulMode : uint8_t {
  overwrite,   // out  = inp W^T
  accumulate,  // out += inp W^T (the residual adds of the block)
};

enum class MatmulPath : uint8_t {
  by_rows,  // GEMV when T == 1, GEMM otherwise
  gemm,     // GEMM even for T == 1: each output row is then bit-identical to the
            // same row of a batched product (GEMM rows never depend on other rows)
};

// out (T, N), inp (T, K), weight (N, K). out must not alias inp or weight.
// `pool` may be null (single thread).
void matmul_forward(float* out, const float* inp, const float* weight, int64_t T, int64_t K,
                    int64_t N, ThreadPool* pool, MatmulMode mode = MatmulMode::overwrite,
                    MatmulPath path = MatmulPath::by_rows);

// The same product for a weight in any runtime format (weight_matrix.hpp):
// weight (N, K) with N = weight.rows, K = weight.cols. F32 runs exactly the
// function above. Q8_0 with T == 1 on by_rows quantises the activation row to
// Q8_0 once and runs the int8 GEMV; otherwise (prefill, or path gemm) the
// packed GEMM dequantises W while packing and keeps the activations F32.
void matmul_forward(float* out, const float* inp, const WeightMatrix& weight, int64_t T,
                    ThreadPool* pool, MatmulMode mode = MatmulMode::overwrite,
                    MatmulPath path = MatmulPath::by_rows);

// Backward of matmul_forward (out = inp W^T, F32 weights; training):
//   dinp    (T, K) (=|+=) dout (T, N) W        per dinp_mode; skipped when dinp is null
//   dweight (N, K)  +=    dout^T inp           always accumulates
// Both are the packed GEMM (sgemm_nn, reading dout^T in place): dinp split
// across threads by its rows, dweight by rows of W. Every element sums its
// products in one fixed order, so the results do not depend on the thread
// count. dinp must not alias dout, inp or weight.
void matmul_backward(float* dinp, float* dweight, const float* dout, const float* inp,
                     const float* weight, int64_t T, int64_t K, int64_t N, ThreadPool* pool,
                     MatmulMode dinp_mode = MatmulMode::overwrite);

// Single-threaded y = W x (or y += W x) for rows [0, N): the decode kernel.
// y (N), x (K), weight (N, K).
void matvec_forward(float* y, const float* x, const float* weight, int64_t K, int64_t N,
                    MatmulMode mode);

}  // namespace flashnas
