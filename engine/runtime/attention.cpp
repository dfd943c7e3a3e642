// Grouped-query causal / sliding-window attention (see attention.hpp).
// Every query row is computed on its own (attend_one) with 8-keys-at-once dot
// products (simd::dot_rows) over just the keys it can see: decode and
// prefill share one kernel, so a row's output does not depend on how many
// rows are computed with it (the last-row-only prefill relies on this), and a
// causal prefill does no masked work.
#include "engine/runtime/attention.hpp"

#include <algorithm>
#include <cmath>

#include "engine/runtime/kernels.hpp"
#include "engine/runtime/thread_pool.hpp"
#include "engine/runtime/vector_math.hpp"
#include "engine/util/error.hpp"

namespace flashnas {

namespace {

constexpr int64_t kBlockRows = 32;  // queries per prefill task (contiguous, for locality)
// Below this many multiply-adds the whole attention runs on the calling thread.
constexpr int64_t kMinParallelMacs = int64_t{1} << 15;

struct Geometry {
  const float* q;
  float* out;
  const KvSpan* kv;
  int64_t pos0, T, NH, KVH, HS, W;
  float scale;
  int64_t q_dim() const { return NH * HS; }
  int64_t ld() const { return kv->row_stride; }
  // Span row j (HS floats) of kv head kvh in the keys or values.
  const float* row(const float* base, int64_t kvh, int64_t j) const {
    return base + kvh * kv->head_stride + j * kv->row_stride;
  }
  // First and last span index a query at position p may attend to.
  int64_t lo(int64_t p) const {
    const int64_t first = W > 0 ? std::max<int64_t>(0, p - W + 1) : 0;
    return std::max(first, kv->first) - kv->first;
  }
  int64_t hi(int64_t p) const { return p - kv->first; }
};

// One query row t of head h (decode, and prefill of small heads):
//   scores (S) = q k^T * scale over the visible keys, p = exp(scores - max),
//   out (HS) = (p V) / sum(p)   (normalising the HS outputs, not the S scores).
void attend_one(const Geometry& g, int64_t t, int64_t h, float* scores) {
  const int64_t kvh = h / (g.NH / g.KVH);
  const float* qh = g.q + t * g.q_dim() + h * g.HS;
  float* oh = g.out + t * g.q_dim() + h * g.HS;
  const int64_t p = g.pos0 + t;
  const int64_t lo = g.lo(p), hi = g.hi(p);
  const int64_t S = hi - lo + 1;
  const float* k = g.row(g.kv->k, kvh, lo);
  const float* v = g.row(g.kv->v, kvh, lo);
  simd::dot_rows(scores, qh, k, g.ld(), S, g.HS);
  for (int64_t j = 0; j < S; ++j) scores[j] *= g.scale;
  const double sum = simd::exp_shifted_sum(scores, simd::max_value(scores, S), S);
  simd::weighted_row_sum(oh, scores, v, g.ld(), S, g.HS);
  const float inv = static_cast<float>(1.0 / sum);
  for (int64_t i = 0; i < g.HS; ++i) oh[i] *= inv;
}

}  // namespace

void attention_forward(float* out, const float* q, const KvSpan& kv, int64_t pos0, int64_t T,
                       const AttentionShape& shape, AttentionScratch& scratch, ThreadPool* pool) {
  FLASHNAS_CHECK(shape.n_kv_heads > 0 && shape.n_heads % shape.n_kv_heads == 0,
                 "{} heads do not share {} kv heads evenly", shape.n_heads, shape.n_kv_heads);
  FLASHNAS_CHECK(kv.first <= pos0 && pos0 + T <= kv.first + kv.count,
                 "KV span [{}, {}) does not cover queries [{}, {})", kv.first,
                 kv.first + kv.count, pos0, pos0 + T);
  const Geometry g{q,          out,        &kv,         pos0,         T,
                   shape.n_heads, shape.n_kv_heads, shape.head_dim, shape.window,
                   static_cast<float>(1.0 / std::sqrt(static_cast<double>(shape.head_dim)))};
  const int64_t block = T == 1 ? 1 : kBlockRows;
  const int64_t n_blocks = (T + block - 1) / block;
  const int64_t n_tasks = n_blocks * g.NH;
  const int64_t max_keys = std::min(kv.count, g.W > 0 ? g.W : kv.count);  // keys one query sees
  int n_threads = pool ? pool->size() : 1;
  if (T * kv.count * g.NH * g.HS < kMinParallelMacs) n_threads = 1;
  const size_t per_thread = static_cast<size_t>(max_keys);
  if (scratch.scores.size() < per_thread * static_cast<size_t>(n_threads)) {
    scratch.scores.resize(per_thread * static_cast<size_t>(n_threads));
  }
  // Task i = (block i / NH, head i % NH); thread r takes tasks r, r+n, r+2n...
  auto work = [&](int r) {
    float* scores = scratch.scores.data() + per_thread * static_cast<size_t>(r);
    for (int64_t i = r; i < n_tasks; i += n_threads) {
      const int64_t b = i / g.NH, h = i % g.NH;
      for (int64_t t = b * block; t < std::min(T, (b + 1) * block); ++t) attend_one(g, t, h, scores);
    }
  };
  if (n_threads == 1) {
    work(0);
  } else {
    pool->run(work);
  }
}

}  // namespace flashnas
