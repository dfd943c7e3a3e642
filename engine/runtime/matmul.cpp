// GEMM (packed AVX2 or NEON kernel, plain loops without either) and streaming GEMV kernels,
// split across threads by output rows.
#include "engine/runtime/matmul.hpp"

#include <algorithm>
#include <utility>
#include <vector>

#include "engine/runtime/q8_0_matmul.hpp"
#include "engine/runtime/sgemm.hpp"
#include "engine/runtime/thread_pool.hpp"
#include "engine/runtime/vector_math.hpp"
#include "engine/runtime/weight_matrix.hpp"
#include "engine/util/error.hpp"

namespace flashnas {

namespace {

// Below this many multiply-adds a fork-join region costs more than it saves.
constexpr int64_t kMinParallelMacs = int64_t{1} << 16;
// Thread ranges start on multiples of this many rows (a cache line of W rows'
// outputs, whole 8-row GEMV blocks and whole 16-column GEMM panels).
constexpr int64_t kRowAlign = 16;

// out[:, n0:n1] (=|+=) inp W[n0:n1]^T: the packed AVX2 or NEON kernel
// (sgemm.hpp), or its plain loops without either. Not Eigen's GEMM there: its blocking
// and its GEMV dispatch for T == 1 depend on T and on the thread's row range, so
// a row's sums would change with them, and MatmulPath::gemm promises each output
// row bit-identical to the same row of a batched product (last-only prefill;
// the runtime tests failed under qemu-aarch64 by 1 ulp).
void gemm_rows(float* out, const float* inp, const float* weight, int64_t T, int64_t K,
               int64_t N, int64_t n0, int64_t n1, MatmulMode mode) {
  if (n1 <= n0) return;
  sgemm_nt(out, inp, weight, T, K, N, n0, n1, mode);
}

// y[n] (=|+=) dot(W[n], x) for rows [n0, n1): simd::dot_rows, eight rows of W
// at a time, in strips of kGemvStrip outputs (a stack buffer for accumulate).
// Decode is bound by the bandwidth of streaming W, so the loop's job is to
// keep eight sequential row streams in flight with few instructions per byte.
void gemv_rows(float* y, const float* x, const float* weight, int64_t K, int64_t n0, int64_t n1,
               MatmulMode mode) {
  constexpr int64_t kGemvStrip = 256;
  alignas(32) float strip[kGemvStrip];
  for (int64_t n = n0; n < n1; n += kGemvStrip) {
    const int64_t rows = std::min(kGemvStrip, n1 - n);
    if (mode == MatmulMode::overwrite) {
      simd::dot_rows(y + n, x, weight + n * K, K, rows, K);
      continue;
    }
    simd::dot_rows(strip, x, weight + n * K, K, rows, K);
    for (int64_t i = 0; i < rows; ++i) y[n + i] += strip[i];
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

// rows(n0, n1) over [0, N) of a (T, K) x (K, N) product: on the calling thread
// when small, else in the fixed partition: thread i owns rows [i*chunk,
// (i+1)*chunk) of W. The F32 and Q8_0 products share it.
template <class Rows>
void split_rows(int64_t T, int64_t K, int64_t N, ThreadPool* pool, Rows&& rows) {
  const int n_threads = pool ? pool->size() : 1;
  if (n_threads == 1 || T * K * N < kMinParallelMacs || N < 2 * kRowAlign) {
    rows(int64_t{0}, N);
    return;
  }
  const int64_t per_thread = (N + n_threads - 1) / n_threads;
  const int64_t chunk = (per_thread + kRowAlign - 1) / kRowAlign * kRowAlign;
  pool->run([&](int i) {
    const int64_t n0 = std::min<int64_t>(N, i * chunk);
    const int64_t n1 = std::min<int64_t>(N, n0 + chunk);
    rows(n0, n1);
  });
}

// Q8_0 product: GEMV on the activation quantised once (before the threads
// split the rows), or the dequantising packed GEMM.
void matmul_q8_0(float* out, const float* inp, const WeightMatrix& w, int64_t T,
                 ThreadPool* pool, MatmulMode mode, MatmulPath path) {
  const int64_t K = w.cols, N = w.rows;
  FLASHNAS_CHECK(w.q8_0 && K % kQ8BlockValues == 0, "bad Q8_0 weight view ({} x {})", N, K);
  if (T == 1 && path == MatmulPath::by_rows) {
    // The quantised activation row: on the stack up to K = 8192.
    constexpr int64_t kStackBytes = q8_0_row_bytes(8192);
    alignas(32) uint8_t stack[kStackBytes];
    std::vector<uint8_t> heap;
    uint8_t* xq = stack;
    if (q8_0_row_bytes(K) > kStackBytes) {
      heap.resize(static_cast<size_t>(q8_0_row_bytes(K) + 32));
      xq = heap.data() + (32 - reinterpret_cast<uintptr_t>(heap.data()) % 32) % 32;
    }
    quantize_row_q8_0(xq, inp, K);
    split_rows(T, K, N, pool, [&](int64_t n0, int64_t n1) {
      q8_0_gemv_rows(out, xq, w.q8_0, K, n0, n1, mode);
    });
    return;
  }
  split_rows(T, K, N, pool, [&](int64_t n0, int64_t n1) {
    q8_0_gemm_rows(out, inp, w.q8_0, T, K, N, n0, n1, mode);
  });
}

}  // namespace

void matvec_forward(float* y, const float* x, const float* weight, int64_t K, int64_t N,
                    MatmulMode mode) {
  gemv_rows(y, x, weight, K, 0, N, mode);
}

void matmul_forward(float* out, const float* inp, const float* weight, int64_t T, int64_t K,
                    int64_t N, ThreadPool* pool, MatmulMode mode, MatmulPath path) {
  split_rows(T, K, N, pool, [&](int64_t n0, int64_t n1) {
    matmul_rows(out, inp, weight, T, K, N, n0, n1, mode, path);
  });
}

namespace {

// [begin, end) of `n` items for thread i of n_threads, in multiples of `align`.
std::pair<int64_t, int64_t> thread_range(int64_t n, int i, int n_threads, int64_t align) {
  const int64_t per_thread = (n + n_threads - 1) / n_threads;
  const int64_t chunk = (per_thread + align - 1) / align * align;
  const int64_t begin = std::min<int64_t>(n, i * chunk);
  return {begin, std::min<int64_t>(n, begin + chunk)};
}

}  // namespace

void matmul_backward(float* dinp, float* dweight, const float* dout, const float* inp,
                     const float* weight, int64_t T, int64_t K, int64_t N, ThreadPool* pool,
                     MatmulMode dinp_mode) {
  int n_threads = pool ? pool->size() : 1;
  if (T * K * N < kMinParallelMacs) n_threads = 1;
  auto work = [&](int i) {
    if (dinp) {  // dinp[t0:t1] (=|+=) dout[t0:t1] W
      const auto [t0, t1] = thread_range(T, i, n_threads, 6);
      if (t1 > t0) {
        sgemm_nn(dinp + t0 * K, K, {dout + t0 * N, N}, {weight, K}, t1 - t0, N, K, dinp_mode);
      }
    }
    // dweight[n0:n1] += dout[:, n0:n1]^T inp, dout read as a transposed A.
    const auto [n0, n1] = thread_range(N, i, n_threads, 6);
    if (n1 > n0) {
      sgemm_nn(dweight + n0 * K, K, {dout + n0, N, true}, {inp, K}, n1 - n0, T, K,
               MatmulMode::accumulate);
    }
  };
  if (n_threads == 1) {
    work(0);
  } else {
    pool->run(work);
  }
}

void matmul_forward(float* out, const float* inp, const WeightMatrix& weight, int64_t T,
                    ThreadPool* pool, MatmulMode mode, MatmulPath path) {
  if (weight.format == WeightFormat::f32) {
    matmul_forward(out, inp, weight.f32, T, weight.cols, weight.rows, pool, mode, path);
  } else {
    matmul_q8_0(out, inp, weight, T, pool, mode, path);
  }
}

}  // namespace flashnas
