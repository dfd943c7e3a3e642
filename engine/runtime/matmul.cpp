// GEMM (packed AVX2 kernel, Eigen without AVX2) and streaming GEMV kernels, split across threads by output rows.
#include "engine/runtime/matmul.hpp"

#include <Eigen/Core>
#include <algorithm>

#include "engine/runtime/sgemm.hpp"
#include "engine/runtime/thread_pool.hpp"
#include "engine/runtime/vector_math.hpp"

namespace flashnas {

namespace {

using RowMatrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using ConstRowMap = Eigen::Map<const RowMatrix>;
using StridedRowMap = Eigen::Map<RowMatrix, 0, Eigen::OuterStride<>>;

// Below this many multiply-adds a fork-join region costs more than it saves.
constexpr int64_t kMinParallelMacs = int64_t{1} << 16;
// Thread ranges start on multiples of this many rows (a cache line of W rows'
// outputs, and whole 4-row GEMV blocks).
constexpr int64_t kRowAlign = 16;

// out[:, n0:n1] (=|+=) inp W[n0:n1]^T: the packed AVX2 kernel (sgemm.hpp),
// or Eigen's GEMM on machines without AVX2.
void gemm_rows(float* out, const float* inp, const float* weight, int64_t T, int64_t K,
               int64_t N, int64_t n0, int64_t n1, MatmulMode mode) {
  if (n1 <= n0) return;
#ifdef FLASHNAS_AVX2
  sgemm_nt(out, inp, weight, T, K, N, n0, n1, mode);
#else
  ConstRowMap x(inp, T, K);
  ConstRowMap w(weight + n0 * K, n1 - n0, K);
  StridedRowMap y(out + n0, T, n1 - n0, Eigen::OuterStride<>(N));
  if (mode == MatmulMode::overwrite) {
    y.noalias() = x * w.transpose();
  } else {
    y.noalias() += x * w.transpose();
  }
#endif
}

// Four rows of W at a time so each load of x feeds four FMAs; two accumulators
// per row hide the FMA latency.
void gemv_rows(float* y, const float* x, const float* weight, int64_t K, int64_t n0, int64_t n1,
               MatmulMode mode) {
  int64_t n = n0;
#ifdef FLASHNAS_AVX2
  for (; n + 4 <= n1; n += 4) {
    const float* w0 = weight + n * K;
    const float* w1 = w0 + K;
    const float* w2 = w1 + K;
    const float* w3 = w2 + K;
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
    __m256 a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
    __m256 b0 = _mm256_setzero_ps(), b1 = _mm256_setzero_ps();
    __m256 b2 = _mm256_setzero_ps(), b3 = _mm256_setzero_ps();
    int64_t k = 0;
    for (; k + 16 <= K; k += 16) {
      const __m256 xa = _mm256_loadu_ps(x + k);
      const __m256 xb = _mm256_loadu_ps(x + k + 8);
      a0 = _mm256_fmadd_ps(_mm256_loadu_ps(w0 + k), xa, a0);
      a1 = _mm256_fmadd_ps(_mm256_loadu_ps(w1 + k), xa, a1);
      a2 = _mm256_fmadd_ps(_mm256_loadu_ps(w2 + k), xa, a2);
      a3 = _mm256_fmadd_ps(_mm256_loadu_ps(w3 + k), xa, a3);
      b0 = _mm256_fmadd_ps(_mm256_loadu_ps(w0 + k + 8), xb, b0);
      b1 = _mm256_fmadd_ps(_mm256_loadu_ps(w1 + k + 8), xb, b1);
      b2 = _mm256_fmadd_ps(_mm256_loadu_ps(w2 + k + 8), xb, b2);
      b3 = _mm256_fmadd_ps(_mm256_loadu_ps(w3 + k + 8), xb, b3);
    }
    for (; k + 8 <= K; k += 8) {
      const __m256 xa = _mm256_loadu_ps(x + k);
      a0 = _mm256_fmadd_ps(_mm256_loadu_ps(w0 + k), xa, a0);
      a1 = _mm256_fmadd_ps(_mm256_loadu_ps(w1 + k), xa, a1);
      a2 = _mm256_fmadd_ps(_mm256_loadu_ps(w2 + k), xa, a2);
      a3 = _mm256_fmadd_ps(_mm256_loadu_ps(w3 + k), xa, a3);
    }
    float s0 = simd::hsum(_mm256_add_ps(a0, b0));
    float s1 = simd::hsum(_mm256_add_ps(a1, b1));
    float s2 = simd::hsum(_mm256_add_ps(a2, b2));
    float s3 = simd::hsum(_mm256_add_ps(a3, b3));
    for (; k < K; ++k) {
      s0 += w0[k] * x[k];
      s1 += w1[k] * x[k];
      s2 += w2[k] * x[k];
      s3 += w3[k] * x[k];
    }
    if (mode == MatmulMode::overwrite) {
      y[n] = s0, y[n + 1] = s1, y[n + 2] = s2, y[n + 3] = s3;
    } else {
      y[n] += s0, y[n + 1] += s1, y[n + 2] += s2, y[n + 3] += s3;
    }
  }
#endif
  for (; n < n1; ++n) {
    const float s = simd::dot(weight + n * K, x, K);
    y[n] = mode == MatmulMode::overwrite ? s : y[n] + s;
  }
}

void matmul_rows(float* out, const float* inp, const float* weight, int64_t T, int64_t K,
                 int64_t N, int64_t n0, int64_t n1, MatmulMode mode, MatmulPath path) {
  if (T == 1 && path == MatmulPath::by_rows) {
    gemv_rows(out, inp, weight, K, n0, n1, mode);
  } else {
    gemm_rows(out, inp, weight, T, K, N, n0, n1, mode);
  }
}

}  // namespace

void matvec_forward(float* y, const float* x, const float* weight, int64_t K, int64_t N,
                    MatmulMode mode) {
  gemv_rows(y, x, weight, K, 0, N, mode);
}

void matmul_forward(float* out, const float* inp, const float* weight, int64_t T, int64_t K,
                    int64_t N, ThreadPool* pool, MatmulMode mode, MatmulPath path) {
  const int n_threads = pool ? pool->size() : 1;
  if (n_threads == 1 || T * K * N < kMinParallelMacs || N < 2 * kRowAlign) {
    matmul_rows(out, inp, weight, T, K, N, 0, N, mode, path);
    return;
  }
  // Fixed partition: thread i owns rows [i*chunk, (i+1)*chunk) of W.
  const int64_t per_thread = (N + n_threads - 1) / n_threads;
  const int64_t chunk = (per_thread + kRowAlign - 1) / kRowAlign * kRowAlign;
  pool->run([&](int i) {
    const int64_t n0 = std::min<int64_t>(N, i * chunk);
    const int64_t n1 = std::min<int64_t>(N, n0 + chunk);
    matmul_rows(out, inp, weight, T, K, N, n0, n1, mode, path);
  });
}

}  // namespace flashnas
