// Runtime kernels against brute-force double-precision references: RMSNorm,
// RoPE, SwiGLU, softmax / log-sum-exp, matmul (GEMM and GEMV paths, threaded,
// accumulate), attention (GQA, windows, decode), the KV caches and the sampler.
#include <gtest/gtest.h>

#include <pthread.h>
#include <sched.h>

#include <chrono>
#include <cmath>
#include <map>
#include <random>
#include <thread>

#include "engine/runtime/attention.hpp"
#include "engine/runtime/kernels.hpp"
#include "engine/runtime/kv_cache.hpp"
#include "engine/runtime/matmul.hpp"
#include "engine/runtime/sampler.hpp"
#include "engine/runtime/sgemm.hpp"
#include "engine/runtime/thread_pool.hpp"
#include "engine/runtime/vector_math.hpp"
#include "engine/util/error.hpp"
#include "tests/runtime/runtime_fixtures.hpp"

namespace flashnas {
namespace {

using test::random_floats;

TEST(Kernels, RmsnormMatchesFormula) {
  const int64_t T = 3, C = 37;
  auto x = random_floats(T * C, 1), g = random_floats(C, 2);
  std::vector<float> out(x.size());
  rmsnorm_forward(out.data(), x.data(), g.data(), T, C, 1e-5f);
  for (int64_t t = 0; t < T; ++t) {
    double ss = 0;
    for (int64_t i = 0; i < C; ++i) ss += double(x[t * C + i]) * x[t * C + i];
    for (int64_t i = 0; i < C; ++i)
      EXPECT_NEAR(out[t * C + i], x[t * C + i] / std::sqrt(ss / C + 1e-5) * g[i], 1e-5);
  }
}

TEST(Kernels, RopeRotatesTheDocumentedPairs) {
  const int64_t heads = 2, pos0 = 5, T = 2;
  // HS 8 and 16: the AVX2 path of the interleaved layout (one and two chunks); 6: scalar.
  for (int64_t HS : {8, 16, 6}) {
    for (RopeLayout layout : {RopeLayout::interleaved, RopeLayout::half}) {
      const RopeTable table = make_rope_table(HS, 10000.0f, layout, 16);
      auto x = random_floats(T * heads * HS, 3);
      auto y = x;
      rope_forward(y.data(), table, pos0, T, heads);
      for (int64_t t = 0; t < T; ++t)
        for (int64_t h = 0; h < heads; ++h)
          for (int64_t i = 0; i < HS / 2; ++i) {
            const double angle = (pos0 + t) * std::pow(10000.0, -2.0 * i / HS);
            const int64_t base = (t * heads + h) * HS;
            const int64_t a = base + (layout == RopeLayout::interleaved ? 2 * i : i);
            const int64_t b = a + (layout == RopeLayout::interleaved ? 1 : HS / 2);
            EXPECT_NEAR(y[a], x[a] * std::cos(angle) - x[b] * std::sin(angle), 1e-5);
            EXPECT_NEAR(y[b], x[a] * std::sin(angle) + x[b] * std::cos(angle), 1e-5);
          }
    }
  }
  const RopeTable table = make_rope_table(8, 10000.0f, RopeLayout::half, 4);
  std::vector<float> v(8);
  EXPECT_THROW(rope_forward(v.data(), table, 4, 1, 1), Error);
}

TEST(Kernels, SwigluSoftmaxAndLogSumExp) {
  auto g = random_floats(37, 4, 30.0f), u = random_floats(37, 5);
  std::vector<float> out(37);
  swiglu_forward(out.data(), g.data(), u.data(), 37);
  for (size_t i = 0; i < 37; ++i)
    EXPECT_NEAR(out[i], g[i] / (1 + std::exp(-double(g[i]))) * u[i], 1e-5 * (1 + std::abs(g[i])));

  auto s = random_floats(29, 6, 50.0f);
  const auto orig = s;
  softmax_forward(s.data(), 29);
  double mx = -1e300, z = 0;
  for (float v : orig) mx = std::max(mx, double(v));
  for (float v : orig) z += std::exp(v - mx);
  for (size_t i = 0; i < 29; ++i) EXPECT_NEAR(s[i], std::exp(orig[i] - mx) / z, 1e-6);
  EXPECT_NEAR(log_sum_exp(orig.data(), 29), mx + std::log(z), 1e-9);
  const float huge[2] = {1000.0f, 1000.0f};  // stable: no overflow
  EXPECT_NEAR(log_sum_exp(huge, 2), 1000.0 + std::log(2.0), 1e-9);
}

// The softmax weights of every kernel, through exp_shifted_sum with shift 0 (the
// vector path of the build, AVX2 or NEON, on whole vectors; the scalar loop past
// them): 2^x for x <= 0 (the attention kernels), 0 below -127 and at -inf; and
// e^x, 0 below -87.3.
TEST(Kernels, VectorExpIsAccurateAndUnderflowsToZero) {
  for (const simd::ExpBase base : {simd::ExpBase::two, simd::ExpBase::e}) {
    const bool two = base == simd::ExpBase::two;
    const float zero_below = two ? -127.0f : -87.34f;
    double worst = 0;
    for (int i = 0; i <= 160000; i += 8) {
      float x[8], y[8];
      for (int l = 0; l < 8; ++l) x[l] = y[l] = -static_cast<float>(i + l) / 1000.0f;  // [0, -160]
      const double sum = two ? simd::exp_shifted_sum<simd::ExpBase::two>(y, 0.0f, 8)
                             : simd::exp_shifted_sum<simd::ExpBase::e>(y, 0.0f, 8);
      double want_sum = 0;
      for (int l = 0; l < 8; ++l) {
        const double want = two ? std::exp2(double(x[l])) : std::exp(double(x[l]));
        want_sum += y[l];
        if (x[l] <= zero_below) {
          EXPECT_LE(y[l], 1e-37) << x[l];
        } else if (want > 1e-37) {  // normal results: relative error
          worst = std::max(worst, std::abs(y[l] / want - 1));
        }
      }
      EXPECT_NEAR(sum, want_sum, 1e-6 * want_sum + 1e-37);
    }
    EXPECT_LT(worst, 3e-7) << (two ? "2^x" : "e^x");
    float y[8];
    std::fill(y, y + 8, -INFINITY);
    if (two) {
      simd::exp_shifted_sum<simd::ExpBase::two>(y, 0.0f, 8);
    } else {
      simd::exp_shifted_sum<simd::ExpBase::e>(y, 0.0f, 8);
    }
    for (float v : y) EXPECT_EQ(v, 0.0f) << (two ? "2^-inf" : "e^-inf");
  }
}

TEST(Kernels, MatmulMatchesNaiveForEveryPathAndThreadCount) {
  ThreadPool pool({2, false});
  struct Shape { int64_t T, K, N; };
  for (Shape s : {Shape{1, 64, 35}, Shape{1, 300, 130}, Shape{1, 7, 3}, Shape{5, 33, 70},
                  Shape{64, 96, 200}}) {
    auto x = random_floats(s.T * s.K, 7), w = random_floats(s.N * s.K, 8);
    auto init = random_floats(s.T * s.N, 9);
    for (ThreadPool* p : {static_cast<ThreadPool*>(nullptr), &pool}) {
      for (MatmulMode mode : {MatmulMode::overwrite, MatmulMode::accumulate}) {
        auto y = init;
        matmul_forward(y.data(), x.data(), w.data(), s.T, s.K, s.N, p, mode);
        for (int64_t t = 0; t < s.T; ++t)
          for (int64_t n = 0; n < s.N; ++n) {
            double want = mode == MatmulMode::accumulate ? init[t * s.N + n] : 0.0;
            for (int64_t k = 0; k < s.K; ++k) want += double(x[t * s.K + k]) * w[n * s.K + k];
            ASSERT_NEAR(y[t * s.N + n], want, 1e-4 * std::sqrt(double(s.K)))
                << s.T << "x" << s.K << "x" << s.N;
          }
      }
    }
  }
}

// The packed kernel on shapes that are not multiples of its 6x16 tile or its
// 256-wide K block, on column sub-ranges (as threads call it), both modes,
// against a double-precision naive product; and the scalar reference path.
TEST(Kernels, PackedSgemmMatchesNaiveOnOddShapes) {
  struct Shape { int64_t M, K, N, n0, n1; };
  for (Shape s : {Shape{1, 1, 3, 0, 3}, Shape{5, 7, 17, 0, 17}, Shape{6, 8, 16, 0, 16},
                  Shape{7, 300, 40, 16, 40}, Shape{13, 513, 33, 0, 32}, Shape{20, 64, 172, 0, 172},
                  Shape{3, 257, 9, 2, 9}}) {
    auto x = random_floats(s.M * s.K, 21), w = random_floats(s.N * s.K, 22);
    const auto init = random_floats(s.M * s.N, 23);
    for (MatmulMode mode : {MatmulMode::overwrite, MatmulMode::accumulate}) {
      auto packed = init, reference = init;
      sgemm_nt(packed.data(), x.data(), w.data(), s.M, s.K, s.N, s.n0, s.n1, mode);
      sgemm_nt_reference(reference.data(), x.data(), w.data(), s.M, s.K, s.N, s.n0, s.n1, mode);
      for (int64_t m = 0; m < s.M; ++m)
        for (int64_t n = 0; n < s.N; ++n) {
          const size_t i = static_cast<size_t>(m * s.N + n);
          if (n < s.n0 || n >= s.n1) {  // outside the range: untouched
            ASSERT_EQ(packed[i], init[i]);
            ASSERT_EQ(reference[i], init[i]);
            continue;
          }
          double want = mode == MatmulMode::accumulate ? init[i] : 0.0;
          for (int64_t k = 0; k < s.K; ++k) want += double(x[m * s.K + k]) * w[n * s.K + k];
          const double tol = 1e-5 * std::sqrt(double(s.K)) * (1 + std::abs(want));
          ASSERT_NEAR(packed[i], want, tol) << s.M << "x" << s.K << "x" << s.N << " at " << m << "," << n;
          ASSERT_NEAR(reference[i], want, tol) << s.M << "x" << s.K << "x" << s.N;
        }
    }
  }
}

// The strided product of the backward pass (sgemm_nn), A plain or stored
// transposed (dout^T of a weight gradient, packed 6 rows at a time), on shapes
// with several K blocks (K > 256), row blocks (M > 144 when transposed) and
// tiles of fewer than 6 rows, both modes, against a double-precision product.
TEST(Kernels, StridedSgemmMatchesNaiveOnOddShapes) {
  struct Shape { int64_t M, K, N; };
  for (Shape s : {Shape{1, 3, 5}, Shape{7, 300, 17}, Shape{13, 513, 40}, Shape{151, 257, 33},
                  Shape{290, 600, 16}}) {
    for (bool transposed : {false, true}) {
      const int64_t lda = transposed ? s.M + 3 : s.K + 2, ldb = s.N + 1, ldc = s.N + 5;
      const auto a = random_floats((transposed ? s.K : s.M) * lda, 31);
      const auto b = random_floats(s.K * ldb, 32);
      const auto init = random_floats(s.M * ldc, 33);
      auto a_at = [&](int64_t m, int64_t k) {
        return double(transposed ? a[size_t(k * lda + m)] : a[size_t(m * lda + k)]);
      };
      for (MatmulMode mode : {MatmulMode::overwrite, MatmulMode::accumulate}) {
        auto out = init;
        sgemm_nn(out.data(), ldc, {a.data(), lda, transposed}, {b.data(), ldb}, s.M, s.K, s.N, mode);
        for (int64_t m = 0; m < s.M; ++m)
          for (int64_t n = 0; n < ldc; ++n) {
            const size_t i = size_t(m * ldc + n);
            if (n >= s.N) {  // between rows: untouched
              ASSERT_EQ(out[i], init[i]);
              continue;
            }
            double want = mode == MatmulMode::accumulate ? init[i] : 0.0;
            for (int64_t k = 0; k < s.K; ++k) want += a_at(m, k) * b[size_t(k * ldb + n)];
            ASSERT_NEAR(out[i], want, 1e-5 * std::sqrt(double(s.K)) * (1 + std::abs(want)))
                << s.M << "x" << s.K << "x" << s.N << (transposed ? " A^T" : "") << " at " << m
                << "," << n;
          }
      }
    }
  }
}

// Brute-force attention for one query over explicit key/value rows.
void naive_attention(float* out, const float* q, const float* k, const float* v, int64_t p,
                     int64_t first, int64_t NH, int64_t KVH, int64_t HS, int64_t W) {
  for (int64_t h = 0; h < NH; ++h) {
    const int64_t g = h / (NH / KVH);
    const int64_t lo = std::max(first, W > 0 ? std::max<int64_t>(0, p - W + 1) : 0);
    std::vector<double> s;
    for (int64_t j = lo; j <= p; ++j) {
      double d = 0;
      for (int64_t i = 0; i < HS; ++i) d += double(q[h * HS + i]) * k[(j - first) * KVH * HS + g * HS + i];
      s.push_back(d / std::sqrt(double(HS)));
    }
    double mx = *std::max_element(s.begin(), s.end()), z = 0;
    for (double& e : s) z += (e = std::exp(e - mx));
    for (int64_t i = 0; i < HS; ++i) {
      double acc = 0;
      for (int64_t j = lo; j <= p; ++j) acc += s[j - lo] / z * v[(j - first) * KVH * HS + g * HS + i];
      out[h * HS + i] = static_cast<float>(acc);
    }
  }
}

TEST(Kernels, AttentionMatchesNaiveWithGroupsWindowsAndOffsets) {
  const int64_t NH = 6, KVH = 2;
  ThreadPool pool({2, false});
  // Prefill: HS 6, 8 and 16 put 8 queries in the lanes of a register (T 70 and
  // 40 leave partial groups); 40 and 64 go through the GEMM in blocks of 32 rows
  // (70 leaves a partial block). Decode mode: row by row,
  // HS 8 and 16 with 8-wide dot rows and output strips, 6 the scalar fallback,
  // 40 and 64 the whole output in registers (weighted_row_sum_wide).
  for (int64_t HS : {8, 6, 16, 40, 64}) {
    struct Case { int64_t first, pos0, T, W; };
    for (Case c : {Case{0, 0, 70, 0}, Case{0, 0, 70, 5}, Case{3, 10, 40, 9}, Case{0, 90, 1, 0},
                   Case{80, 90, 1, 11}}) {
      const int64_t count = c.pos0 + c.T - c.first;
      auto k = random_floats(count * KVH * HS, 10), v = random_floats(count * KVH * HS, 11);
      auto q = random_floats(c.T * NH * HS, 12, 3.0f);
      const KvSpan span{k.data(), v.data(), c.first, count, KVH * HS, HS};  // row-major
      // Head size 8 also with the keys, then keys and values, in lanes (what a
      // full cache adds): blocks of 8 span indices, (HS, 8) each, zero past count.
      const int64_t lanes_stride = (count + 7) / 8 * 8 * HS;
      std::vector<float> k_lanes(static_cast<size_t>(KVH * lanes_stride), 0.0f), v_lanes(k_lanes);
      for (int64_t h = 0; h < KVH; ++h)
        for (int64_t j = 0; j < count; ++j)
          for (int64_t i = 0; i < HS; ++i) {
            const int64_t at = h * lanes_stride + j / 8 * 8 * HS + i * 8 + j % 8;
            k_lanes[at] = k[(j * KVH + h) * HS + i];
            v_lanes[at] = v[(j * KVH + h) * HS + i];
          }
      KvSpan keys_in_lanes = span;
      keys_in_lanes.k_lanes = k_lanes.data();
      keys_in_lanes.lanes_head_stride = lanes_stride;
      KvSpan both_in_lanes = keys_in_lanes;
      both_in_lanes.v_lanes = v_lanes.data();
      struct Run { ThreadPool* pool; AttentionMode mode; const KvSpan* span; };
      std::vector<Run> runs = {{nullptr, AttentionMode::prefill, &span},
                               {&pool, AttentionMode::prefill, &span},
                               {nullptr, AttentionMode::decode, &span}};
      if (HS == kKeysInLanesHeadDim) {
        runs.push_back({nullptr, AttentionMode::decode, &keys_in_lanes});
        runs.push_back({nullptr, AttentionMode::decode, &both_in_lanes});
      }
      for (auto [p, mode, sp] : runs) {
        std::vector<float> out(q.size()), want(NH * HS);
        AttentionScratch scratch;
        attention_forward(out.data(), q.data(), *sp, c.pos0, c.T, {NH, KVH, HS, c.W}, scratch, p,
                          mode);
        for (int64_t t = 0; t < c.T; ++t) {
          naive_attention(want.data(), q.data() + t * NH * HS, k.data(), v.data(), c.pos0 + t,
                          c.first, NH, KVH, HS, c.W);
          for (int64_t i = 0; i < NH * HS; ++i) {
            ASSERT_NEAR(out[t * NH * HS + i], want[i], 1e-5) << "HS " << HS << " t " << t;
          }
        }
        // The last row alone (the last-row-only prefill) equals it in the full pass.
        if (mode == AttentionMode::prefill && c.T > 1) {
          std::vector<float> last(NH * HS);
          attention_forward(last.data(), q.data() + (c.T - 1) * NH * HS, *sp, c.pos0 + c.T - 1, 1,
                            {NH, KVH, HS, c.W}, scratch, p, mode);
          ASSERT_EQ(last, std::vector<float>(out.end() - NH * HS, out.end())) << "HS " << HS;
        }
      }
    }
  }
}

TEST(KvCache, SlidingWindowKeepsExactlyTheWindow) {
  const int64_t D = 3, W = 4;
  auto cache = make_kv_cache({LayerKind::swa, W, 0}, {D, D, 1000, 6});
  auto row = [&](int64_t p) { return std::vector<float>{float(p), float(p) + 0.5f, -float(p)}; };
  int64_t pos = 0;
  for (int64_t T : {1, 1, 6, 1, 1, 1, 5, 2, 1}) {  // batched and single appends, wrapping
    std::vector<float> k, v;
    for (int64_t t = 0; t < T; ++t) {
      auto r = row(pos + t);
      k.insert(k.end(), r.begin(), r.end());
      for (auto& e : r) e *= 2;
      v.insert(v.end(), r.begin(), r.end());
    }
    const KvSpan s = cache->append(k.data(), v.data(), pos, T);
    // The span starts W-1 before the first new position (or at 0) and ends at the last.
    EXPECT_EQ(s.first, std::max<int64_t>(0, pos - (W - 1)));
    EXPECT_EQ(s.first + s.count, pos + T);
    for (int64_t j = 0; j < s.count; ++j) {
      EXPECT_EQ(std::vector<float>(s.k + j * D, s.k + (j + 1) * D), row(s.first + j));
      EXPECT_EQ(s.v[j * D], 2 * row(s.first + j)[0]);
    }
    pos += T;
  }
  EXPECT_EQ(cache->positions(), pos);
  EXPECT_THROW(cache->append(nullptr, nullptr, pos + 1, 1), Error);  // not the next position
  auto full = make_kv_cache({LayerKind::full, 0, 0}, {D, D, 2, 2});
  std::vector<float> two(2 * D);
  full->append(two.data(), two.data(), 0, 2);
  EXPECT_THROW(full->append(two.data(), two.data(), 2, 1), Error);  // capacity
  EXPECT_EQ(make_kv_cache({LayerKind::skip, 0, 0}, {D, D, 100, 4})->bytes(), 0);
}

// The full cache is head-major and re-lays its heads out when it grows (past
// 64, 128 positions here): every element must stay reachable through the strides.
TEST(KvCache, FullCacheKeepsEveryPositionThroughGrowth) {
  // HS 8 also keeps keys and values in lanes (block transposes and single positions).
  for (int64_t HS : {4, 8}) {
    const int64_t KVH = 3, D = KVH * HS;
    auto cache = make_kv_cache({LayerKind::full, 0, 0}, {D, HS, 300, 50});
    auto value = [](int64_t p, int64_t i) { return float(p * 100 + i); };
    int64_t pos = 0;
    for (int64_t T : {1, 50, 13, 1, 50, 50, 1}) {
      std::vector<float> k(static_cast<size_t>(T * D)), v(k.size());
      for (int64_t t = 0; t < T; ++t)
        for (int64_t i = 0; i < D; ++i) {
          k[t * D + i] = value(pos + t, i);
          v[t * D + i] = -value(pos + t, i);
        }
      const KvSpan s = cache->append(k.data(), v.data(), pos, T);
      pos += T;
      ASSERT_EQ(s.first, 0);
      ASSERT_EQ(s.count, pos);
      for (int64_t p = 0; p < pos; ++p)
        for (int64_t h = 0; h < KVH; ++h)
          for (int64_t i = 0; i < HS; ++i) {
            ASSERT_EQ(s.k[h * s.head_stride + p * s.row_stride + i], value(p, h * HS + i));
            ASSERT_EQ(s.v[h * s.head_stride + p * s.row_stride + i], -value(p, h * HS + i));
            if (HS == kKeysInLanesHeadDim) {
              const int64_t at = h * s.lanes_head_stride + p / 8 * 8 * HS + i * 8 + p % 8;
              ASSERT_EQ(s.k_lanes[at], value(p, h * HS + i));
              ASSERT_EQ(s.v_lanes[at], -value(p, h * HS + i));
            }
          }
      ASSERT_EQ(s.k_lanes != nullptr, HS == kKeysInLanesHeadDim);
      ASSERT_EQ(s.v_lanes != nullptr, HS == kKeysInLanesHeadDim);
    }
  }
}

TEST(Sampler, GreedyTemperatureAndTopP) {
  const std::vector<float> logits = {0.0f, 2.0f, 1.0f, 2.0f, -1.0f};
  std::mt19937_64 rng(1);
  EXPECT_EQ(Sampler({0.0f, 1.0f}).sample(logits, rng), 1);  // first of the tied maxima
  // Temperature 1: frequencies follow softmax(logits).
  Sampler s({1.0f, 1.0f});
  std::map<int32_t, int> counts;
  const int n = 40000;
  for (int i = 0; i < n; ++i) ++counts[s.sample(logits, rng)];
  double z = 0;
  for (float l : logits) z += std::exp(l);
  for (int32_t t = 0; t < 5; ++t) EXPECT_NEAR(counts[t] / double(n), std::exp(logits[t]) / z, 0.01);
  // top_p small enough keeps only the (first) most likely token.
  Sampler nucleus({1.0f, 0.1f});
  for (int i = 0; i < 100; ++i) EXPECT_EQ(nucleus.sample(logits, rng), 1);
  // The same seed reproduces the same sequence.
  std::mt19937_64 a(5), b(5);
  for (int i = 0; i < 50; ++i) EXPECT_EQ(s.sample(logits, a), s.sample(logits, b));
  EXPECT_THROW(Sampler({-1.0f, 1.0f}), InvalidInput);
  EXPECT_THROW(Sampler({1.0f, 0.0f}), InvalidInput);
  EXPECT_THROW(Sampler({1.0f, 1.5f}), InvalidInput);
}

// A caller pinned to one CPU (as latency measurement pins itself) must not drag
// its workers onto that CPU: new threads inherit the caller's affinity, and two
// threads spinning on one CPU made 2-thread decode 10x slower than 1 thread.
TEST(ThreadPoolAffinity, WorkersOfAPinnedCallerUseOtherCpus) {
  cpu_set_t saved;
  ASSERT_EQ(pthread_getaffinity_np(pthread_self(), sizeof(saved), &saved), 0);
  if (CPU_COUNT(&saved) < 2) GTEST_SKIP() << "needs two CPUs";
  int first = 0;
  while (!CPU_ISSET(first, &saved)) ++first;
  cpu_set_t one;
  CPU_ZERO(&one);
  CPU_SET(first, &one);
  ASSERT_EQ(pthread_setaffinity_np(pthread_self(), sizeof(one), &one), 0);
  for (bool pin : {true, false}) {
    ThreadPool pool({2, pin});
    cpu_set_t worker;
    CPU_ZERO(&worker);
    // Index 1 goes to whichever thread claims it first; index 0 waits a little
    // so the worker can, and the test looks at the thread that ran it.
    const pthread_t caller = pthread_self();
    bool on_worker = false;
    for (int attempt = 0; attempt < 50 && !on_worker; ++attempt) {
      pool.run([&](int i) {
        if (i == 0) std::this_thread::sleep_for(std::chrono::milliseconds(20));
        if (i == 1 && !pthread_equal(pthread_self(), caller)) {
          pthread_getaffinity_np(pthread_self(), sizeof(worker), &worker);
          on_worker = true;
        }
      });
    }
    ASSERT_TRUE(on_worker) << "the worker never ran an index";
    EXPECT_FALSE(CPU_COUNT(&worker) == 1 && CPU_ISSET(first, &worker)) << "pin " << pin;
    if (pin) {
      EXPECT_TRUE(pool.pinned());
    }
  }
  pthread_setaffinity_np(pthread_self(), sizeof(saved), &saved);
}

}  // namespace
}  // namespace flashnas
