// The Q8_0 runtime path against independent double-precision references:
// row quantisation against the GGUF encoder, the int8 GEMV (weights and
// quantised activations dequantised, products in double), the dequantising
// GEMM, thread-count determinism, refusal of row lengths Q8_0 cannot hold, and
// the forward pass (prefill against the reference forward on dequantised
// weights; decode and F32 closeness).
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "engine/model/tensor_types.hpp"
#include "engine/runtime/inference_session.hpp"
#include "engine/runtime/matmul.hpp"
#include "engine/runtime/q8_0_matmul.hpp"
#include "engine/runtime/runtime_weights.hpp"
#include "engine/runtime/synthetic_model.hpp"
#include "engine/runtime/thread_pool.hpp"
#include "engine/util/error.hpp"
#include "tests/runtime/reference_forward.hpp"
#include "tests/runtime/runtime_fixtures.hpp"

namespace flashnas {
namespace {

using test::random_floats;

// What GGUF's Q8_0 encoder and decoder make of x: the reference values.
std::vector<float> gguf_q8_0_roundtrip(const std::vector<float>& x) {
  std::vector<uint8_t> bytes(static_cast<size_t>(tensor_bytes(TensorType::q8_0, int64_t(x.size()))));
  encode_tensor(bytes, TensorType::q8_0, x);
  std::vector<float> out(x.size());
  decode_tensor(out, TensorType::q8_0, bytes);
  return out;
}

TEST(Q8_0, RowsHoldExactlyTheGgufValues) {
  const int64_t K = 96;
  auto x = random_floats(K, 1, 3.0f);
  x[5] = 0.0f;
  std::fill(x.begin() + 32, x.begin() + 64, 0.0f);  // an all-zero block: scale 0
  std::vector<uint8_t> row(static_cast<size_t>(q8_0_row_bytes(K)));
  quantize_row_q8_0(row.data(), x.data(), K);
  const auto want = gguf_q8_0_roundtrip(x);
  std::vector<float> got(K);
  dequantize_row_q8_0(got.data(), row.data(), K, 0, K);
  EXPECT_EQ(got, want);
  // Sub-ranges, block-aligned (the SIMD path) and not.
  for (auto [k0, kc] : {std::pair<int64_t, int64_t>{32, 64}, {5, 40}, {64, 32}, {0, 1}}) {
    std::vector<float> part(static_cast<size_t>(kc));
    dequantize_row_q8_0(part.data(), row.data(), K, k0, kc);
    EXPECT_EQ(part, std::vector<float>(want.begin() + k0, want.begin() + k0 + kc)) << k0 << "+" << kc;
  }
  // The quantisation is not the identity (else this test would prove nothing).
  EXPECT_NE(want, x);
}

// quantize_row_q8_0 (AVX2 where available) gives the quants and scales of
// quantize_q8_0_block bit for bit: on random blocks of many magnitudes and on
// exact halves (round half away from zero) and their neighbours.
TEST(Q8_0, RowQuantiserEqualsTheReferenceBlockQuantiser) {
  std::vector<float> x = random_floats(32 * 400, 3);
  std::mt19937_64 rng(4);
  for (int64_t b = 0; b < 400; ++b) {
    const float scale = std::ldexp(1.0f, static_cast<int>(rng() % 40) - 20);
    for (int64_t j = 0; j < 32; ++j) x[b * 32 + j] *= scale;
  }
  // Block 0: d = 1 (max 127), so x / d is x itself: ties and their neighbours.
  const float ties[] = {127.0f, 0.5f, -0.5f, 1.5f, -1.5f, 2.5f, -2.5f, 126.5f, -126.5f,
                        std::nextafter(0.5f, 0.0f), std::nextafter(-0.5f, 0.0f),
                        std::nextafter(2.5f, 0.0f), std::nextafter(2.5f, 3.0f), 0.0f, -0.0f};
  std::fill(x.begin(), x.begin() + 32, 0.25f);
  std::copy(std::begin(ties), std::end(ties), x.begin());
  std::fill(x.begin() + 32 * 7, x.begin() + 32 * 8, 0.0f);  // an all-zero block
  const int64_t K = static_cast<int64_t>(x.size());
  std::vector<uint8_t> row(static_cast<size_t>(q8_0_row_bytes(K)));
  quantize_row_q8_0(row.data(), x.data(), K);
  const auto* scales = reinterpret_cast<const float*>(row.data() + K);
  for (int64_t b = 0; b < K / 32; ++b) {
    int8_t q[32];
    const float d = half_to_float(quantize_q8_0_block(x.data() + b * 32, q));
    ASSERT_EQ(scales[b], d) << "block " << b;
    for (int64_t j = 0; j < 32; ++j) {
      ASSERT_EQ(static_cast<int8_t>(row[static_cast<size_t>(b * 32 + j)]), q[j])
          << "block " << b << " value " << j << " = " << x[b * 32 + j];
    }
  }
  const int8_t* q0 = reinterpret_cast<const int8_t*>(row.data());
  EXPECT_EQ(scales[0], 1.0f);
  EXPECT_EQ(int{q0[1]}, 1);    // 0.5 -> 1 (away from zero, not to even)
  EXPECT_EQ(int{q0[2]}, -1);   // -0.5 -> -1
  EXPECT_EQ(int{q0[5]}, 3);    // 2.5 -> 3
  EXPECT_EQ(int{q0[9]}, 0);    // just below 0.5 -> 0
  EXPECT_EQ(int{q0[16]}, 0);   // 0.25 -> 0
}

TEST(Q8_0, RefusesRowLengthsThatAreNotMultiplesOf32) {
  const auto w = random_floats(4 * 48, 2);
  try {
    quantize_matrix_q8_0(w.data(), 4, 48);
    FAIL() << "K = 48 was accepted";
  } catch (const InvalidInput& e) {
    EXPECT_EQ(e.field(), "K");
    EXPECT_NE(std::string(e.what()).find("multiple of 32"), std::string::npos) << e.what();
  }
  std::vector<uint8_t> row(64);
  EXPECT_THROW(quantize_row_q8_0(row.data(), w.data(), 0), InvalidInput);
  EXPECT_NO_THROW(quantize_matrix_q8_0(w.data(), 6, 32));
}

struct Product {
  int64_t T, K, N;
};

// out (T, N) for every thread count and mode, against a double product of
// `xr` (the activations as the kernel sees them) and the dequantised weights.
void check_product(const Product& s, MatmulPath path, bool quantised_activations) {
  ThreadPool pool({2, false});
  const auto w = random_floats(s.N * s.K, 10 + s.K, 0.5f);
  const auto x = random_floats(s.T * s.K, 20 + s.N, 2.0f);
  const auto init = random_floats(s.T * s.N, 30);
  const Q8_0Matrix q = quantize_matrix_q8_0(w.data(), s.N, s.K);
  const auto wr = gguf_q8_0_roundtrip(w);
  const auto xr = quantised_activations ? gguf_q8_0_roundtrip(x) : x;
  for (MatmulMode mode : {MatmulMode::overwrite, MatmulMode::accumulate}) {
    std::vector<float> one = init, two = init;
    matmul_forward(one.data(), x.data(), q.view, s.T, nullptr, mode, path);
    matmul_forward(two.data(), x.data(), q.view, s.T, &pool, mode, path);
    EXPECT_EQ(one, two) << s.T << "x" << s.K << "x" << s.N << ": 1 and 2 threads differ";
    int64_t far_from_f32 = 0;  // outputs the unquantised product would miss
    for (int64_t t = 0; t < s.T; ++t) {
      for (int64_t n = 0; n < s.N; ++n) {
        const double base = mode == MatmulMode::accumulate ? init[t * s.N + n] : 0.0;
        double want = base, want_f32 = base, magnitude = std::abs(base);
        for (int64_t k = 0; k < s.K; ++k) {
          const double p = double(xr[t * s.K + k]) * wr[n * s.K + k];
          want += p;
          magnitude += std::abs(p);
          want_f32 += double(x[t * s.K + k]) * w[n * s.K + k];
        }
        // Float rounding of the block scales and of the accumulation only.
        const double tol = 5e-7 * std::sqrt(double(s.K)) * magnitude;
        const float got = one[t * s.N + n];
        ASSERT_NEAR(got, want, tol) << s.T << "x" << s.K << "x" << s.N << " at " << t << "," << n;
        if (std::abs(got - want_f32) > 3 * tol) ++far_from_f32;
      }
    }
    EXPECT_GT(far_from_f32, 0) << "the tolerance cannot tell Q8_0 from F32";
  }
}

// K = 32 (one block), 96 and 288 (not multiples of 64 or of the GEMM's 256-wide
// K block), 544 (two K blocks); N not a multiple of 8 or 16.
TEST(Q8_0, GemvMatchesDoubleReferenceOnQuantisedActivations) {
  for (Product s : {Product{1, 32, 1}, Product{1, 96, 35}, Product{1, 288, 130},
                    Product{1, 544, 67}, Product{1, 768, 96}}) {
    check_product(s, MatmulPath::by_rows, /*quantised_activations=*/true);
  }
}

TEST(Q8_0, GemmMatchesDoubleReferenceOnDequantisedWeights) {
  for (Product s : {Product{5, 96, 35}, Product{7, 288, 40}, Product{13, 544, 33},
                    Product{64, 768, 130}, Product{1, 288, 70}}) {
    check_product(s, MatmulPath::gemm, /*quantised_activations=*/false);
  }
}

// A row of the GEMV does not depend on which rows are computed with it
// (groups of eight or the single-row tail), nor does a GEMM row on the others.
TEST(Q8_0, RowsDoNotDependOnTheirNeighbours) {
  const int64_t K = 160, N = 21, T = 9;
  const auto w = random_floats(N * K, 40);
  const auto x = random_floats(T * K, 41);
  const Q8_0Matrix q = quantize_matrix_q8_0(w.data(), N, K);
  std::vector<uint8_t> xq(static_cast<size_t>(q8_0_row_bytes(K)));
  quantize_row_q8_0(xq.data(), x.data(), K);
  std::vector<float> all(N), part(N);
  q8_0_gemv_rows(all.data(), xq.data(), q.view.q8_0, K, 0, N, MatmulMode::overwrite);
  for (int64_t n0 : {0, 3, 13, 20}) {
    q8_0_gemv_rows(part.data(), xq.data(), q.view.q8_0, K, n0, N, MatmulMode::overwrite);
    for (int64_t n = n0; n < N; ++n) EXPECT_EQ(part[n], all[n]) << "from " << n0 << " row " << n;
  }
  std::vector<float> batch(T * N), last(N);
  matmul_forward(batch.data(), x.data(), q.view, T, nullptr, MatmulMode::overwrite, MatmulPath::gemm);
  matmul_forward(last.data(), x.data() + (T - 1) * K, q.view, 1, nullptr, MatmulMode::overwrite,
                 MatmulPath::gemm);
  EXPECT_EQ(last, std::vector<float>(batch.end() - N, batch.end()));
}

// C 64, 4 heads (HS 16) sharing 2 kv heads, FFN widths multiples of 32 except
// the last layer's 40 (its w_down stays F32), V 61, untied head.
ArchConfig q8_config() {
  ArchConfig c;
  c.d_model = 64;
  c.n_heads = 4;
  c.n_kv_heads = 2;
  c.head_dim = 16;
  c.vocab_size = 61;
  c.tied_embeddings = false;
  c.layers = {{LayerKind::full, 0, 96}, {LayerKind::swa, 5, 64}, {LayerKind::skip, 0, 128},
              {LayerKind::full, 0, 40}};
  return c;
}

using test::random_tokens;

std::vector<float> prefill_all(const Model& m, const std::vector<int32_t>& tokens,
                               WeightFormat format, int threads = 1) {
  RuntimeContext ctx({threads, false});
  InferenceSession s(m.config, m.weights, ctx, {256, 256, format});
  const auto logits = s.prefill(tokens, {true, nullptr});
  return {logits.begin(), logits.end()};
}

// The model with every matrix Q8_0 can hold replaced by its dequantised values.
Model dequantised_copy(const Model& m) {
  Model d;
  d.config = m.config;
  d.weights = clone_weights(m.config, m.weights);
  for (const TensorView& t : list_tensors(d.config, d.weights)) {
    const bool matrix = t.rows > 1;  // norms are vectors and stay F32
    if (!matrix || t.cols % kQ8BlockValues != 0) continue;
    const auto r = gguf_q8_0_roundtrip(std::vector<float>(t.data, t.data + t.numel()));
    std::copy(r.begin(), r.end(), t.data);
  }
  return d;
}

double max_abs(std::span<const float> a) {
  double m = 0;
  for (float v : a) m = std::max(m, double(std::abs(v)));
  return m;
}

double max_abs_diff(std::span<const float> a, std::span<const float> b) {
  EXPECT_EQ(a.size(), b.size());
  double m = 0;
  for (size_t i = 0; i < a.size(); ++i) m = std::max(m, std::abs(double(a[i]) - b[i]));
  return m;
}

TEST(Q8_0Session, QuantisesWhatQ8_0CanHold) {
  const Model m = make_synthetic_model(q8_config(), 3);
  RuntimeContext ctx({1, false});
  InferenceSession q8(m, ctx, {64, 64, WeightFormat::q8_0});
  const RuntimeWeights& rw = q8.runtime_weights();
  // tok_embd, output, 3 x (wq wk wv wo) + 4 x (gate up) + 3 w_down; the last w_down (K 40) is F32.
  EXPECT_EQ(rw.q8_0_matrices, 2 + 12 + 8 + 3);
  EXPECT_EQ(rw.f32_matrices, 1);
  EXPECT_EQ(rw.layers[3].w_down.format, WeightFormat::f32);
  EXPECT_EQ(rw.layers[0].wq.format, WeightFormat::q8_0);
  InferenceSession f32(m, ctx, {64, 64});
  EXPECT_EQ(f32.runtime_weights().q8_0_matrices, 0);
  EXPECT_EQ(f32.runtime_weights().layers[0].wq.f32, m.weights.layers[0].wq);
}

// Prefill runs F32 activations through dequantised weights, so it must match
// the double-precision reference forward of the dequantised model as tightly
// as the F32 path matches it on F32 weights.
TEST(Q8_0Session, PrefillMatchesReferenceForwardOnDequantisedWeights) {
  const Model m = make_synthetic_model(q8_config(), 5);
  const Model d = dequantised_copy(m);
  const auto tokens = random_tokens(23, m.config.vocab_size, 1);
  const auto got = prefill_all(m, tokens, WeightFormat::q8_0);
  const auto want = test::reference_logits(d.config, d.weights, tokens);
  const auto want_f32 = test::reference_logits(m.config, m.weights, tokens);
  ASSERT_EQ(got.size(), want.size());
  double off_f32 = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    ASSERT_NEAR(got[i], want[i], 2e-4) << "index " << i;
    off_f32 = std::max(off_f32, std::abs(got[i] - want_f32[i]));
  }
  EXPECT_GT(off_f32, 1e-3) << "Q8_0 logits indistinguishable from F32: nothing was quantised";
}

TEST(Q8_0Session, LogitsCloseToF32AndDecodeCloseToPrefill) {
  const Model m = make_synthetic_model(q8_config(), 7);
  const int64_t V = m.config.vocab_size;
  const auto tokens = random_tokens(21, V, 2);
  const auto f32 = prefill_all(m, tokens, WeightFormat::f32);
  const auto q8 = prefill_all(m, tokens, WeightFormat::q8_0);
  const double scale = max_abs(f32);
  const double diff = max_abs_diff(q8, f32);
  EXPECT_LT(diff, 0.03 * scale);
  EXPECT_GT(diff, 0.0);
  // Decode quantises its activations too, so it is close to, not equal to, prefill.
  RuntimeContext ctx({1, false});
  InferenceSession s(m.config, m.weights, ctx, {64, 16, WeightFormat::q8_0});
  auto logits = s.prefill(std::span(tokens.data(), 5));
  double worst = 0;
  for (int64_t t = 5; t < static_cast<int64_t>(tokens.size()); ++t) {
    logits = s.decode(tokens[static_cast<size_t>(t)]);
    worst = std::max(worst, max_abs_diff(logits, std::span(q8.data() + t * V, size_t(V))));
  }
  EXPECT_LT(worst, 0.03 * scale);
  EXPECT_GT(worst, 0.0);
}

TEST(Q8_0Session, DeterministicPerThreadCountAndLastOnlyEqualsLastRow) {
  const Model m = make_synthetic_model(q8_config(), 9);
  const int64_t V = m.config.vocab_size;
  const auto tokens = random_tokens(64, V, 4);
  for (int threads : {1, 2}) {
    const auto a = prefill_all(m, tokens, WeightFormat::q8_0, threads);
    EXPECT_EQ(a, prefill_all(m, tokens, WeightFormat::q8_0, threads)) << threads << " threads";
    RuntimeContext ctx({threads, false});
    InferenceSession s(m.config, m.weights, ctx, {256, 256, WeightFormat::q8_0});
    const auto last = s.prefill(tokens);
    EXPECT_EQ(std::vector<float>(last.begin(), last.end()), std::vector<float>(a.end() - V, a.end()));
  }
}

}  // namespace
}  // namespace flashnas
