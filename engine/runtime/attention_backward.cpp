// The backward of grouped-query causal / sliding-window attention (see
// attention.hpp for the math). One task is one (sequence, kv head): for each
// of its NH/KVH query heads and each block of R <= 32 query rows [t0, t1)
// over the keys [j0, t1) the block can see:
//   P  (R, S)   = softmax(scale q k^T) per row over the keys it sees, 0 elsewhere
//   dP (R, S)   = dout v^T
//   dS (R, S)   = scale P * (dP - D),  D = rowsum(dout * out)  (= rowsum(P * dP))
//   dq rows     = dS k                  (R, HS), written in place
//   dk^T[:, j0:t1] += q^T dS            (HS, S) into the task's dk^T (HS, T)
//   dv^T[:, j0:t1] += dout^T P          (HS, S) into the task's dv^T (HS, T)
// All five products run on the packed GEMM reading q, dout, k and v where they
// are (strided, q^T and dout^T as transposed operands), so nothing is gathered.
// Keeping dk and dv transposed makes their products S columns wide (a whole
// micro-kernel panel even for head size 8); they are scattered into dk, dv
// once per task. Blocks of 32 rows waste at most a 32x32 triangle per block on
// the diagonal (masked keys weigh exactly 0).
//
// Legend: B sequences, T tokens, NH heads, KVH kv heads, HS head size, R block
// rows, S keys of a block.
#include <algorithm>
#include <cmath>

#include "engine/runtime/attention.hpp"
#include "engine/runtime/sgemm.hpp"
#include "engine/runtime/thread_pool.hpp"
#include "engine/runtime/vector_math.hpp"
#include "engine/util/error.hpp"

namespace flashnas {

namespace {

constexpr int64_t kBlockRows = 32;

struct BackwardGeometry {
  int64_t T, NH, KVH, HS, W;
  float scale;
  int64_t q_dim() const { return NH * HS; }
  int64_t kv_dim() const { return KVH * HS; }
  int64_t lo(int64_t t) const { return W > 0 ? std::max<int64_t>(0, t - W + 1) : 0; }
  int64_t max_keys() const { return std::min(T, W > 0 ? W + kBlockRows - 1 : T); }
};

// Per-thread scratch, carved from one float span.
struct TaskScratch {
  float *p, *dp, *dk_t, *dv_t;
  static int64_t floats(const BackwardGeometry& g) {
    return 2 * kBlockRows * g.max_keys() + 2 * g.HS * g.T;
  }
  TaskScratch(float* base, const BackwardGeometry& g) {
    const int64_t RS = kBlockRows * g.max_keys();
    p = base;
    dp = p + RS;
    dk_t = dp + RS;
    dv_t = dk_t + g.HS * g.T;
  }
};

// Query rows [t0, t1) of head h (one sequence: every pointer at its row 0).
void backward_block(const BackwardGeometry& g, TaskScratch& s, float* dq, const float* dout,
                    const float* q, const float* k, const float* v, const float* out, int64_t h,
                    int64_t t0, int64_t t1) {
  const int64_t R = t1 - t0, HS = g.HS, QD = g.q_dim(), KVD = g.kv_dim();
  const int64_t kvh = h / (g.NH / g.KVH);
  const int64_t j0 = g.lo(t0), S = t1 - j0;  // keys [j0, t1)
  const float* kb = k + j0 * KVD + kvh * HS;  // key rows KVD apart
  const float* vb = v + j0 * KVD + kvh * HS;
  const float* qb = q + t0 * QD + h * HS;     // query rows QD apart
  const float* db = dout + t0 * QD + h * HS;
  sgemm_nt_strided(s.p, S, {qb, QD}, {kb, KVD}, R, HS, S, MatmulMode::overwrite);   // q k^T
  sgemm_nt_strided(s.dp, S, {db, QD}, {vb, KVD}, R, HS, S, MatmulMode::overwrite);  // dP
  for (int64_t r = 0; r < R; ++r) {
    const int64_t t = t0 + r;
    const int64_t lo = g.lo(t) - j0, n = t - g.lo(t) + 1;  // visible keys [lo, lo + n)
    float* pr = s.p + r * S;
    float* dpr = s.dp + r * S;
    for (int64_t j = lo; j < lo + n; ++j) pr[j] *= g.scale;
    const double sum = simd::exp_shifted_sum(pr + lo, simd::max_value(pr + lo, n), n);
    const float inv = static_cast<float>(1.0 / sum);
    const float* dor = db + r * QD;
    const float* outr = out + t * QD + h * HS;
    double d = 0.0;  // D = dout . out
    for (int64_t i = 0; i < HS; ++i) d += static_cast<double>(dor[i]) * outr[i];
    const float df = static_cast<float>(d);
    std::fill(pr, pr + lo, 0.0f);
    std::fill(pr + lo + n, pr + S, 0.0f);
    std::fill(dpr, dpr + lo, 0.0f);
    std::fill(dpr + lo + n, dpr + S, 0.0f);
    for (int64_t j = lo; j < lo + n; ++j) {
      pr[j] *= inv;
      dpr[j] = g.scale * pr[j] * (dpr[j] - df);  // dS
    }
  }
  sgemm_nn(dq + t0 * QD + h * HS, QD, {s.dp, S}, {kb, KVD}, R, S, HS, MatmulMode::overwrite);
  sgemm_nn(s.dk_t + j0, g.T, {qb, QD, true}, {s.dp, S}, HS, R, S, MatmulMode::accumulate);
  sgemm_nn(s.dv_t + j0, g.T, {db, QD, true}, {s.p, S}, HS, R, S, MatmulMode::accumulate);
}

}  // namespace

void attention_backward(float* dq, float* dk, float* dv, const float* dout, const float* q,
                        const float* k, const float* v, const float* out, int64_t B, int64_t T,
                        const AttentionShape& shape, AttentionScratch& scratch, ThreadPool* pool) {
  FLASHNAS_CHECK(shape.n_kv_heads > 0 && shape.n_heads % shape.n_kv_heads == 0,
                 "{} heads do not share {} kv heads evenly", shape.n_heads, shape.n_kv_heads);
  FLASHNAS_CHECK(B > 0 && T > 0, "attention backward needs rows, got {} x {}", B, T);
  const BackwardGeometry g{T, shape.n_heads, shape.n_kv_heads, shape.head_dim, shape.window,
                           static_cast<float>(1.0 / std::sqrt(static_cast<double>(shape.head_dim)))};
  const int64_t n_tasks = B * g.KVH, per_thread = TaskScratch::floats(g);
  const int n_threads = pool ? static_cast<int>(std::min<int64_t>(pool->size(), n_tasks)) : 1;
  const size_t need = static_cast<size_t>(per_thread) * static_cast<size_t>(n_threads);
  if (scratch.scores.size() < need) scratch.scores.resize(need);
  const int64_t QD = g.q_dim(), KVD = g.kv_dim(), HS = g.HS, G = g.NH / g.KVH;
  auto work = [&](int r) {
    if (r >= n_threads) return;
    TaskScratch s(scratch.scores.data() + static_cast<size_t>(per_thread) * static_cast<size_t>(r), g);
    for (int64_t task = r; task < n_tasks; task += n_threads) {
      const int64_t b = task / g.KVH, kvh = task % g.KVH;
      const int64_t row0 = b * T;
      std::fill(s.dk_t, s.dk_t + HS * T, 0.0f);
      std::fill(s.dv_t, s.dv_t + HS * T, 0.0f);
      for (int64_t h = kvh * G; h < (kvh + 1) * G; ++h) {
        for (int64_t t0 = 0; t0 < T; t0 += kBlockRows) {
          backward_block(g, s, dq + row0 * QD, dout + row0 * QD, q + row0 * QD, k + row0 * KVD,
                         v + row0 * KVD, out + row0 * QD, h, t0, std::min(T, t0 + kBlockRows));
        }
      }
      for (int64_t t = 0; t < T; ++t) {  // scatter dk^T, dv^T (HS, T) into rows
        float* dkr = dk + (row0 + t) * KVD + kvh * HS;
        float* dvr = dv + (row0 + t) * KVD + kvh * HS;
        for (int64_t i = 0; i < HS; ++i) {
          dkr[i] = s.dk_t[i * T + t];
          dvr[i] = s.dv_t[i * T + t];
        }
      }
    }
  };
  if (n_threads == 1) {
    work(0);
  } else {
    pool->run(work);
  }
}

}  // namespace flashnas
