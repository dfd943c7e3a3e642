// Q8_0 quantise / dequantise of runtime rows and the Q8_0 GEMV and GEMM over
// row ranges (see q8_0_matmul.hpp). Most of a Q8_0 decode's time is in
// q8_0_gemv_rows, bound by the bandwidth of streaming the int8 rows.
#include "engine/runtime/q8_0_matmul.hpp"

#include <algorithm>
#include <cstring>

#include "engine/model/tensor_types.hpp"
#include "engine/runtime/sgemm.hpp"
#include "engine/runtime/vector_math.hpp"
#include "engine/runtime/weight_matrix.hpp"
#include "engine/util/error.hpp"

namespace flashnas {

namespace {

constexpr int64_t QK = kQ8BlockValues;  // values per block

const int8_t* row_quants(const uint8_t* row) { return reinterpret_cast<const int8_t*>(row); }
// The scales follow the K quants; K is a multiple of 32, so they are 4-byte aligned.
const float* row_scales(const uint8_t* row, int64_t K) {
  return reinterpret_cast<const float*>(row + K);
}

#ifdef FLASHNAS_AVX2
// The 8 int32 partial sums of one 32-value block dot q_w . q_x, as floats
// (exact: |sum| <= 4 * 127 * 127). ggml's trick: maddubs multiplies unsigned by
// signed bytes, so |q_w| is made the unsigned operand and its sign moved onto
// q_x; pairs then fit int16 (2 * 127 * 127 < 32767) and madd with ones widens.
inline __m256 block_dot(__m256i qw, __m256i qx) {
  const __m256i abs_w = _mm256_sign_epi8(qw, qw);
  const __m256i signed_x = _mm256_sign_epi8(qx, qw);
  const __m256i pairs = _mm256_maddubs_epi16(abs_w, signed_x);
  return _mm256_cvtepi32_ps(_mm256_madd_epi16(pairs, _mm256_set1_epi16(1)));
}

inline __m256i load_block(const int8_t* q) {
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q));  // aligned in practice
}
#else
// q_w . q_x over one 32-value block, exact in int32 (|sum| <= 32 * 128 * 128).
// NEON: with the Armv8.2 dot-product extension, two sdot; without it, int8
// products widened to int16 (each fits: 128 * 128) and pairwise-added into
// int32 lanes. Either way the integer sum is exact, so every build gives the
// scalar loop's result.
inline int32_t block_dot(const int8_t* qw, const int8_t* qx) {
#if defined(FLASHNAS_NEON) && defined(__ARM_FEATURE_DOTPROD)
  int32x4_t acc = vdotq_s32(vdupq_n_s32(0), vld1q_s8(qw), vld1q_s8(qx));
  acc = vdotq_s32(acc, vld1q_s8(qw + 16), vld1q_s8(qx + 16));
  return vaddvq_s32(acc);
#elif defined(FLASHNAS_NEON)
  const int8x16_t w0 = vld1q_s8(qw), w1 = vld1q_s8(qw + 16);
  const int8x16_t x0 = vld1q_s8(qx), x1 = vld1q_s8(qx + 16);
  int32x4_t acc = vpaddlq_s16(vmull_s8(vget_low_s8(w0), vget_low_s8(x0)));
  acc = vpadalq_s16(acc, vmull_high_s8(w0, x0));
  acc = vpadalq_s16(acc, vmull_s8(vget_low_s8(w1), vget_low_s8(x1)));
  acc = vpadalq_s16(acc, vmull_high_s8(w1, x1));
  return vaddvq_s32(acc);
#else
  int32_t sum = 0;
  for (int64_t i = 0; i < QK; ++i) sum += int32_t{qw[i]} * int32_t{qx[i]};
  return sum;
#endif
}
#endif

#ifdef FLASHNAS_AVX2
// quantize_q8_0_block (tensor_types.cpp) with AVX2, bit for bit (the tests
// compare): decode quantises every matmul's activation row, and the scalar
// loop (lround) takes 6.4 ns a value against 0.55 ns here, 0.5 ms of each
// 110M-shape decode step (80k values a token). The same float operations in
// the same order (max is exact in any order); lround's half-away-from-zero is
// trunc(p + copysign(0.5 - 2^-25, p)), exact for |p| < 2^23 (0.5 itself would
// round 0.49999997 up).
uint16_t quantize_block_avx2(const float* x, int8_t* q) {
  const __m256 sign = _mm256_set1_ps(-0.0f);
  __m256 v[4];
  __m256 amax = _mm256_setzero_ps();
  for (int i = 0; i < 4; ++i) {
    v[i] = _mm256_loadu_ps(x + 8 * i);
    amax = _mm256_max_ps(amax, _mm256_andnot_ps(sign, v[i]));
  }
  __m128 m = _mm_max_ps(_mm256_castps256_ps128(amax), _mm256_extractf128_ps(amax, 1));
  m = _mm_max_ps(m, _mm_movehl_ps(m, m));
  m = _mm_max_ss(m, _mm_movehdup_ps(m));
  const float d = _mm_cvtss_f32(m) / 127.0f;
  const __m256 id = _mm256_set1_ps(d != 0.0f ? 1.0f / d : 0.0f);
  const __m256 nearly_half = _mm256_set1_ps(0.49999997f);
  __m256i r[4];
  for (int i = 0; i < 4; ++i) {
    const __m256 p = _mm256_mul_ps(v[i], id);
    const __m256 away = _mm256_add_ps(p, _mm256_or_ps(_mm256_and_ps(p, sign), nearly_half));
    r[i] = _mm256_cvttps_epi32(away);
  }
  // int32 -> int8 (|q| <= 127: no saturation); packs interleave the 128-bit
  // lanes, the permutation restores the order.
  const __m256i packed = _mm256_packs_epi16(_mm256_packs_epi32(r[0], r[1]),
                                            _mm256_packs_epi32(r[2], r[3]));
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(q),
                      _mm256_permutevar8x32_epi32(packed, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7)));
  return float_to_half(d);
}
#endif

#ifdef FLASHNAS_NEON
// quantize_q8_0_block with NEON, bit for bit: the same max and the same
// products x * id, rounded by vcvtaq (to nearest, ties away from zero: lround).
uint16_t quantize_block_neon(const float* x, int8_t* q) {
  float32x4_t v[8];
  float32x4_t amax = vdupq_n_f32(0.0f);
  for (int i = 0; i < 8; ++i) {
    v[i] = vld1q_f32(x + 4 * i);
    amax = vmaxq_f32(amax, vabsq_f32(v[i]));
  }
  const float d = vmaxvq_f32(amax) / 127.0f;
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  for (int i = 0; i < 8; i += 2) {  // |q| <= 127: the narrowing never saturates
    const int16x8_t q16 = vcombine_s16(vmovn_s32(vcvtaq_s32_f32(vmulq_n_f32(v[i], id))),
                                       vmovn_s32(vcvtaq_s32_f32(vmulq_n_f32(v[i + 1], id))));
    vst1_s8(q + 4 * i, vmovn_s16(q16));
  }
  return float_to_half(d);
}
#endif

// Rows of a Q8_0 matrix as F32 for sgemm_nt_rows. context: the WeightMatrix.
void load_q8_0_rows(const void* context, float* dst, int64_t p0, int64_t nr, int64_t k0,
                    int64_t kc) {
  const auto& w = *static_cast<const WeightMatrix*>(context);
  const int64_t row_bytes = q8_0_row_bytes(w.cols);
  for (int64_t j = 0; j < nr; ++j) {
    dequantize_row_q8_0(dst + j * kc, w.q8_0 + (p0 + j) * row_bytes, w.cols, k0, kc);
  }
}

}  // namespace

void check_q8_0_row_length(int64_t K) {
  if (K <= 0 || K % QK != 0) {
    throw InvalidInput(
        fmt::format("Q8_0 needs a row length that is a positive multiple of {}, got {}", QK, K),
        "K");
  }
}

void quantize_row_q8_0(uint8_t* row, const float* x, int64_t K) {
  check_q8_0_row_length(K);
  int8_t* q = reinterpret_cast<int8_t*>(row);
  float* d = reinterpret_cast<float*>(row + K);
  for (int64_t b = 0; b < K / QK; ++b) {
#ifdef FLASHNAS_AVX2
    d[b] = half_to_float(quantize_block_avx2(x + b * QK, q + b * QK));
#elif defined(FLASHNAS_NEON)
    d[b] = half_to_float(quantize_block_neon(x + b * QK, q + b * QK));
#else
    d[b] = half_to_float(quantize_q8_0_block(x + b * QK, q + b * QK));
#endif
  }
  std::memset(row + K + K / QK * 4, 0, static_cast<size_t>(q8_0_row_bytes(K) - K - K / QK * 4));
}

void dequantize_row_q8_0(float* x, const uint8_t* row, int64_t K, int64_t k0, int64_t kc) {
  const int8_t* q = row_quants(row);
  const float* d = row_scales(row, K);
  int64_t k = k0;
  const int64_t end = k0 + kc;
#ifdef FLASHNAS_AVX2
  if (k % QK == 0) {  // whole blocks: 8 quants -> 8 floats at a time
    for (; k + QK <= end; k += QK) {
      const __m256 scale = _mm256_set1_ps(d[k / QK]);
      for (int64_t i = 0; i < QK; i += 8) {
        const __m128i q8 = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(q + k + i));
        const __m256 v = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q8));
        _mm256_storeu_ps(x + (k - k0) + i, _mm256_mul_ps(scale, v));
      }
    }
  }
#elif defined(FLASHNAS_NEON)
  if (k % QK == 0) {  // whole blocks: 8 quants -> 8 floats at a time
    for (; k + QK <= end; k += QK) {
      const float scale = d[k / QK];
      for (int64_t i = 0; i < QK; i += 8) {
        const int16x8_t q16 = vmovl_s8(vld1_s8(q + k + i));
        float* dst = x + (k - k0) + i;
        vst1q_f32(dst, vmulq_n_f32(vcvtq_f32_s32(vmovl_s16(vget_low_s16(q16))), scale));
        vst1q_f32(dst + 4, vmulq_n_f32(vcvtq_f32_s32(vmovl_high_s16(q16)), scale));
      }
    }
  }
#endif
  for (; k < end; ++k) x[k - k0] = d[k / QK] * static_cast<float>(q[k]);
}

void q8_0_gemv_rows(float* y, const uint8_t* xq, const uint8_t* weight, int64_t K, int64_t n0,
                    int64_t n1, MatmulMode mode) {
  FLASHNAS_CHECK(K > 0 && K % QK == 0, "Q8_0 row length {} is not a multiple of {}", K, QK);
  const int64_t nb = K / QK;
  const int64_t row_bytes = q8_0_row_bytes(K);
  const int8_t* qx = row_quants(xq);
  const float* dx = row_scales(xq, K);
  auto store = [&](int64_t n, float sum) {
    y[n] = mode == MatmulMode::overwrite ? sum : y[n] + sum;
  };
  int64_t n = n0;
#ifdef FLASHNAS_AVX2
  // Eight rows at a time: eight independent accumulators share each load of
  // the activation block. The eight rows are one contiguous span of memory,
  // read as eight short interleaved streams (a 768-wide row is 13.5 cache
  // lines), too short for the hardware prefetcher to ramp up: the loop would
  // read DRAM at half the bandwidth (7 of 14.5 GB/s on a 100000 x 768 matrix).
  // So each block step prefetches its share of the next group of eight rows.
  const int64_t prefetch_step = 8 * row_bytes / nb;  // bytes of a group per block step
  for (; n + 8 <= n1; n += 8) {
    const uint8_t* rows = weight + n * row_bytes;
    const bool prefetch = n + 16 <= n1;  // the next group is in this range
    __m256 acc[8];
    for (__m256& a : acc) a = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; ++b) {
      if (prefetch) {
        const uint8_t* next = rows + 8 * row_bytes + b * prefetch_step;
        for (int64_t o = 0; o < prefetch_step; o += 64) {
          _mm_prefetch(reinterpret_cast<const char*>(next + o), _MM_HINT_T0);
        }
      }
      const __m256i x = load_block(qx + b * QK);
      const float d = dx[b];
#pragma GCC unroll 8
      for (int r = 0; r < 8; ++r) {
        const uint8_t* row = rows + r * row_bytes;
        const __m256 scale = _mm256_set1_ps(row_scales(row, K)[b] * d);
        acc[r] = _mm256_fmadd_ps(scale, block_dot(load_block(row_quants(row) + b * QK), x), acc[r]);
      }
    }
    alignas(32) float sums[8];
    _mm256_store_ps(sums, simd::hsum8(acc));
    for (int r = 0; r < 8; ++r) store(n + r, sums[r]);
  }
  // Remaining rows one by one, reduced in hsum8's order so that a row's value
  // does not depend on whether it fell in a group of eight.
  for (; n < n1; ++n) {
    const uint8_t* row = weight + n * row_bytes;
    __m256 acc = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; ++b) {
      const __m256 scale = _mm256_set1_ps(row_scales(row, K)[b] * dx[b]);
      acc = _mm256_fmadd_ps(scale, block_dot(load_block(row_quants(row) + b * QK),
                                              load_block(qx + b * QK)),
                            acc);
    }
    const __m256 same[8] = {acc, acc, acc, acc, acc, acc, acc, acc};
    store(n, _mm256_cvtss_f32(simd::hsum8(same)));
  }
#else
  for (; n < n1; ++n) {
    const uint8_t* row = weight + n * row_bytes;
    const int8_t* qw = row_quants(row);
    const float* dw = row_scales(row, K);
    float sum = 0.0f;
    for (int64_t b = 0; b < nb; ++b) {
      sum += dw[b] * dx[b] * static_cast<float>(block_dot(qw + b * QK, qx + b * QK));
    }
    store(n, sum);
  }
#endif
}

void q8_0_gemm_rows(float* out, const float* inp, const uint8_t* weight, int64_t M, int64_t K,
                    int64_t N, int64_t n0, int64_t n1, MatmulMode mode) {
  FLASHNAS_CHECK(K > 0 && K % QK == 0, "Q8_0 row length {} is not a multiple of {}", K, QK);
  if (n1 <= n0) return;
  const WeightMatrix w{WeightFormat::q8_0, nullptr, weight, N, K};
  sgemm_nt_rows(out, inp, SgemmRowSource{&load_q8_0_rows, &w}, M, K, N, n0, n1, mode);
}

}  // namespace flashnas
