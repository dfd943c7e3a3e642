// Grouped-query causal / sliding-window attention (see attention.hpp).
// Decode computes each query row on its own (attend_one) with 8-keys-at-once
// dot products (simd::dot_rows) over just the keys it can see. Prefill of
// heads of 32 or more runs blocks of 32 queries through the packed GEMM
// (attend_block_gemm); prefill of smaller heads puts 8 queries in the lanes of
// a register (attend_lanes). Every way, a row's output does not depend on
// which rows are computed with it (the last-row-only prefill relies on this).
#include "engine/runtime/attention.hpp"

#include <algorithm>
#include <cmath>

#include "engine/runtime/kernels.hpp"
#include "engine/runtime/sgemm.hpp"
#include "engine/runtime/thread_pool.hpp"
#include "engine/runtime/vector_math.hpp"
#include "engine/util/error.hpp"

namespace flashnas {

namespace {

constexpr int64_t kBlockRows = 32;  // queries per prefill task (contiguous, for locality)
// Prefill heads smaller than this take 8 queries per register (attend_lanes);
// larger ones fill the GEMM micro-kernel's K dimension (attend_block_gemm).
constexpr int64_t kMaxLaneHeadSize = 32;
// Below this many multiply-adds the whole attention runs on the calling thread.
constexpr int64_t kMinParallelMacs = int64_t{1} << 15;
// The decode and lane kernels scale their scores by log2(e) as well, so the
// softmax weights are 2^(s - max) (simd::exp2_nonpositive, cheaper than exp).
constexpr float kLog2e = 1.44269504088896341f;

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

#ifdef FLASHNAS_AVX2
// Scores of NG query heads q[n] (8, scaled) against S key rows k (ld apart),
// eight keys at a time: eight products q*k[j] reduced by one hsum8, the S % 8
// last keys one by one. scores[n] (S8) gets -inf past S; returns the maxima.
template <int NG>
void scores_from_rows(float* const scores[NG], float max_score[NG], const __m256 q[NG],
                      const float* k, int64_t ld, int64_t S, int64_t S8) {
  __m256 mx[NG];
  for (__m256& m : mx) m = _mm256_set1_ps(-INFINITY);
  int64_t j = 0;
  for (; j + 8 <= S; j += 8) {
    const float* kj = k + j * ld;
    for (int n = 0; n < NG; ++n) {
      __m256 prod[8];
#pragma GCC unroll 8
      for (int r = 0; r < 8; ++r) prod[r] = _mm256_mul_ps(q[n], _mm256_loadu_ps(kj + r * ld));
      const __m256 s = simd::hsum8(prod);
      _mm256_storeu_ps(scores[n] + j, s);
      mx[n] = _mm256_max_ps(mx[n], s);
    }
  }
  for (int n = 0; n < NG; ++n) {
    max_score[n] = simd::hmax(mx[n]);
    for (int64_t jt = j; jt < S; ++jt) {
      const float s = simd::hsum(_mm256_mul_ps(q[n], _mm256_loadu_ps(k + jt * ld)));
      scores[n][jt] = s;
      max_score[n] = std::max(max_score[n], s);
    }
    std::fill(scores[n] + S, scores[n] + S8, -INFINITY);
  }
}

// The same from keys in lanes (KvSpan::k_lanes): blocks b0 .. b1 of 8 keys,
// each score vector the FMAs of the 8 broadcast query dimensions against the
// block's 8 key vectors (loaded once for all NG heads): no horizontal sums,
// a quarter of scores_from_rows' time. scores[n] (8 per block) starts at key
// 8*b0; keys outside [first, last] get -inf. Returns the maxima.
template <int NG>
void scores_from_lanes(float* const scores[NG], float max_score[NG], const __m256 q[NG],
                       const float* k_lanes, int64_t b0, int64_t b1, int64_t first,
                       int64_t last) {
  alignas(32) float qs[NG][8];
  for (int n = 0; n < NG; ++n) _mm256_store_ps(qs[n], q[n]);
  __m256 qb[NG][8];  // broadcast query dimensions
  for (int n = 0; n < NG; ++n) {
    for (int i = 0; i < 8; ++i) qb[n][i] = _mm256_set1_ps(qs[n][i]);
  }
  for (int64_t b = b0; b <= b1; ++b) {
    const float* block = k_lanes + b * 64;  // (8 dims, 8 keys)
    __m256 s[NG];
    const __m256 k0 = _mm256_loadu_ps(block);
    for (int n = 0; n < NG; ++n) s[n] = _mm256_mul_ps(qb[n][0], k0);
#pragma GCC unroll 7
    for (int i = 1; i < 8; ++i) {
      const __m256 ki = _mm256_loadu_ps(block + i * 8);
      for (int n = 0; n < NG; ++n) s[n] = _mm256_fmadd_ps(qb[n][i], ki, s[n]);
    }
    for (int n = 0; n < NG; ++n) _mm256_storeu_ps(scores[n] + (b - b0) * 8, s[n]);
  }
  const int64_t n_scores = (b1 - b0 + 1) * 8;
  for (int n = 0; n < NG; ++n) {
    std::fill(scores[n], scores[n] + (first - b0 * 8), -INFINITY);
    std::fill(scores[n] + (last + 1 - b0 * 8), scores[n] + n_scores, -INFINITY);
    max_score[n] = simd::max_value(scores[n], n_scores);
  }
}

// Decode with head size 8 (one key or value row = one register): NG <= 2 of
// the query heads that share kv head kvh, h0 .. h0+NG-1, in one pass over the
// keys and one over the values, so each K and V row is loaded once for both
// heads (stories260K: 2 query heads per kv head). Per query head:
//   scores (S) = (q * scale * log2e) k^T   (scores_from_lanes when the cache
//                keeps keys in lanes, else scores_from_rows)
//   p = 2^(scores - max), out (8) = (p V) / sum(p)
// with values in lanes, p and p V in one pass of 8 keys at a time; else p
// first, then four accumulators per head over the value rows (FMA latency).
// This was attend_one's dot_rows + weighted_row_sum per head: 16 instructions
// per key and head, most of decode's time.
template <int NG>
void attend_group_hs8(const Geometry& g, int64_t t, int64_t h0, float* scratch) {
  const int64_t kvh = h0 / (g.NH / g.KVH);
  const int64_t p = g.pos0 + t;
  const int64_t lo = g.lo(p), S = g.hi(p) - lo + 1;
  const int64_t ld = g.ld();
  const float* v = g.row(g.kv->v, kvh, lo);
  // Per head, the scores of whole registers of keys: with keys in lanes, the
  // blocks holding [lo, hi] (key lo at offset lo % 8), else S rounded up.
  const bool lanes = g.kv->k_lanes != nullptr;
  const int64_t b0 = lo / 8, b1 = (lo + S - 1) / 8;
  const int64_t offset = lanes ? lo - b0 * 8 : 0;
  const int64_t n_scores = lanes ? (b1 - b0 + 1) * 8 : (S + 7) / 8 * 8;
  __m256 q[NG];
  float* scores[NG];
  for (int n = 0; n < NG; ++n) {
    q[n] = _mm256_mul_ps(_mm256_loadu_ps(g.q + t * g.q_dim() + (h0 + n) * 8),
                         _mm256_set1_ps(g.scale * kLog2e));
    scores[n] = scratch + n * n_scores;
  }
  float max_score[NG];
  if (lanes) {
    scores_from_lanes<NG>(scores, max_score, q, g.kv->k_lanes + kvh * g.kv->lanes_head_stride,
                          b0, b1, lo, lo + S - 1);
  } else {
    scores_from_rows<NG>(scores, max_score, q, g.row(g.kv->k, kvh, lo), ld, S, n_scores);
  }
  if (lanes && g.kv->v_lanes) {
    // Weights and output in one pass per head over the blocks, values in
    // lanes too: p = 2^(s - max) for 8 keys (-inf outside [lo, hi]: p = 0) and
    // acc[d] += p * (dimension d of the 8 values), so p never leaves its
    // register; out[d] = hsum(acc[d]) / sum(p): one hsum8 per head, not per key.
    const float* vl = g.kv->v_lanes + kvh * g.kv->lanes_head_stride + b0 * 64;
    for (int n = 0; n < NG; ++n) {
      const __m256 shift = _mm256_set1_ps(max_score[n]);
      __m256 acc[8], sum = _mm256_setzero_ps();
      for (__m256& a : acc) a = _mm256_setzero_ps();
      for (int64_t b = 0; b < n_scores / 8; ++b) {
        const __m256 e =
            simd::exp2_nonpositive(_mm256_sub_ps(_mm256_loadu_ps(scores[n] + 8 * b), shift));
        sum = _mm256_add_ps(sum, e);
#pragma GCC unroll 8
        for (int d = 0; d < 8; ++d) {
          acc[d] = _mm256_fmadd_ps(e, _mm256_loadu_ps(vl + b * 64 + d * 8), acc[d]);
        }
      }
      alignas(32) float partial[8];  // the sum of the weights in double, as exp_shifted_sum
      _mm256_store_ps(partial, sum);
      double total = 0.0;
      for (float x : partial) total += x;
      const __m256 inv = _mm256_set1_ps(static_cast<float>(1.0 / total));
      _mm256_storeu_ps(g.out + t * g.q_dim() + (h0 + n) * 8,
                       _mm256_mul_ps(simd::hsum8(acc), inv));
    }
    return;
  }
  // Weights over whole registers: the padding keys score -inf and weigh
  // 2^-inf = 0, so no key goes through the scalar exp2.
  float inv[NG];
  for (int n = 0; n < NG; ++n) {
    inv[n] = static_cast<float>(
        1.0 / simd::exp_shifted_sum<simd::ExpBase::two>(scores[n], max_score[n], n_scores));
    scores[n] += offset;  // weight j of key lo + j
  }
  // Output: acc[n][u] sums the value rows j = u mod 4.
  __m256 acc[NG][4];
  for (int n = 0; n < NG; ++n) {
    for (__m256& a : acc[n]) a = _mm256_setzero_ps();
  }
  int64_t j = 0;
  for (; j + 4 <= S; j += 4) {
#pragma GCC unroll 4
    for (int u = 0; u < 4; ++u) {
      const __m256 vj = _mm256_loadu_ps(v + (j + u) * ld);
      for (int n = 0; n < NG; ++n) {
        acc[n][u] = _mm256_fmadd_ps(_mm256_set1_ps(scores[n][j + u]), vj, acc[n][u]);
      }
    }
  }
  for (; j < S; ++j) {
    const __m256 vj = _mm256_loadu_ps(v + j * ld);
    for (int n = 0; n < NG; ++n) {
      acc[n][0] = _mm256_fmadd_ps(_mm256_set1_ps(scores[n][j]), vj, acc[n][0]);
    }
  }
  for (int n = 0; n < NG; ++n) {
    const __m256 sum = _mm256_add_ps(_mm256_add_ps(acc[n][0], acc[n][1]),
                                     _mm256_add_ps(acc[n][2], acc[n][3]));
    _mm256_storeu_ps(g.out + t * g.q_dim() + (h0 + n) * 8,
                     _mm256_mul_ps(sum, _mm256_set1_ps(inv[n])));
  }
}

// acc[k] += x * broadcast(p[k * stride]) for k < n <= 8: eight FMA chains fed
// by broadcasts (keys in the lane kernel's scores, value dimensions in its
// output). kAll (n == 8) drops the per-k guard, so the loop is eight plain
// broadcast FMAs; inlined with constant k, acc stays in registers.
template <bool kAll>
inline void fma_broadcasts(__m256 acc[8], __m256 x, const float* p, int64_t stride, int64_t n) {
#pragma GCC unroll 8
  for (int64_t k = 0; k < 8; ++k) {
    if (kAll || k < n) acc[k] = _mm256_fmadd_ps(x, _mm256_broadcast_ss(p + k * stride), acc[k]);
  }
}

// Eight query rows t0 .. t0+7 of head h at once, one per lane of a register
// (prefill of small heads, where a per-row dot product of 8 floats is mostly
// horizontal reduction). R <= 8 rows are real; missing lanes repeat the last.
//   qt (HS, 8):      qt[i][r] = q[t0+r][i] * scale * log2e
//   s  (S, 8):       s[j][r] = qt[:, r] . k[j], -inf where key j is not visible to
//                    row r (before its window or after its position)
//   out[t0+r] (HS) = sum_j 2^(s[j][r] - max_r) v[j] / sum_j 2^(s[j][r] - max_r)
// Keys are visited in one order for every lane, and a masked key adds exactly
// zero, so a row's result is the same whichever rows share its register: a
// one-row call (the last-row-only prefill) equals that row of a full pass.
// kHS > 0 fixes the head size at compile time (8, stories260K's: the loops
// over the head's dimensions unroll), 0 takes it from g.
template <int kHS>
void attend_lanes(const Geometry& g, int64_t t0, int64_t R, int64_t h, float* scratch) {
  const int64_t HS = kHS > 0 ? kHS : g.HS, kvh = h / (g.NH / g.KVH);
  float* qt = scratch;          // (HS, 8); scratch is not 32-byte aligned: loadu/storeu
  float* s = scratch + HS * 8;  // (S, 8)
  alignas(32) float lo_f[8], hi_f[8];
  __m256 q_rows[8];  // head size 8: the 8 query rows, transposed into qt at once
  for (int64_t r = 0; r < 8; ++r) {
    const int64_t t = t0 + std::min(r, R - 1);
    const int64_t p = g.pos0 + t;
    lo_f[r] = static_cast<float>(g.lo(p));  // exact: span indices are far below 2^24
    hi_f[r] = static_cast<float>(g.hi(p));
    const float* qr = g.q + t * g.q_dim() + h * HS;
    if constexpr (kHS == 8) {
      q_rows[r] = _mm256_mul_ps(_mm256_loadu_ps(qr), _mm256_set1_ps(g.scale * kLog2e));
    } else {
      for (int64_t i = 0; i < HS; ++i) qt[i * 8 + r] = qr[i] * (g.scale * kLog2e);
    }
  }
  if constexpr (kHS == 8) {
    simd::transpose8(q_rows);  // q_rows[i]: dimension i of the 8 queries
    for (int64_t i = 0; i < 8; ++i) _mm256_storeu_ps(qt + i * 8, q_rows[i]);
  }
  const int64_t j0 = g.lo(g.pos0 + t0), j1 = g.hi(g.pos0 + t0 + R - 1);  // keys [j0, j1]
  const int64_t S = j1 - j0 + 1;
  const __m256 lo = _mm256_load_ps(lo_f), hi = _mm256_load_ps(hi_f);
  const __m256 minus_inf = _mm256_set1_ps(-INFINITY);
  // Every lane sees keys [lo of the last row, hi of the first row]; only the
  // blocks of 8 keys reaching outside it (the diagonal, a window's start)
  // need the mask, which is a no-op elsewhere.
  const int64_t seen_by_all_lo = g.lo(g.pos0 + t0 + R - 1), seen_by_all_hi = g.hi(g.pos0 + t0);
  const float* k0 = g.row(g.kv->k, kvh, j0);
  const int64_t ld = g.ld();
  // Scores, 8 keys at a time so eight independent FMA chains run; full blocks
  // without the per-key guard, so the key loads are plain broadcasts.
  __m256 mx = minus_inf;
  for (int64_t j = 0; j < S; j += 8) {
    const int64_t nk = std::min<int64_t>(8, S - j);
    const float* kj = k0 + j * ld;
    __m256 acc[8];
    for (__m256& a : acc) a = _mm256_setzero_ps();
    if (nk == 8) {
      for (int64_t i = 0; i < HS; ++i) {
        fma_broadcasts<true>(acc, _mm256_loadu_ps(qt + i * 8), kj + i, ld, 8);
      }
    } else {
      for (int64_t i = 0; i < HS; ++i) {
        fma_broadcasts<false>(acc, _mm256_loadu_ps(qt + i * 8), kj + i, ld, nk);
      }
    }
    // Unrolled with constant k, so acc stays in registers (an acc[k] indexed
    // at run time would make the compiler keep every accumulator in memory).
    const bool masked = j0 + j < seen_by_all_lo || j0 + j + nk - 1 > seen_by_all_hi;
#pragma GCC unroll 8
    for (int64_t k = 0; k < 8; ++k) {
      if (k >= nk) break;
      __m256 sc = acc[k];
      if (masked) {
        const __m256 jf = _mm256_set1_ps(static_cast<float>(j0 + j + k));
        const __m256 hidden = _mm256_or_ps(_mm256_cmp_ps(jf, lo, _CMP_LT_OQ),
                                           _mm256_cmp_ps(jf, hi, _CMP_GT_OQ));
        sc = _mm256_blendv_ps(sc, minus_inf, hidden);
      }
      _mm256_storeu_ps(s + (j + k) * 8, sc);
      mx = _mm256_max_ps(mx, sc);
    }
  }
  // p = 2^(s - max) per lane (2^-inf = 0), and the per-lane sums. Heads of 8
  // or more make p in the first output strip's pass over the keys (no store
  // and reload of s); the strips after it read p back from s.
  const bool fused = HS >= 8;
  __m256 sum = _mm256_setzero_ps();
  auto weight = [&](int64_t j) {
    const __m256 e = simd::exp2_nonpositive(_mm256_sub_ps(_mm256_loadu_ps(s + j * 8), mx));
    sum = _mm256_add_ps(sum, e);
    return e;
  };
  if (!fused) {
    for (int64_t j = 0; j < S; ++j) _mm256_storeu_ps(s + j * 8, weight(j));
  }
  alignas(32) float inv[8];
  // Output, 8 dimensions at a time: acc[d][r] = sum_j p[j][r] v[j][i0+d].
  for (int64_t i0 = 0; i0 < HS; i0 += 8) {
    const int64_t nd = std::min<int64_t>(8, HS - i0);
    __m256 acc[8];
    for (__m256& a : acc) a = _mm256_setzero_ps();
    const float* v0 = g.row(g.kv->v, kvh, j0) + i0;
    if (fused && i0 == 0) {
      for (int64_t j = 0; j < S; ++j) {
        const __m256 pj = weight(j);
        if (HS > 8) _mm256_storeu_ps(s + j * 8, pj);
        fma_broadcasts<true>(acc, pj, v0 + j * ld, 1, 8);
      }
    } else if (nd == 8) {
      for (int64_t j = 0; j < S; ++j) {
        fma_broadcasts<true>(acc, _mm256_loadu_ps(s + j * 8), v0 + j * ld, 1, 8);
      }
    } else {
      for (int64_t j = 0; j < S; ++j) {
        fma_broadcasts<false>(acc, _mm256_loadu_ps(s + j * 8), v0 + j * ld, 1, nd);
      }
    }
    if (i0 == 0) _mm256_store_ps(inv, _mm256_div_ps(_mm256_set1_ps(1.0f), sum));
    if constexpr (kHS == 8) {  // scale the lanes, then transpose: acc[r] = output row r
      const __m256 inv_lanes = _mm256_load_ps(inv);
      for (__m256& a : acc) a = _mm256_mul_ps(a, inv_lanes);
      simd::transpose8(acc);
      for (int64_t r = 0; r < R; ++r) _mm256_storeu_ps(g.out + (t0 + r) * g.q_dim() + h * 8, acc[r]);
      continue;
    }
    alignas(32) float lanes[8][8];  // [d][r]
#pragma GCC unroll 8
    for (int64_t d = 0; d < 8; ++d) _mm256_store_ps(lanes[d], acc[d]);
    for (int64_t r = 0; r < R; ++r) {
      float* o = g.out + (t0 + r) * g.q_dim() + h * HS + i0;
      for (int64_t d = 0; d < nd; ++d) o[d] = lanes[d][r] * inv[r];
    }
  }
}

// Rows t0 .. t0+R-1 of head h through the packed GEMM (prefill of heads of 32
// or more, where the per-row dot products and axpys of attend_one leave most
// of the FMA throughput unused):
//   qs (R, HS)  = q rows * scale
//   s  (R, S)   = qs k[j0..j1]^T                  (sgemm_nt_ld over the cache rows)
//   p  (R, S)   = exp(s - max) on the keys each row sees, 0 elsewhere
//   o  (R, HS)  = p v[j0..j1]                     (sgemm_nn_ld)
//   out[t0+r]   = o[r] / sum(p[r])
// A row's result does not depend on the rows computed with it: each product
// element sums over its k in ascending order, a key a row cannot see adds an
// exact zero (p = 0, values finite) and the softmax runs over the row's own
// keys only, so a one-row call (the last-row-only prefill) equals that row of
// a full pass bit for bit.
void attend_block_gemm(const Geometry& g, int64_t t0, int64_t R, int64_t h, float* scratch) {
  const int64_t HS = g.HS, kvh = h / (g.NH / g.KVH);
  const int64_t j0 = g.lo(g.pos0 + t0), j1 = g.hi(g.pos0 + t0 + R - 1);  // keys [j0, j1]
  const int64_t S = j1 - j0 + 1;
  float* qs = scratch;         // (R, HS)
  float* o = qs + R * HS;      // (R, HS)
  float* p = o + R * HS;       // (R, S)
  for (int64_t r = 0; r < R; ++r) {
    const float* qr = g.q + (t0 + r) * g.q_dim() + h * HS;
    for (int64_t i = 0; i < HS; ++i) qs[r * HS + i] = qr[i] * g.scale;
  }
  sgemm_nt_ld(p, qs, g.row(g.kv->k, kvh, j0), g.ld(), R, HS, S);
  double sums[kBlockRows];
  for (int64_t r = 0; r < R; ++r) {
    const int64_t pos = g.pos0 + t0 + r;
    const int64_t lo = g.lo(pos) - j0, n = g.hi(pos) - j0 - lo + 1;  // visible: [lo, lo+n)
    float* pr = p + r * S;
    sums[r] = simd::exp_shifted_sum(pr + lo, simd::max_value(pr + lo, n), n);
    std::fill(pr, pr + lo, 0.0f);
    std::fill(pr + lo + n, pr + S, 0.0f);
  }
  sgemm_nn_ld(o, p, g.row(g.kv->v, kvh, j0), g.ld(), R, S, HS);
  for (int64_t r = 0; r < R; ++r) {
    float* out = g.out + (t0 + r) * g.q_dim() + h * HS;
    const float inv = static_cast<float>(1.0 / sums[r]);
    for (int64_t i = 0; i < HS; ++i) out[i] = o[r * HS + i] * inv;
  }
}
#endif

}  // namespace

void attention_forward(float* out, const float* q, const KvSpan& kv, int64_t pos0, int64_t T,
                       const AttentionShape& shape, AttentionScratch& scratch, ThreadPool* pool,
                       AttentionMode mode) {
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
#ifdef FLASHNAS_AVX2
  const bool lanes = mode == AttentionMode::prefill && g.HS < kMaxLaneHeadSize;
  const bool blocks = mode == AttentionMode::prefill && !lanes;
  const bool grouped = mode == AttentionMode::decode && g.HS == 8;
#else
  const bool lanes = false, blocks = false, grouped = false;
  (void)mode;  // both prefill forms need AVX2; decode and prefill share attend_one
#endif
  // attend_one: S scores; attend_lanes: qt (HS, 8) and s (S + 7 keys, 8);
  // attend_block_gemm: qs and o (block, HS) and p (block, S + block - 1 keys);
  // attend_group_hs8: two heads' scores (S plus up to 14 keys of partial blocks).
  const size_t per_thread = static_cast<size_t>(
      lanes     ? 8 * (g.HS + max_keys + 7)
      : blocks  ? block * (2 * g.HS + max_keys + block - 1)
      : grouped ? 2 * (max_keys + 14)
                : max_keys);
  if (scratch.scores.size() < per_thread * static_cast<size_t>(n_threads)) {
    scratch.scores.resize(per_thread * static_cast<size_t>(n_threads));
  }
#ifdef FLASHNAS_AVX2
  // Grouped decode: task i = (row i / pairs, pair of heads i % pairs), where
  // the G = NH/KVH heads of each kv head form ceil(G/2) pairs (the last may
  // be a single head).
  const int64_t G = g.NH / g.KVH, pairs_per_kv = (G + 1) / 2, pairs = g.KVH * pairs_per_kv;
#endif
  auto work_grouped = [&](int r) {
#ifdef FLASHNAS_AVX2
    float* scores = scratch.scores.data() + per_thread * static_cast<size_t>(r);
    for (int64_t i = r; i < T * pairs; i += n_threads) {
      const int64_t t = i / pairs, pair = i % pairs;
      const int64_t h0 = pair / pairs_per_kv * G + pair % pairs_per_kv * 2;
      if (h0 + 1 < (pair / pairs_per_kv + 1) * G) {
        attend_group_hs8<2>(g, t, h0, scores);
      } else {
        attend_group_hs8<1>(g, t, h0, scores);
      }
    }
#else
    (void)r;
#endif
  };
  // Task i = (block i / NH, head i % NH); thread r takes tasks r, r+n, r+2n...
  auto work = [&](int r) {
    if (grouped) return work_grouped(r);
    float* scores = scratch.scores.data() + per_thread * static_cast<size_t>(r);
    for (int64_t i = r; i < n_tasks; i += n_threads) {
      const int64_t b = i / g.NH, h = i % g.NH;
      const int64_t t1 = std::min(T, (b + 1) * block);
#ifdef FLASHNAS_AVX2
      if (lanes) {
        for (int64_t t = b * block; t < t1; t += 8) {
          const int64_t rows = std::min<int64_t>(8, t1 - t);
          if (g.HS == 8) {
            attend_lanes<8>(g, t, rows, h, scores);
          } else {
            attend_lanes<0>(g, t, rows, h, scores);
          }
        }
        continue;
      }
      if (blocks) {
        attend_block_gemm(g, b * block, t1 - b * block, h, scores);
        continue;
      }
#endif
      for (int64_t t = b * block; t < t1; ++t) attend_one(g, t, h, scores);
    }
  };
  if (n_threads == 1) {
    work(0);
  } else {
    pool->run(work);
  }
}

}  // namespace flashnas
