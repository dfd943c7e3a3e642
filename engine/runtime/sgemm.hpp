// Packed single-precision GEMM for the prefill matrix products, BLIS / llm.c
// style: the weight operand is packed into 16-column panels per K block, and
// a 6x16 register-blocked AVX2/FMA micro-kernel computes each tile of the
// output. Not the decode GEMV (matmul.cpp) and not a general BLAS: only the
// "activations times a row-major checkpoint matrix transposed" form the
// forward pass needs.
//
// Legend: M rows of activations (tokens), K input width, N output width.
#pragma once

#include <cstdint>

#include "engine/runtime/matmul.hpp"

namespace flashnas {

// out[:, n0:n1] (=|+=) inp W[n0:n1]^T.
// out (M, N) row-major, inp (M, K) row-major, weight (N, K) row-major.
// Each output element sums its K products in the same order whatever
// [n0, n1) is, so splitting N across threads never changes a result.
void sgemm_nt(float* out, const float* inp, const float* weight, int64_t M, int64_t K, int64_t N,
              int64_t n0, int64_t n1, MatmulMode mode);

// W given by a row source instead of an F32 matrix: load(context, dst, p0,
// nr, k0, kc) writes W[p0:p0+nr, k0:k0+kc] as F32 rows (nr, kc) to dst (kc
// floats apart). The Q8_0 GEMM (q8_0_matmul.hpp) dequantises there; sgemm
// packs and multiplies as for F32, so the kernel and the loop are shared.
struct SgemmRowSource {
  void (*load)(const void* context, float* dst, int64_t p0, int64_t nr, int64_t k0, int64_t kc);
  const void* context;
};

// out[:, n0:n1] (=|+=) inp W[n0:n1]^T with W (N, K) read through `weight`.
void sgemm_nt_rows(float* out, const float* inp, const SgemmRowSource& weight, int64_t M,
                   int64_t K, int64_t N, int64_t n0, int64_t n1, MatmulMode mode);

// The two products of blocked prefill attention, whose B operand is a span of
// the KV cache with rows `ldb` floats apart; overwrite only:
//   sgemm_nt_ld: out (M, N) = inp (M, K) B^T with B (N, K)   (scores = q k^T)
//   sgemm_nn_ld: out (M, N) = inp (M, K) B   with B (K, N)   (output = p v)
// Same kernel as sgemm_nt, so each element still sums its K products in
// ascending k order whatever M and N are.
void sgemm_nt_ld(float* out, const float* inp, const float* b, int64_t ldb, int64_t M, int64_t K,
                 int64_t N);
void sgemm_nn_ld(float* out, const float* inp, const float* b, int64_t ldb, int64_t M, int64_t K,
                 int64_t N);

// A general product with strides, for the backward pass (training) and blocked
// attention: out (M, N) (=|+=) A (M, K) B (K, N), all row-major; A's rows are
// a.ld floats apart, B's b.ld, out's ldc. Same kernel and the same
// ascending-k order per element as sgemm_nt, so a row range [m0, m1) computed
// alone (out, a advanced by m0 rows) equals those rows of the whole product.
struct SgemmOperand {
  const float* data;
  int64_t ld;                // floats between consecutive rows (as stored)
  bool transposed = false;   // A only: stored as its transpose (K, M), element (m, k) at data[k * ld + m]
};
void sgemm_nn(float* out, int64_t ldc, SgemmOperand a, SgemmOperand b, int64_t M, int64_t K,
              int64_t N, MatmulMode mode);
// out (M, N) (=|+=) A (M, K) B^T with B (N, K), B's rows b.ld apart (b.transposed unused).
void sgemm_nt_strided(float* out, int64_t ldc, SgemmOperand a, SgemmOperand b, int64_t M,
                      int64_t K, int64_t N, MatmulMode mode);

// The same product with plain loops (float accumulation in k order): the
// portable fallback without AVX2 and the reference the tests compare against.
void sgemm_nt_reference(float* out, const float* inp, const float* weight, int64_t M, int64_t K,
                        int64_t N, int64_t n0, int64_t n1, MatmulMode mode);

}  // namespace flashnas
