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
// Head size 8 (stories260K's) takes backward_lanes_hs8 instead: with K = 8
// or M = 8 the five products above leave most of the micro-kernel idle (the
// backward took 6x the forward's time), so 8 query rows go in the lanes of a
// register as in the forward's attend_lanes.
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

// Per-thread scratch, carved from one float span: the GEMM blocks' P and dP
// (R, S), the lanes kernel's weights and dS (keys + 7, 8 lanes each), and the
// task's dk^T, dv^T (HS, T).
struct TaskScratch {
  float *p, *dp, *lanes_p, *lanes_ds, *dk_t, *dv_t;
  static int64_t lanes_floats(const BackwardGeometry& g) { return 8 * (g.max_keys() + 7); }
  static int64_t floats(const BackwardGeometry& g) {
    return 2 * kBlockRows * g.max_keys() + 2 * lanes_floats(g) + 2 * g.HS * g.T;
  }
  TaskScratch(float* base, const BackwardGeometry& g) {
    const int64_t RS = kBlockRows * g.max_keys();
    p = base;
    dp = p + RS;
    lanes_p = dp + RS;
    lanes_ds = lanes_p + lanes_floats(g);
    dk_t = lanes_ds + lanes_floats(g);
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

#ifdef FLASHNAS_AVX2
constexpr float kLog2e = 1.44269504088896341f;

// Head size 8: query rows t0 .. t0+R-1 (R <= 8) of head h, one per lane;
// missing lanes repeat the last row with a zero dout, so they add nothing.
// Over the keys [j0, t0+R-1] the block can see, with x^T the 8 rows
// transposed (x^T[d]: dimension d of every lane):
//   s_j   = (scale log2e) q^T . k_j, -inf where lane r may not see key j
//   P_j   = 2^(s_j - max) / sum_j 2^(s_j - max)        (= softmax of scale q.k)
//   dS_j  = scale P_j (dout^T . v_j - D),  D = dout^T . out^T
//   dq^T[d] += dS_j k_j[d]                             (8 lanes at once)
// in three passes over the keys (scores, weights, then dS and dq), keeping
// P and dS (S, 8); then, 8 keys at a time with the keys in the lanes (P and
// dS transposed), dk^T[d] += sum_r dS[r] q[r][d] and dv^T[d] += sum_r P[r]
// dout[r][d]: 8 FMAs per key each, where a per-key sum over the query lanes
// cost a horizontal reduction (hsum8) per key. dk^T, dv^T (8, T) accumulate
// the task's key gradients; dq rows are written. Every lane sees the keys in
// one order and a hidden key weighs exactly 0, as in the GEMM blocks.
void backward_lanes_hs8(const BackwardGeometry& g, TaskScratch& scratch, float* dq,
                        const float* dout, const float* q, const float* k, const float* v,
                        const float* out, int64_t h, int64_t t0, int64_t R) {
  float* weights = scratch.lanes_p;  // (S, 8): scores, then 2^(s - max), then P
  float* ds_lanes = scratch.lanes_ds;  // (S, 8)
  const int64_t QD = g.q_dim(), KVD = g.kv_dim(), kvh = h / (g.NH / g.KVH);
  __m256 qt[8], dt[8], ot[8];
  alignas(32) float lo_f[8], hi_f[8];
  alignas(32) float q_rows[8][8], dout_rows[8][8];  // [r][d], for the broadcasts
  for (int64_t r = 0; r < 8; ++r) {
    const int64_t t = t0 + std::min(r, R - 1);
    lo_f[r] = static_cast<float>(g.lo(t));  // exact: positions are far below 2^24
    hi_f[r] = static_cast<float>(t);
    qt[r] = _mm256_loadu_ps(q + t * QD + h * 8);
    dt[r] = r < R ? _mm256_loadu_ps(dout + t * QD + h * 8) : _mm256_setzero_ps();
    ot[r] = _mm256_loadu_ps(out + t * QD + h * 8);
    _mm256_store_ps(q_rows[r], qt[r]);
    _mm256_store_ps(dout_rows[r], dt[r]);
  }
  simd::transpose8(qt);
  simd::transpose8(dt);
  simd::transpose8(ot);
  __m256 D = _mm256_setzero_ps();
  __m256 qs[8];  // q^T scaled for the scores
  const __m256 score_scale = _mm256_set1_ps(g.scale * kLog2e);
  for (int d = 0; d < 8; ++d) {
    D = _mm256_fmadd_ps(dt[d], ot[d], D);
    qs[d] = _mm256_mul_ps(qt[d], score_scale);
  }
  const int64_t j0 = g.lo(t0), S = t0 + R - j0;  // keys [j0, t0 + R)
  // Keys every lane sees need no mask: [lo of the last row, the first row].
  const int64_t all_lo = g.lo(t0 + R - 1) - j0, all_hi = t0 - j0;
  const __m256 lo = _mm256_load_ps(lo_f), hi = _mm256_load_ps(hi_f);
  const __m256 minus_inf = _mm256_set1_ps(-INFINITY);
  const float* kb = k + j0 * KVD + kvh * 8;  // key and value rows KVD apart
  const float* vb = v + j0 * KVD + kvh * 8;
  // dot(x^T, row) over the 8 dimensions, in two chains.
  auto dot_lanes = [](const __m256 x[8], const float* row) {
    __m256 a = _mm256_mul_ps(x[0], _mm256_broadcast_ss(row));
    __m256 b = _mm256_mul_ps(x[1], _mm256_broadcast_ss(row + 1));
#pragma GCC unroll 3
    for (int d = 2; d < 8; d += 2) {
      a = _mm256_fmadd_ps(x[d], _mm256_broadcast_ss(row + d), a);
      b = _mm256_fmadd_ps(x[d + 1], _mm256_broadcast_ss(row + d + 1), b);
    }
    return _mm256_add_ps(a, b);
  };
  __m256 mx = minus_inf;
  for (int64_t j = 0; j < S; ++j) {
    __m256 s = dot_lanes(qs, kb + j * KVD);
    if (j < all_lo || j > all_hi) {
      const __m256 jf = _mm256_set1_ps(static_cast<float>(j0 + j));
      const __m256 hidden = _mm256_or_ps(_mm256_cmp_ps(jf, lo, _CMP_LT_OQ),
                                         _mm256_cmp_ps(jf, hi, _CMP_GT_OQ));
      s = _mm256_blendv_ps(s, minus_inf, hidden);
    }
    _mm256_storeu_ps(weights + j * 8, s);
    mx = _mm256_max_ps(mx, s);
  }
  __m256 sum = _mm256_setzero_ps();
  for (int64_t j = 0; j < S; ++j) {
    const __m256 e = simd::exp2_nonpositive(_mm256_sub_ps(_mm256_loadu_ps(weights + j * 8), mx));
    _mm256_storeu_ps(weights + j * 8, e);
    sum = _mm256_add_ps(sum, e);
  }
  const __m256 inv = _mm256_div_ps(_mm256_set1_ps(1.0f), sum);
  const __m256 scale = _mm256_set1_ps(g.scale);
  __m256 dq_t[8];
  for (__m256& a : dq_t) a = _mm256_setzero_ps();
  for (int64_t j = 0; j < S; ++j) {
    const float* kj = kb + j * KVD;
    const __m256 p = _mm256_mul_ps(_mm256_loadu_ps(weights + j * 8), inv);
    const __m256 ds = _mm256_mul_ps(_mm256_mul_ps(p, _mm256_sub_ps(dot_lanes(dt, vb + j * KVD), D)), scale);
    _mm256_storeu_ps(weights + j * 8, p);
    _mm256_storeu_ps(ds_lanes + j * 8, ds);
#pragma GCC unroll 8
    for (int d = 0; d < 8; ++d) dq_t[d] = _mm256_fmadd_ps(ds, _mm256_broadcast_ss(kj + d), dq_t[d]);
  }
  simd::transpose8(dq_t);  // dq_t[r]: row t0 + r
  for (int64_t r = 0; r < R; ++r) _mm256_storeu_ps(dq + (t0 + r) * QD + h * 8, dq_t[r]);
  // acc[d] (keys in lanes) = sum_r x[r] (lanes: the 8 keys) * rows[r][d].
  auto keys_in_lanes = [](__m256 acc[8], const __m256 x[8], const float (*rows)[8]) {
    for (int d = 0; d < 8; ++d) acc[d] = _mm256_setzero_ps();
    for (int r = 0; r < 8; ++r) {
#pragma GCC unroll 8
      for (int d = 0; d < 8; ++d) acc[d] = _mm256_fmadd_ps(x[r], _mm256_broadcast_ss(&rows[r][d]), acc[d]);
    }
  };
  for (int64_t j = 0; j < S; j += 8) {
    const int64_t nk = std::min<int64_t>(8, S - j);
    __m256 x[8], acc[8];
    float* dst[2] = {scratch.dk_t + j0 + j, scratch.dv_t + j0 + j};  // row d at + d * T
    for (int which = 0; which < 2; ++which) {
      const float* src = which == 0 ? ds_lanes : weights;
      for (int64_t i = 0; i < 8; ++i) x[i] = i < nk ? _mm256_loadu_ps(src + (j + i) * 8) : _mm256_setzero_ps();
      simd::transpose8(x);  // x[r]: query lane r's values for the 8 keys
      keys_in_lanes(acc, x, which == 0 ? q_rows : dout_rows);
      for (int d = 0; d < 8; ++d) {
        float* row = dst[which] + d * g.T;
        if (nk == 8) {
          _mm256_storeu_ps(row, _mm256_add_ps(_mm256_loadu_ps(row), acc[d]));
          continue;
        }
        alignas(32) float lane[8];
        _mm256_store_ps(lane, acc[d]);
        for (int64_t i = 0; i < nk; ++i) row[i] += lane[i];
      }
    }
  }
}
#endif

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
#ifdef FLASHNAS_AVX2
        if (HS == 8) {
          for (int64_t t0 = 0; t0 < T; t0 += 8) {
            backward_lanes_hs8(g, s, dq + row0 * QD, dout + row0 * QD, q + row0 * QD,
                               k + row0 * KVD, v + row0 * KVD, out + row0 * QD, h, t0,
                               std::min<int64_t>(8, T - t0));
          }
          continue;
        }
#endif
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
