// Packed SGEMM with AVX2/FMA or NEON micro-kernels (see sgemm.hpp). The
// structure follows BLIS:
//
//   for each K block [k0, k0+KC)                        (A block (M, KC) stays in L2)
//     for each 16-column panel of W^T in [n0, n1)
//       pack W[p0:p0+16, k0:k0+KC] into panel (KC, 16)   (16 KiB: stays in L1)
//       for each 6-row tile of inp
//         out[m:m+6, p0:p0+16] (+)= inp[m:m+6, k0:k0+KC] · panel
//
// The 6x16 micro-kernel holds the output tile in 12 ymm accumulators; each k
// step loads two 8-wide panel vectors and broadcasts six inp scalars, feeding
// 12 FMAs (2 FMA pipes: 6 cycles, with 8 loads well inside the load ports).
// The NEON kernel has the same 6x16 tile in 24 of its 32 128-bit registers:
// four panel vectors per k, and each inp scalar multiplies them by element.
#include "engine/runtime/sgemm.hpp"

#include <algorithm>
#include <cstring>
#include <vector>

#include "engine/runtime/vector_math.hpp"

namespace flashnas {

void sgemm_nt_reference(float* out, const float* inp, const float* weight, int64_t M, int64_t K,
                        int64_t N, int64_t n0, int64_t n1, MatmulMode mode) {
  for (int64_t m = 0; m < M; ++m) {
    const float* a = inp + m * K;
    for (int64_t n = n0; n < n1; ++n) {
      const float* w = weight + n * K;
      float sum = 0.0f;
      for (int64_t k = 0; k < K; ++k) sum += a[k] * w[k];
      float& y = out[m * N + n];
      y = mode == MatmulMode::overwrite ? sum : y + sum;
    }
  }
}

#if defined(FLASHNAS_AVX2) || defined(FLASHNAS_NEON)

namespace {

constexpr int64_t kMR = 6;    // micro-tile rows (tokens)
constexpr int64_t kNR = 16;   // micro-tile columns (outputs): two ymm, four NEON q
constexpr int64_t kKC = 256;  // K block: panel kKC*kNR floats = 16 KiB

// c (MR, 16) (=|+=) a (MR, kc) · panel (kc, 16); a rows lda apart, c rows ldc
// apart. kTransA: a is stored transposed, element (r, k) at a[k * lda + r]
// (the weight gradient's dout^T, packed without transposing it: the MR values
// of one k are adjacent).
//
// The product runs in zeroed accumulators and c is added at the end (as BLIS
// kernels do), its rows prefetched first: in a tall product c is 144 rows of
// N floats per row block, beyond L2 once N is in the hundreds, and loading it
// before the k loop stalled each tile on L3 (2048-row products with N = 1024
// and 2816 ran about 12% faster without, interleaved on the shared Zen 2;
// more while other jobs filled L3). Each element is then c + (its kc products
// summed in ascending k).
#ifdef FLASHNAS_AVX2
template <int MR, bool kTransA>
void kernel_mx16(int64_t kc, const float* a, int64_t lda, const float* panel, float* c,
                 int64_t ldc, bool load_c) {
  __m256 c0[MR], c1[MR];
#pragma GCC unroll 6
  for (int r = 0; r < MR; ++r) {
    if (load_c) {
      _mm_prefetch(reinterpret_cast<const char*>(c + r * ldc), _MM_HINT_T0);
      _mm_prefetch(reinterpret_cast<const char*>(c + r * ldc + 15), _MM_HINT_T0);
    }
    c0[r] = _mm256_setzero_ps();
    c1[r] = _mm256_setzero_ps();
  }
  for (int64_t k = 0; k < kc; ++k) {
    const __m256 b0 = _mm256_load_ps(panel + k * kNR);
    const __m256 b1 = _mm256_load_ps(panel + k * kNR + 8);
#pragma GCC unroll 6
    for (int r = 0; r < MR; ++r) {
      const __m256 ar = _mm256_broadcast_ss(kTransA ? a + k * lda + r : a + r * lda + k);
      c0[r] = _mm256_fmadd_ps(ar, b0, c0[r]);
      c1[r] = _mm256_fmadd_ps(ar, b1, c1[r]);
    }
  }
#pragma GCC unroll 6
  for (int r = 0; r < MR; ++r) {
    if (load_c) {
      c0[r] = _mm256_add_ps(_mm256_loadu_ps(c + r * ldc), c0[r]);
      c1[r] = _mm256_add_ps(_mm256_loadu_ps(c + r * ldc + 8), c1[r]);
    }
    _mm256_storeu_ps(c + r * ldc, c0[r]);
    _mm256_storeu_ps(c + r * ldc + 8, c1[r]);
  }
}
#else
template <int MR, bool kTransA>
void kernel_mx16(int64_t kc, const float* a, int64_t lda, const float* panel, float* c,
                 int64_t ldc, bool load_c) {
  float32x4_t acc[MR][4];
#pragma GCC unroll 6
  for (int r = 0; r < MR; ++r) {
    if (load_c) {
      __builtin_prefetch(c + r * ldc);
      __builtin_prefetch(c + r * ldc + 15);
    }
    for (float32x4_t& v : acc[r]) v = vdupq_n_f32(0.0f);
  }
  for (int64_t k = 0; k < kc; ++k) {
    const float* p = panel + k * kNR;
    const float32x4_t b0 = vld1q_f32(p), b1 = vld1q_f32(p + 4);
    const float32x4_t b2 = vld1q_f32(p + 8), b3 = vld1q_f32(p + 12);
#pragma GCC unroll 6
    for (int r = 0; r < MR; ++r) {
      const float ar = kTransA ? a[k * lda + r] : a[r * lda + k];
      acc[r][0] = vfmaq_n_f32(acc[r][0], b0, ar);
      acc[r][1] = vfmaq_n_f32(acc[r][1], b1, ar);
      acc[r][2] = vfmaq_n_f32(acc[r][2], b2, ar);
      acc[r][3] = vfmaq_n_f32(acc[r][3], b3, ar);
    }
  }
#pragma GCC unroll 6
  for (int r = 0; r < MR; ++r) {
    for (int q = 0; q < 4; ++q) {
      float* dst = c + r * ldc + 4 * q;
      vst1q_f32(dst, load_c ? vaddq_f32(vld1q_f32(dst), acc[r][q]) : acc[r][q]);
    }
  }
}
#endif

template <bool kTransA>
void kernel_rows(int64_t rows, int64_t kc, const float* a, int64_t lda, const float* panel,
                 float* c, int64_t ldc, bool load_c) {
  switch (rows) {
    case 6: kernel_mx16<6, kTransA>(kc, a, lda, panel, c, ldc, load_c); break;
    case 5: kernel_mx16<5, kTransA>(kc, a, lda, panel, c, ldc, load_c); break;
    case 4: kernel_mx16<4, kTransA>(kc, a, lda, panel, c, ldc, load_c); break;
    case 3: kernel_mx16<3, kTransA>(kc, a, lda, panel, c, ldc, load_c); break;
    case 2: kernel_mx16<2, kTransA>(kc, a, lda, panel, c, ldc, load_c); break;
    default: kernel_mx16<1, kTransA>(kc, a, lda, panel, c, ldc, load_c); break;
  }
}

void kernel_rows(bool trans_a, int64_t rows, int64_t kc, const float* a, int64_t lda,
                 const float* panel, float* c, int64_t ldc, bool load_c) {
  if (trans_a) {
    kernel_rows<true>(rows, kc, a, lda, panel, c, ldc, load_c);
  } else {
    kernel_rows<false>(rows, kc, a, lda, panel, c, ldc, load_c);
  }
}

// panel[k*16 + j] = W[p0+j, k0+k] for j < nr, zero for nr <= j < 16 (a partial
// last panel computes zeros that are never stored). panel (kc, 16).
void pack_panel(float* panel, const float* weight, int64_t K, int64_t p0, int64_t nr, int64_t k0,
                int64_t kc) {
  int64_t j = 0;
#ifdef FLASHNAS_AVX2
  for (; j + 8 <= nr; j += 8) {  // 8 rows x 8 k at a time: an 8x8 transpose in registers
    const float* w = weight + (p0 + j) * K + k0;
    int64_t k = 0;
    for (; k + 8 <= kc; k += 8) {
      __m256 r[8];
      for (int i = 0; i < 8; ++i) r[i] = _mm256_loadu_ps(w + i * K + k);
      simd::transpose8(r);  // r[i]: column k+i of the 8 rows
      for (int i = 0; i < 8; ++i) _mm256_store_ps(panel + (k + i) * kNR + j, r[i]);
    }
    for (; k < kc; ++k) {
      for (int64_t i = 0; i < 8; ++i) panel[k * kNR + j + i] = w[i * K + k];
    }
  }
#endif
  for (; j < nr; ++j) {  // remaining rows (NEON: all rows) one by one
    const float* w = weight + (p0 + j) * K + k0;
    for (int64_t k = 0; k < kc; ++k) panel[k * kNR + j] = w[k];
  }
  for (; j < kNR; ++j) {  // zero columns past nr
    for (int64_t k = 0; k < kc; ++k) panel[k * kNR + j] = 0.0f;
  }
}

// A[m0:m0+mc, k0:k0+kc] of an A stored transposed ((K, M), rows lda apart)
// packed tile by tile: tile i holds rows m0+6i.. as (kc, 6), so the kernel
// reads it as a transposed A with lda 6 from contiguous memory instead of one
// cache line (and, for a wide dout, one page) per k. One masked load and one
// store of 8 per k: each store runs 2 floats past its 6, into the next k's
// slot (rewritten next) or, the last, past the tile (the caller's buffer has
// kPackSlack floats more); the loads read only the rows that exist. (Packing a
// plain A the same way was tried and measured slower: the kernel streams its
// six rows well, and packing costs 1/N of the product.)
constexpr int64_t kPackSlack = 8;

#ifdef FLASHNAS_AVX2
// 6 lanes of an 8-float load (or `rows` < 6) for the masked loads of a
// transposed A's row of 6.
inline __m256i lane_mask(int64_t rows) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(rows)),
                            _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

void pack_transposed_a(float* dst, const float* a, int64_t lda, int64_t m0, int64_t mc, int64_t k0,
                       int64_t kc) {
  for (int64_t m = 0; m < mc; m += kMR) {
    const __m256i mask = lane_mask(std::min(kMR, mc - m));
    float* tile = dst + m * kc;
    const float* src = a + k0 * lda + m0 + m;
    for (int64_t k = 0; k < kc; ++k) {
      _mm256_storeu_ps(tile + k * kMR, _mm256_maskload_ps(src + k * lda, mask));
    }
  }
}
#else
void pack_transposed_a(float* dst, const float* a, int64_t lda, int64_t m0, int64_t mc, int64_t k0,
                       int64_t kc) {
  for (int64_t m = 0; m < mc; m += kMR) {
    const int64_t rows = std::min(kMR, mc - m);
    float* tile = dst + m * kc;
    const float* src = a + k0 * lda + m0 + m;
    for (int64_t k = 0; k < kc; ++k) {
      for (int64_t r = 0; r < kMR; ++r) tile[k * kMR + r] = r < rows ? src[k * lda + r] : 0.0f;
    }
  }
}
#endif

// The blocked loop over K blocks, row blocks, panels and tiles; pack(panel,
// p0, nr, k0, kc) fills one panel (kc, 16) as pack_panel does. One loop for
// every weight format. out rows are ldc floats apart, inp rows lda apart (or,
// trans_a, inp stored transposed: (K, M) with rows lda apart).
//
// Up to kMaxUnblockedRows rows (the runtime's prefill) all of A's K block is
// swept once per panel; taller products (training: 2048-row activations, a
// weight gradient with one row per vocabulary entry) go in blocks of kMC rows,
// so the part of A the panels sweep stays in L2 (each panel is packed once
// per row block: 1/kMC extra work). Every output element still sums its
// products in ascending k, whatever the blocking.
constexpr int64_t kMC = 144;                 // rows per block: (144, 256) floats = 144 KiB
constexpr int64_t kMaxUnblockedRows = 512;

template <class Pack>
void sgemm_loop(float* out, int64_t ldc, const float* inp, int64_t lda, bool trans_a, int64_t M,
                int64_t K, int64_t n0, int64_t n1, MatmulMode mode, Pack&& pack) {
  alignas(32) float panel[kKC * kNR];  // (kKC, 16)
  alignas(32) float edge[kMR * kNR];   // (6, 16) tile of a partial last panel
  const int64_t mc_max = trans_a || M > kMaxUnblockedRows ? kMC : M;
  // (kMC, kKC) as tiles (kc, 6), when trans_a
  alignas(32) float packed_a[kMC * kKC + kPackSlack];
  for (int64_t k0 = 0; k0 < K; k0 += kKC) {
    const int64_t kc = std::min(kKC, K - k0);
    // The first K block overwrites unless the caller accumulates.
    const bool load_c = k0 > 0 || mode == MatmulMode::accumulate;
    for (int64_t m0 = 0; m0 < M; m0 += mc_max) {
      const int64_t mc = std::min(mc_max, M - m0);
      if (trans_a) pack_transposed_a(packed_a, inp, lda, m0, mc, k0, kc);
      for (int64_t p0 = n0; p0 < n1; p0 += kNR) {
        const int64_t nr = std::min(kNR, n1 - p0);
        pack(panel, p0, nr, k0, kc);
        for (int64_t m = m0; m < m0 + mc; m += kMR) {
          const int64_t rows = std::min(kMR, m0 + mc - m);
          const float* a = trans_a ? packed_a + (m - m0) * kc : inp + m * lda + k0;
          const int64_t a_ld = trans_a ? kMR : lda;
          float* c = out + m * ldc + p0;
          if (nr == kNR) {
            kernel_rows(trans_a, rows, kc, a, a_ld, panel, c, ldc, load_c);
            continue;
          }
          // Partial panel: run the tile in `edge` and move only nr columns.
          for (int64_t r = 0; r < rows && load_c; ++r) {
            std::memcpy(edge + r * kNR, c + r * ldc, static_cast<size_t>(nr) * sizeof(float));
          }
          kernel_rows(trans_a, rows, kc, a, a_ld, panel, edge, kNR, load_c);
          for (int64_t r = 0; r < rows; ++r) {
            std::memcpy(c + r * ldc, edge + r * kNR, static_cast<size_t>(nr) * sizeof(float));
          }
        }
      }
    }
  }
}

}  // namespace

void sgemm_nt(float* out, const float* inp, const float* weight, int64_t M, int64_t K, int64_t N,
              int64_t n0, int64_t n1, MatmulMode mode) {
  sgemm_loop(out, N, inp, K, false, M, K, n0, n1, mode,
             [&](float* panel, int64_t p0, int64_t nr, int64_t k0, int64_t kc) {
               pack_panel(panel, weight, K, p0, nr, k0, kc);
             });
}

void sgemm_nt_rows(float* out, const float* inp, const SgemmRowSource& weight, int64_t M,
                   int64_t K, int64_t N, int64_t n0, int64_t n1, MatmulMode mode) {
  alignas(32) float rows[kNR * kKC];  // (nr, kc): the panel's rows of W, converted
  sgemm_loop(out, N, inp, K, false, M, K, n0, n1, mode,
             [&](float* panel, int64_t p0, int64_t nr, int64_t k0, int64_t kc) {
               weight.load(weight.context, rows, p0, nr, k0, kc);
               pack_panel(panel, rows, kc, 0, nr, 0, kc);
             });
}

void sgemm_nt_ld(float* out, const float* inp, const float* b, int64_t ldb, int64_t M, int64_t K,
                 int64_t N) {
  sgemm_loop(out, N, inp, K, false, M, K, 0, N, MatmulMode::overwrite,
             [&](float* panel, int64_t p0, int64_t nr, int64_t k0, int64_t kc) {
               pack_panel(panel, b, ldb, p0, nr, k0, kc);
             });
}

void sgemm_nt_strided(float* out, int64_t ldc, SgemmOperand a, SgemmOperand b, int64_t M,
                      int64_t K, int64_t N, MatmulMode mode) {
  sgemm_loop(out, ldc, a.data, a.ld, a.transposed, M, K, 0, N, mode,
             [&](float* panel, int64_t p0, int64_t nr, int64_t k0, int64_t kc) {
               pack_panel(panel, b.data, b.ld, p0, nr, k0, kc);
             });
}

void sgemm_nn(float* out, int64_t ldc, SgemmOperand a, SgemmOperand b, int64_t M, int64_t K,
              int64_t N, MatmulMode mode) {
  sgemm_loop(out, ldc, a.data, a.ld, a.transposed, M, K, 0, N, mode,
             [&](float* panel, int64_t p0, int64_t nr, int64_t k0, int64_t kc) {
               // B is already k-major: panel row k is B[k0+k, p0:p0+16], zero-padded.
               for (int64_t k = 0; k < kc; ++k) {
                 const float* row = b.data + (k0 + k) * b.ld + p0;
                 float* dst = panel + k * kNR;
                 if (nr == kNR) {
                   std::memcpy(dst, row, kNR * sizeof(float));
                   continue;
                 }
                 for (int64_t j = 0; j < kNR; ++j) dst[j] = j < nr ? row[j] : 0.0f;
               }
             });
}

#else  // neither AVX2 nor NEON: the plain loops

void sgemm_nt(float* out, const float* inp, const float* weight, int64_t M, int64_t K, int64_t N,
              int64_t n0, int64_t n1, MatmulMode mode) {
  sgemm_nt_reference(out, inp, weight, M, K, N, n0, n1, mode);
}

void sgemm_nt_rows(float* out, const float* inp, const SgemmRowSource& weight, int64_t M,
                   int64_t K, int64_t N, int64_t n0, int64_t n1, MatmulMode mode) {
  std::vector<float> row(static_cast<size_t>(K));
  for (int64_t n = n0; n < n1; ++n) {
    weight.load(weight.context, row.data(), n, 1, 0, K);
    for (int64_t m = 0; m < M; ++m) {
      float sum = 0.0f;
      for (int64_t k = 0; k < K; ++k) sum += inp[m * K + k] * row[static_cast<size_t>(k)];
      float& y = out[m * N + n];
      y = mode == MatmulMode::overwrite ? sum : y + sum;
    }
  }
}

namespace {
// out (M, N) (=|+=) A B with B's element (k, n) read as b_at(k, n).
template <class BAt>
void plain_product(float* out, int64_t ldc, SgemmOperand a, int64_t M, int64_t K, int64_t N,
                   MatmulMode mode, BAt&& b_at) {
  for (int64_t m = 0; m < M; ++m) {
    for (int64_t n = 0; n < N; ++n) {
      float sum = 0.0f;
      for (int64_t k = 0; k < K; ++k) {
        sum += (a.transposed ? a.data[k * a.ld + m] : a.data[m * a.ld + k]) * b_at(k, n);
      }
      float& y = out[m * ldc + n];
      y = mode == MatmulMode::overwrite ? sum : y + sum;
    }
  }
}
}  // namespace

void sgemm_nt_ld(float* out, const float* inp, const float* b, int64_t ldb, int64_t M, int64_t K,
                 int64_t N) {
  plain_product(out, N, {inp, K}, M, K, N, MatmulMode::overwrite,
                [&](int64_t k, int64_t n) { return b[n * ldb + k]; });
}

void sgemm_nt_strided(float* out, int64_t ldc, SgemmOperand a, SgemmOperand b, int64_t M,
                      int64_t K, int64_t N, MatmulMode mode) {
  plain_product(out, ldc, a, M, K, N, mode,
                [&](int64_t k, int64_t n) { return b.data[n * b.ld + k]; });
}

void sgemm_nn(float* out, int64_t ldc, SgemmOperand a, SgemmOperand b, int64_t M, int64_t K,
              int64_t N, MatmulMode mode) {
  plain_product(out, ldc, a, M, K, N, mode,
                [&](int64_t k, int64_t n) { return b.data[k * b.ld + n]; });
}

#endif

void sgemm_nn_ld(float* out, const float* inp, const float* b, int64_t ldb, int64_t M, int64_t K,
                 int64_t N) {
  sgemm_nn(out, N, {inp, K}, {b, ldb}, M, K, N, MatmulMode::overwrite);
}

}  // namespace flashnas
