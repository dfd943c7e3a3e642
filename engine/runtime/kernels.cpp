// RMSNorm, RoPE, SwiGLU and softmax kernels, forward and backward (see kernels.hpp).
#include "engine/runtime/kernels.hpp"

#include <algorithm>
#include <cmath>

#include "engine/runtime/vector_math.hpp"
#include "engine/util/error.hpp"

namespace flashnas {

void rmsnorm_forward(float* out, const float* inp, const float* weight, int64_t T, int64_t C,
                     float eps) {
  rmsnorm_forward(out, nullptr, inp, weight, T, C, eps);
}

void rmsnorm_forward(float* out, float* rstd, const float* inp, const float* weight, int64_t T,
                     int64_t C, float eps) {
  for (int64_t t = 0; t < T; ++t) {
    const float* x = inp + t * C;
    float* o = out + t * C;
    double ss = 0.0;
    int64_t i = 0;
#ifdef FLASHNAS_AVX2
    // Four double lanes per half register (the scalar loop cannot be
    // vectorised by the compiler: it would reorder a double sum).
    __m256d acc_lo = _mm256_setzero_pd(), acc_hi = _mm256_setzero_pd();
    for (; i + 8 <= C; i += 8) {
      const __m256 v = _mm256_loadu_ps(x + i);
      const __m256d lo = _mm256_cvtps_pd(_mm256_castps256_ps128(v));
      const __m256d hi = _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1));
      acc_lo = _mm256_fmadd_pd(lo, lo, acc_lo);
      acc_hi = _mm256_fmadd_pd(hi, hi, acc_hi);
    }
    alignas(32) double lanes[4];
    _mm256_store_pd(lanes, _mm256_add_pd(acc_lo, acc_hi));
    ss = (lanes[0] + lanes[1]) + (lanes[2] + lanes[3]);
#endif
    for (; i < C; ++i) ss += static_cast<double>(x[i]) * x[i];
    const float scale = static_cast<float>(1.0 / std::sqrt(ss / static_cast<double>(C) + eps));
    if (rstd) rstd[t] = scale;
    for (int64_t i = 0; i < C; ++i) o[i] = x[i] * scale * weight[i];
  }
}

void rmsnorm_backward(float* dinp, float* dweight, const float* dout, const float* inp,
                      const float* weight, const float* rstd, int64_t T, int64_t C) {
  for (int64_t t = 0; t < T; ++t) {
    const float* dy = dout + t * C;
    const float* x = inp + t * C;
    float* dx = dinp + t * C;
    const float r = rstd[t];
    double dot = 0.0;  // sum_i dout_i w_i x_i
    for (int64_t i = 0; i < C; ++i) dot += static_cast<double>(dy[i] * weight[i]) * x[i];
    const float k = static_cast<float>(dot * r * r * r / static_cast<double>(C));
    for (int64_t i = 0; i < C; ++i) {
      dx[i] += r * weight[i] * dy[i] - k * x[i];
      dweight[i] += dy[i] * x[i] * r;
    }
  }
}

RopeTable make_rope_table(int64_t head_dim, float theta, RopeLayout layout,
                          int64_t max_positions) {
  FLASHNAS_CHECK(head_dim > 0 && head_dim % 2 == 0, "RoPE needs an even head size, got {}",
                 head_dim);
  FLASHNAS_CHECK(max_positions > 0, "RoPE table needs positions, got {}", max_positions);
  RopeTable table;
  table.max_positions = max_positions;
  table.half = head_dim / 2;
  table.layout = layout;
  table.cos.resize(static_cast<size_t>(max_positions * table.half));
  table.sin.resize(table.cos.size());
  for (int64_t i = 0; i < table.half; ++i) {
    const double freq = std::pow(static_cast<double>(theta),
                                 -2.0 * static_cast<double>(i) / static_cast<double>(head_dim));
    for (int64_t p = 0; p < max_positions; ++p) {
      const double angle = static_cast<double>(p) * freq;
      table.cos[static_cast<size_t>(p * table.half + i)] = static_cast<float>(std::cos(angle));
      table.sin[static_cast<size_t>(p * table.half + i)] = static_cast<float>(std::sin(angle));
    }
  }
  return table;
}

namespace {

// Rotates every pair by +angle (forward) or -angle (inverse: the backward).
void rope_rotate(float* x, const RopeTable& table, int64_t pos0, int64_t T, int64_t n_heads,
                 bool inverse) {
  FLASHNAS_CHECK(pos0 >= 0 && pos0 + T <= table.max_positions,
                 "positions [{}, {}) exceed the RoPE table ({})", pos0, pos0 + T,
                 table.max_positions);
  const int64_t half = table.half;
  const int64_t HS = 2 * half;
  // In the interleaved layout dimension pair i is (2i, 2i+1); in the half layout (i, i+HS/2).
  const int64_t stride_pair = table.layout == RopeLayout::interleaved ? 2 : 1;
  const int64_t offset_second = table.layout == RopeLayout::interleaved ? 1 : half;
#ifdef FLASHNAS_AVX2
  if (table.layout == RopeLayout::interleaved && HS % 8 == 0) {
    // Eight dimensions (four pairs) at a time: with cs = (c0 c0 c1 c1 ..) and
    // sn = (-s0 s0 -s1 s1 ..), x' = x * cs + swap_pairs(x) * sn. cs and sn are
    // built once per position and chunk, then applied to every head.
    const __m256i duplicate = _mm256_setr_epi32(0, 0, 1, 1, 2, 2, 3, 3);
    // Forward: x0' = x0 c - x1 s, x1' = x1 c + x0 s (the even lane's sine is
    // negated); inverse: the odd lane's.
    const __m256 sine_sign =
        inverse ? _mm256_setr_ps(0.0f, -0.0f, 0.0f, -0.0f, 0.0f, -0.0f, 0.0f, -0.0f)
                : _mm256_setr_ps(-0.0f, 0.0f, -0.0f, 0.0f, -0.0f, 0.0f, -0.0f, 0.0f);
    for (int64_t t = 0; t < T; ++t) {
      const float* c = table.cos.data() + (pos0 + t) * half;
      const float* s = table.sin.data() + (pos0 + t) * half;
      float* row = x + t * n_heads * HS;
      for (int64_t d = 0; d < HS; d += 8) {
        const __m256 cs = _mm256_permutevar8x32_ps(_mm256_castps128_ps256(_mm_loadu_ps(c + d / 2)),
                                                   duplicate);
        const __m256 sn = _mm256_xor_ps(
            _mm256_permutevar8x32_ps(_mm256_castps128_ps256(_mm_loadu_ps(s + d / 2)), duplicate),
            sine_sign);
        for (int64_t h = 0; h < n_heads; ++h) {
          float* v = row + h * HS + d;
          const __m256 xv = _mm256_loadu_ps(v);
          const __m256 swapped = _mm256_permute_ps(xv, 0xB1);  // (x1 x0 x3 x2 ..)
          _mm256_storeu_ps(v, _mm256_fmadd_ps(swapped, sn, _mm256_mul_ps(xv, cs)));
        }
      }
    }
    return;
  }
#endif
  for (int64_t t = 0; t < T; ++t) {
    const float* c = table.cos.data() + (pos0 + t) * half;
    const float* s = table.sin.data() + (pos0 + t) * half;
    float* row = x + t * n_heads * HS;
    for (int64_t h = 0; h < n_heads; ++h) {
      float* v = row + h * HS;
      for (int64_t i = 0; i < half; ++i) {
        float* a = v + i * stride_pair;
        float* b = a + offset_second;
        const float x0 = *a, x1 = *b;
        const float si = inverse ? -s[i] : s[i];
        *a = x0 * c[i] - x1 * si;
        *b = x0 * si + x1 * c[i];
      }
    }
  }
}

}  // namespace

void rope_forward(float* x, const RopeTable& table, int64_t pos0, int64_t T, int64_t n_heads) {
  rope_rotate(x, table, pos0, T, n_heads, /*inverse=*/false);
}

void rope_backward(float* dx, const RopeTable& table, int64_t pos0, int64_t T, int64_t n_heads) {
  rope_rotate(dx, table, pos0, T, n_heads, /*inverse=*/true);
}

void swiglu_forward(float* out, const float* gate, const float* up, int64_t n) {
  int64_t i = 0;
#ifdef FLASHNAS_AVX2
  const __m256 one = _mm256_set1_ps(1.0f);
  const __m256 sign = _mm256_set1_ps(-0.0f);
  for (; i + 8 <= n; i += 8) {
    const __m256 g = _mm256_loadu_ps(gate + i);
    const __m256 e = simd::exp(_mm256_xor_ps(g, sign));  // exp(-g)
    const __m256 silu = _mm256_div_ps(g, _mm256_add_ps(one, e));
    _mm256_storeu_ps(out + i, _mm256_mul_ps(silu, _mm256_loadu_ps(up + i)));
  }
#endif
  for (; i < n; ++i) {
    const float g = gate[i];
    out[i] = g / (1.0f + std::exp(-g)) * up[i];
  }
}

void swiglu_backward(float* dgate, float* dup, const float* dout, const float* gate,
                     const float* up, int64_t n) {
  int64_t i = 0;
#ifdef FLASHNAS_AVX2
  const __m256 one = _mm256_set1_ps(1.0f);
  const __m256 sign = _mm256_set1_ps(-0.0f);
  for (; i + 8 <= n; i += 8) {
    const __m256 g = _mm256_loadu_ps(gate + i);
    const __m256 u = _mm256_loadu_ps(up + i);
    const __m256 dy = _mm256_loadu_ps(dout + i);
    const __m256 s = _mm256_div_ps(one, _mm256_add_ps(one, simd::exp(_mm256_xor_ps(g, sign))));
    const __m256 silu = _mm256_mul_ps(g, s);
    // s (1 + g (1 - s)) = s + silu (1 - s)
    const __m256 dsilu = _mm256_fmadd_ps(silu, _mm256_sub_ps(one, s), s);
    _mm256_storeu_ps(dup + i, _mm256_mul_ps(dy, silu));
    _mm256_storeu_ps(dgate + i, _mm256_mul_ps(_mm256_mul_ps(dy, u), dsilu));
  }
#endif
  for (; i < n; ++i) {
    const float g = gate[i], dy = dout[i];
    const float s = 1.0f / (1.0f + std::exp(-g));
    const float silu = g * s;
    dup[i] = dy * silu;
    dgate[i] = dy * up[i] * (s + silu * (1.0f - s));
  }
}

void softmax_forward(float* x, int64_t n) {
  const double sum = simd::exp_shifted_sum(x, simd::max_value(x, n), n);
  const float inv = static_cast<float>(1.0 / sum);
  for (int64_t i = 0; i < n; ++i) x[i] *= inv;
}

double log_sum_exp(const float* x, int64_t n) {
  float max = x[0];
  for (int64_t i = 1; i < n; ++i) max = std::max(max, x[i]);
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) sum += std::exp(static_cast<double>(x[i]) - max);
  return static_cast<double>(max) + std::log(sum);
}

}  // namespace flashnas
