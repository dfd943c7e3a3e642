// Small SIMD building blocks for the runtime kernels: dot products, a vector
// exp and horizontal sums, with AVX2+FMA paths (x86-64), NEON paths (aarch64,
// the phones the device agent runs on) and portable fallbacks. Not a general
// math library: only what the kernels' inner loops need.
#pragma once

#include <cmath>
#include <cstdint>

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define FLASHNAS_AVX2 1
#elif defined(__aarch64__) && defined(__ARM_NEON)
#include <arm_neon.h>
#define FLASHNAS_NEON 1
#endif

namespace flashnas::simd {

// The instruction set of this build's hand-written kernels, for reports (a
// device's latencies depend on it).
constexpr const char* kKernelIsa =
#if defined(FLASHNAS_AVX2)
    "avx2";
#elif defined(FLASHNAS_NEON) && defined(__ARM_FEATURE_DOTPROD)
    "neon+dotprod";
#elif defined(FLASHNAS_NEON)
    "neon";
#else
    "scalar";
#endif

#ifdef FLASHNAS_AVX2
inline float hsum(__m256 v) {
  __m128 lo = _mm256_castps256_ps128(v);
  __m128 hi = _mm256_extractf128_ps(v, 1);
  lo = _mm_add_ps(lo, hi);
  lo = _mm_add_ps(lo, _mm_movehl_ps(lo, lo));
  lo = _mm_add_ss(lo, _mm_movehdup_ps(lo));
  return _mm_cvtss_f32(lo);
}

// max of the 8 lanes of v.
inline float hmax(__m256 v) {
  __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  m = _mm_max_ps(m, _mm_movehl_ps(m, m));
  m = _mm_max_ss(m, _mm_movehdup_ps(m));
  return _mm_cvtss_f32(m);
}

// exp(x) for 8 floats, relative error below 2e-7 over the range softmax uses
// (x <= 0); inputs below -87 give 0. Cephes-style: exp(x) = 2^n * exp(r) with
// r = x - n ln2 in [-ln2/2, ln2/2] and a degree-6 polynomial for exp(r).
inline __m256 exp(__m256 x) {
  const __m256 max_x = _mm256_set1_ps(88.3762626647949f);
  const __m256 min_x = _mm256_set1_ps(-87.3365447504f);
  x = _mm256_min_ps(x, max_x);
  const __m256 underflow = _mm256_cmp_ps(x, min_x, _CMP_LT_OQ);
  x = _mm256_max_ps(x, min_x);
  const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
  __m256 p = _mm256_set1_ps(1.9875691500e-4f);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
  const __m256 r2 = _mm256_mul_ps(r, r);
  p = _mm256_fmadd_ps(p, r2, _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
  const __m256i pow2n =
      _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  const __m256 result = _mm256_mul_ps(p, _mm256_castsi256_ps(pow2n));
  return _mm256_andnot_ps(underflow, result);
}

// 2^x for 8 floats with x <= 0 (softmax weights with log2(e) folded into the
// scores), relative error below 2e-7; x <= -127 (and -inf) gives 0. Cheaper
// than exp: the range reduction r = x - round(x) is exact, so no ln2 split,
// no overflow clamp, and a degree-5 polynomial (Chebyshev interpolation of 2^r
// on [-1/2, 1/2], error 1e-7) instead of degree 6: 12 instructions, not 20.
inline __m256 exp2_nonpositive(__m256 x) {
  x = _mm256_max_ps(x, _mm256_set1_ps(-127.0f));
  const __m256 n = _mm256_round_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  const __m256 r = _mm256_sub_ps(x, n);
  __m256 p = _mm256_set1_ps(1.339086336e-3f);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(9.676031918e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.550357114e-2f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(2.402210749e-1f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(6.931471880e-1f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.000000075f));
  // 2^n from its exponent bits; n = -127 gives the bits of 0.0.
  const __m256i pow2n =
      _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  return _mm256_mul_ps(p, _mm256_castsi256_ps(pow2n));
}
#endif

#ifdef FLASHNAS_NEON
// exp(x) for 4 floats: the AVX2 exp above, instruction for instruction
// (vfmsq_f32(a, b, c) = a - b*c is its fnmadd; n is integral, so the
// truncating conversion is exact).
inline float32x4_t exp(float32x4_t x) {
  x = vminq_f32(x, vdupq_n_f32(88.3762626647949f));
  const uint32x4_t underflow = vcltq_f32(x, vdupq_n_f32(-87.3365447504f));
  x = vmaxq_f32(x, vdupq_n_f32(-87.3365447504f));
  const float32x4_t n = vrndnq_f32(vmulq_f32(x, vdupq_n_f32(1.44269504088896341f)));
  float32x4_t r = vfmsq_f32(x, n, vdupq_n_f32(0.693359375f));
  r = vfmsq_f32(r, n, vdupq_n_f32(-2.12194440e-4f));
  float32x4_t p = vdupq_n_f32(1.9875691500e-4f);
  p = vfmaq_f32(vdupq_n_f32(1.3981999507e-3f), p, r);
  p = vfmaq_f32(vdupq_n_f32(8.3334519073e-3f), p, r);
  p = vfmaq_f32(vdupq_n_f32(4.1665795894e-2f), p, r);
  p = vfmaq_f32(vdupq_n_f32(1.6666665459e-1f), p, r);
  p = vfmaq_f32(vdupq_n_f32(5.0000001201e-1f), p, r);
  p = vfmaq_f32(vaddq_f32(r, vdupq_n_f32(1.0f)), p, vmulq_f32(r, r));
  const int32x4_t pow2n = vshlq_n_s32(vaddq_s32(vcvtq_s32_f32(n), vdupq_n_s32(127)), 23);
  const float32x4_t result = vmulq_f32(p, vreinterpretq_f32_s32(pow2n));
  return vreinterpretq_f32_u32(vbicq_u32(vreinterpretq_u32_f32(result), underflow));
}

// 2^x for 4 floats with x <= 0: the AVX2 exp2_nonpositive above.
inline float32x4_t exp2_nonpositive(float32x4_t x) {
  x = vmaxq_f32(x, vdupq_n_f32(-127.0f));
  const float32x4_t n = vrndnq_f32(x);
  const float32x4_t r = vsubq_f32(x, n);
  float32x4_t p = vdupq_n_f32(1.339086336e-3f);
  p = vfmaq_f32(vdupq_n_f32(9.676031918e-3f), p, r);
  p = vfmaq_f32(vdupq_n_f32(5.550357114e-2f), p, r);
  p = vfmaq_f32(vdupq_n_f32(2.402210749e-1f), p, r);
  p = vfmaq_f32(vdupq_n_f32(6.931471880e-1f), p, r);
  p = vfmaq_f32(vdupq_n_f32(1.000000075f), p, r);
  const int32x4_t pow2n = vshlq_n_s32(vaddq_s32(vcvtq_s32_f32(n), vdupq_n_s32(127)), 23);
  return vmulq_f32(p, vreinterpretq_f32_s32(pow2n));
}
#endif

// sum_i a[i] * b[i] in float (as BLAS does; the products are O(n) terms of
// similar size, and double here would halve the throughput of every matmul).
inline float dot(const float* a, const float* b, int64_t n) {
  int64_t i = 0;
  float sum = 0.0f;
#ifdef FLASHNAS_AVX2
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  for (; i + 16 <= n; i += 16) {
    acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc0);
    acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), acc1);
  }
  for (; i + 8 <= n; i += 8) {
    acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc0);
  }
  sum = hsum(_mm256_add_ps(acc0, acc1));
#elif defined(FLASHNAS_NEON)
  // Four chains of 4-lane FMAs: enough to cover the FMA latency on two pipes.
  float32x4_t acc0 = vdupq_n_f32(0.0f), acc1 = acc0, acc2 = acc0, acc3 = acc0;
  for (; i + 16 <= n; i += 16) {
    acc0 = vfmaq_f32(acc0, vld1q_f32(a + i), vld1q_f32(b + i));
    acc1 = vfmaq_f32(acc1, vld1q_f32(a + i + 4), vld1q_f32(b + i + 4));
    acc2 = vfmaq_f32(acc2, vld1q_f32(a + i + 8), vld1q_f32(b + i + 8));
    acc3 = vfmaq_f32(acc3, vld1q_f32(a + i + 12), vld1q_f32(b + i + 12));
  }
  for (; i + 4 <= n; i += 4) acc0 = vfmaq_f32(acc0, vld1q_f32(a + i), vld1q_f32(b + i));
  sum = vaddvq_f32(vaddq_f32(vaddq_f32(acc0, acc1), vaddq_f32(acc2, acc3)));
#endif
  for (; i < n; ++i) sum += a[i] * b[i];
  return sum;
}

// y[i] += alpha * x[i]
inline void axpy(float* y, float alpha, const float* x, int64_t n) {
  int64_t i = 0;
#ifdef FLASHNAS_AVX2
  const __m256 va = _mm256_set1_ps(alpha);
  for (; i + 8 <= n; i += 8) {
    _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
  }
#elif defined(FLASHNAS_NEON)
  for (; i + 4 <= n; i += 4) vst1q_f32(y + i, vfmaq_n_f32(vld1q_f32(y + i), vld1q_f32(x + i), alpha));
#endif
  for (; i < n; ++i) y[i] += alpha * x[i];
}

#ifdef FLASHNAS_AVX2
// In-place 8x8 transpose: afterwards r[i][j] holds what r[j][i] held
// (unpack pairs, shuffle quads, swap 128-bit halves: 24 shuffles).
inline void transpose8(__m256 r[8]) {
  const __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
  const __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
  const __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
  const __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
  const __m256 s0 = _mm256_shuffle_ps(t0, t2, 0x44), s1 = _mm256_shuffle_ps(t0, t2, 0xEE);
  const __m256 s2 = _mm256_shuffle_ps(t1, t3, 0x44), s3 = _mm256_shuffle_ps(t1, t3, 0xEE);
  const __m256 s4 = _mm256_shuffle_ps(t4, t6, 0x44), s5 = _mm256_shuffle_ps(t4, t6, 0xEE);
  const __m256 s6 = _mm256_shuffle_ps(t5, t7, 0x44), s7 = _mm256_shuffle_ps(t5, t7, 0xEE);
  // Column i of the 8 rows: low halves from s0..s3, high halves from s4..s7.
  r[0] = _mm256_permute2f128_ps(s0, s4, 0x20);
  r[1] = _mm256_permute2f128_ps(s1, s5, 0x20);
  r[2] = _mm256_permute2f128_ps(s2, s6, 0x20);
  r[3] = _mm256_permute2f128_ps(s3, s7, 0x20);
  r[4] = _mm256_permute2f128_ps(s0, s4, 0x31);
  r[5] = _mm256_permute2f128_ps(s1, s5, 0x31);
  r[6] = _mm256_permute2f128_ps(s2, s6, 0x31);
  r[7] = _mm256_permute2f128_ps(s3, s7, 0x31);
}

// r[i] = hsum(a[i]) for 8 vectors at once: the horizontal sums of eight dot
// products in one register (two rounds of pairwise adds, then the halves).
inline __m256 hsum8(const __m256 a[8]) {
  const __m256 t0 = _mm256_hadd_ps(a[0], a[1]);  // a0 01,23  a1 01,23 | a0 45,67  a1 45,67
  const __m256 t1 = _mm256_hadd_ps(a[2], a[3]);
  const __m256 t2 = _mm256_hadd_ps(a[4], a[5]);
  const __m256 t3 = _mm256_hadd_ps(a[6], a[7]);
  const __m256 u0 = _mm256_hadd_ps(t0, t1);  // a0..a3 lanes 0-3 | a0..a3 lanes 4-7
  const __m256 u1 = _mm256_hadd_ps(t2, t3);  // a4..a7 likewise
  return _mm256_add_ps(_mm256_permute2f128_ps(u0, u1, 0x20), _mm256_permute2f128_ps(u0, u1, 0x31));
}
#endif

#ifdef FLASHNAS_AVX2
// dot_rows for n == 8*NX, 1 <= NX <= 8, with the loop over x fully unrolled:
// per 8 rows, NX loads of x and 8*NX FMAs with W read from memory, no loop
// counter (the decode GEMV's K = 64 rows: 1.3 instructions per FMA, not 2).
template <int NX>
inline void dot_rows_unrolled(float* out, const float* x, const float* rows, int64_t ld,
                              int64_t S) {
  int64_t j = 0;
  for (; j + 8 <= S; j += 8) {
    const float* r = rows + j * ld;
    __m256 acc[8];
    for (__m256& a : acc) a = _mm256_setzero_ps();
#pragma GCC unroll 8
    for (int c = 0; c < NX; ++c) {
      const __m256 xv = _mm256_loadu_ps(x + 8 * c);
#pragma GCC unroll 8
      for (int k = 0; k < 8; ++k) {
        acc[k] = _mm256_fmadd_ps(_mm256_loadu_ps(r + k * ld + 8 * c), xv, acc[k]);
      }
    }
    _mm256_storeu_ps(out + j, hsum8(acc));
  }
  for (; j < S; ++j) out[j] = dot(x, rows + j * ld, 8 * NX);
}
#endif

#ifdef FLASHNAS_NEON
// out[k] = dot(x, r + k*ld) for R rows: R independent 4-lane FMA chains share
// each load of x. Every row is summed the same way whatever R (its lanes, then
// its n % 4 tail), so a row's value does not depend on its group.
template <int R>
inline void dot_rows_neon(float* out, const float* x, const float* r, int64_t ld, int64_t n) {
  float32x4_t acc[R];
  for (float32x4_t& a : acc) a = vdupq_n_f32(0.0f);
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) {
    const float32x4_t xv = vld1q_f32(x + i);
#pragma GCC unroll 8
    for (int k = 0; k < R; ++k) acc[k] = vfmaq_f32(acc[k], vld1q_f32(r + k * ld + i), xv);
  }
  for (int k = 0; k < R; ++k) {
    float sum = vaddvq_f32(acc[k]);
    for (int64_t t = i; t < n; ++t) sum += x[t] * r[k * ld + t];
    out[k] = sum;
  }
}
#endif

// out[j] = dot(x, rows + j*ld) for j in [0, S): x (n), rows (S, ld) with n <= ld.
// The attention scores of one query against S keys, and the decode GEMV
// (rows of W). With AVX2, eight rows at a time: eight independent FMA chains
// (enough to cover the FMA latency on two pipes) share each load of x, and
// their eight sums leave in one register (hsum8) instead of eight scalar
// reductions; the n % 8 tail is a masked load per row, added in the same lanes.
inline void dot_rows(float* out, const float* x, const float* rows, int64_t ld, int64_t S,
                     int64_t n) {
  int64_t j = 0;
#ifdef FLASHNAS_AVX2
  switch (n) {
    case 8: return dot_rows_unrolled<1>(out, x, rows, ld, S);
    case 16: return dot_rows_unrolled<2>(out, x, rows, ld, S);
    case 24: return dot_rows_unrolled<3>(out, x, rows, ld, S);
    case 32: return dot_rows_unrolled<4>(out, x, rows, ld, S);
    case 40: return dot_rows_unrolled<5>(out, x, rows, ld, S);
    case 48: return dot_rows_unrolled<6>(out, x, rows, ld, S);
    case 56: return dot_rows_unrolled<7>(out, x, rows, ld, S);
    case 64: return dot_rows_unrolled<8>(out, x, rows, ld, S);
    default: break;
  }
  const int64_t n8 = n - n % 8;
  // Lane l < n % 8 of the tail: the masked loads read only the row's own floats.
  alignas(32) int32_t tail_lanes[8];
  for (int l = 0; l < 8; ++l) tail_lanes[l] = l < n % 8 ? -1 : 0;
  const __m256i tail_mask = _mm256_load_si256(reinterpret_cast<const __m256i*>(tail_lanes));
  const __m256 x_tail = _mm256_maskload_ps(x + n8, tail_mask);  // zeros past n
  for (; j + 8 <= S; j += 8) {
    const float* r = rows + j * ld;
    __m256 acc[8];
    for (__m256& a : acc) a = _mm256_setzero_ps();
    for (int64_t i = 0; i < n8; i += 8) {
      const __m256 xv = _mm256_loadu_ps(x + i);
#pragma GCC unroll 8
      for (int64_t k = 0; k < 8; ++k) {
        acc[k] = _mm256_fmadd_ps(_mm256_loadu_ps(r + k * ld + i), xv, acc[k]);
      }
    }
    if (n8 < n) {
#pragma GCC unroll 8
      for (int64_t k = 0; k < 8; ++k) {
        acc[k] = _mm256_fmadd_ps(_mm256_maskload_ps(r + k * ld + n8, tail_mask), x_tail, acc[k]);
      }
    }
    _mm256_storeu_ps(out + j, hsum8(acc));
  }
#elif defined(FLASHNAS_NEON)
  // Eight rows at a time (8 of the 32 vector registers accumulate).
  for (; j + 8 <= S; j += 8) dot_rows_neon<8>(out + j, x, rows + j * ld, ld, n);
  for (; j < S; ++j) dot_rows_neon<1>(out + j, x, rows + j * ld, ld, n);
#endif
  for (; j < S; ++j) out[j] = dot(x, rows + j * ld, n);
}

#ifdef FLASHNAS_AVX2
// weighted_row_sum for n == 8*NC, 4 <= NC <= 8: rows outer, the NC strips of
// y in registers, so each row costs one broadcast, NC loads and NC FMAs (NC
// independent chains cover the FMA latency).
template <int NC>
inline void weighted_row_sum_wide(float* y, const float* alpha, const float* rows, int64_t ld,
                                  int64_t S) {
  __m256 acc[NC];
  for (__m256& a : acc) a = _mm256_setzero_ps();
  for (int64_t j = 0; j < S; ++j) {
    const __m256 a = _mm256_set1_ps(alpha[j]);
    const float* r = rows + j * ld;
#pragma GCC unroll 8
    for (int c = 0; c < NC; ++c) acc[c] = _mm256_fmadd_ps(a, _mm256_loadu_ps(r + 8 * c), acc[c]);
  }
#pragma GCC unroll 8
  for (int c = 0; c < NC; ++c) _mm256_storeu_ps(y + 8 * c, acc[c]);
}
#endif

// y[i] = sum_j alpha[j] * rows[j*ld + i] for i in [0, n): y (n), alpha (S),
// rows (S, ld). The attention output p^T V of one query. With AVX2, heads of
// 32 to 64 keep all of y in registers over the rows (weighted_row_sum_wide);
// otherwise each 8-wide strip of y keeps four accumulators over the rows (an
// axpy per row would make every FMA wait on the previous store).
inline void weighted_row_sum(float* y, const float* alpha, const float* rows, int64_t ld,
                             int64_t S, int64_t n) {
  int64_t i = 0;
#ifdef FLASHNAS_AVX2
  switch (n) {
    case 32: return weighted_row_sum_wide<4>(y, alpha, rows, ld, S);
    case 40: return weighted_row_sum_wide<5>(y, alpha, rows, ld, S);
    case 48: return weighted_row_sum_wide<6>(y, alpha, rows, ld, S);
    case 56: return weighted_row_sum_wide<7>(y, alpha, rows, ld, S);
    case 64: return weighted_row_sum_wide<8>(y, alpha, rows, ld, S);
    default: break;
  }
  for (; i + 8 <= n; i += 8) {
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
    __m256 a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
    const float* r = rows + i;
    int64_t j = 0;
    for (; j + 4 <= S; j += 4) {
      a0 = _mm256_fmadd_ps(_mm256_set1_ps(alpha[j]), _mm256_loadu_ps(r + j * ld), a0);
      a1 = _mm256_fmadd_ps(_mm256_set1_ps(alpha[j + 1]), _mm256_loadu_ps(r + (j + 1) * ld), a1);
      a2 = _mm256_fmadd_ps(_mm256_set1_ps(alpha[j + 2]), _mm256_loadu_ps(r + (j + 2) * ld), a2);
      a3 = _mm256_fmadd_ps(_mm256_set1_ps(alpha[j + 3]), _mm256_loadu_ps(r + (j + 3) * ld), a3);
    }
    for (; j < S; ++j) {
      a0 = _mm256_fmadd_ps(_mm256_set1_ps(alpha[j]), _mm256_loadu_ps(r + j * ld), a0);
    }
    _mm256_storeu_ps(y + i, _mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
  }
#elif defined(FLASHNAS_NEON)
  for (; i + 4 <= n; i += 4) {
    float32x4_t a0 = vdupq_n_f32(0.0f), a1 = a0, a2 = a0, a3 = a0;
    const float* r = rows + i;
    int64_t j = 0;
    for (; j + 4 <= S; j += 4) {
      a0 = vfmaq_n_f32(a0, vld1q_f32(r + j * ld), alpha[j]);
      a1 = vfmaq_n_f32(a1, vld1q_f32(r + (j + 1) * ld), alpha[j + 1]);
      a2 = vfmaq_n_f32(a2, vld1q_f32(r + (j + 2) * ld), alpha[j + 2]);
      a3 = vfmaq_n_f32(a3, vld1q_f32(r + (j + 3) * ld), alpha[j + 3]);
    }
    for (; j < S; ++j) a0 = vfmaq_n_f32(a0, vld1q_f32(r + j * ld), alpha[j]);
    vst1q_f32(y + i, vaddq_f32(vaddq_f32(a0, a1), vaddq_f32(a2, a3)));
  }
#endif
  for (; i < n; ++i) {
    float sum = 0.0f;
    for (int64_t j = 0; j < S; ++j) sum += alpha[j] * rows[j * ld + i];
    y[i] = sum;
  }
}

// max_i x[i] (n >= 1).
inline float max_value(const float* x, int64_t n) {
  int64_t i = 0;
  float m = x[0];
#ifdef FLASHNAS_AVX2
  if (n >= 8) {
    __m256 mv = _mm256_loadu_ps(x);
    for (i = 8; i + 8 <= n; i += 8) mv = _mm256_max_ps(mv, _mm256_loadu_ps(x + i));
    alignas(32) float lanes[8];
    _mm256_store_ps(lanes, mv);
    for (float lane : lanes) m = lane > m ? lane : m;
  }
#elif defined(FLASHNAS_NEON)
  if (n >= 4) {
    float32x4_t mv = vld1q_f32(x);
    for (i = 4; i + 4 <= n; i += 4) mv = vmaxq_f32(mv, vld1q_f32(x + i));
    const float lanes = vmaxvq_f32(mv);
    m = lanes > m ? lanes : m;
  }
#endif
  for (; i < n; ++i) m = x[i] > m ? x[i] : m;
  return m;
}

enum class ExpBase : uint8_t { e, two };

// x[i] = exp(x[i] - shift) (or 2^(x[i] - shift) for ExpBase::two, where the
// caller folded log2(e) into x) for every i, with shift >= max x; returns the
// sum of the results in double.
template <ExpBase base = ExpBase::e>
inline double exp_shifted_sum(float* x, float shift, int64_t n) {
  int64_t i = 0;
  double sum = 0.0;
#ifdef FLASHNAS_AVX2
  const __m256 vs = _mm256_set1_ps(shift);
  __m256 acc = _mm256_setzero_ps();  // partial sums of at most n/8 terms in [0, 1]
  for (; i + 8 <= n; i += 8) {
    const __m256 d = _mm256_sub_ps(_mm256_loadu_ps(x + i), vs);
    const __m256 e = base == ExpBase::two ? exp2_nonpositive(d) : exp(d);
    _mm256_storeu_ps(x + i, e);
    acc = _mm256_add_ps(acc, e);
  }
  alignas(32) float lanes[8];
  _mm256_store_ps(lanes, acc);
  for (float lane : lanes) sum += lane;
#elif defined(FLASHNAS_NEON)
  const float32x4_t vs = vdupq_n_f32(shift);
  float32x4_t acc = vdupq_n_f32(0.0f);  // partial sums of at most n/4 terms in [0, 1]
  for (; i + 4 <= n; i += 4) {
    const float32x4_t d = vsubq_f32(vld1q_f32(x + i), vs);
    const float32x4_t e = base == ExpBase::two ? exp2_nonpositive(d) : exp(d);
    vst1q_f32(x + i, e);
    acc = vaddq_f32(acc, e);
  }
  alignas(16) float lanes[4];
  vst1q_f32(lanes, acc);
  for (float lane : lanes) sum += lane;
#endif
  for (; i < n; ++i) {
    x[i] = base == ExpBase::two ? std::exp2(x[i] - shift) : std::exp(x[i] - shift);
    sum += x[i];
  }
  return sum;
}

}  // namespace flashnas::simd
