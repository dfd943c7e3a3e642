// Every backward kernel against finite differences in double precision of a
// plain double reference of its forward (op by op): L(x) = sum(r * op(x)) for
// a random r, whose gradient is the backward with dout = r. Sizes are odd so
// the vector loops' tails run.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "engine/runtime/attention.hpp"
#include "engine/runtime/kernels.hpp"
#include "engine/runtime/matmul.hpp"
#include "engine/runtime/thread_pool.hpp"
#include "engine/train/loss.hpp"
#include "engine/util/error.hpp"
#include "tests/train/gradcheck.hpp"
#include "tests/train/reference_loss.hpp"

namespace flashnas {
namespace {

using test::dot;
using test::expect_gradient_near;
using test::loss_ref;
using test::numeric_gradient;
using test::random_inputs;
using test::to_double;
using test::to_float;
using Vec = std::vector<double>;

size_t sz(int64_t n) { return static_cast<size_t>(n); }

// --- RMSNorm -----------------------------------------------------------------

Vec rmsnorm_ref(const Vec& x, const Vec& w, int64_t T, int64_t C, double eps) {
  Vec y(x.size());
  for (int64_t t = 0; t < T; ++t) {
    double ss = 0;
    for (int64_t i = 0; i < C; ++i) ss += x[sz(t * C + i)] * x[sz(t * C + i)];
    const double r = 1.0 / std::sqrt(ss / C + eps);
    for (int64_t i = 0; i < C; ++i) y[sz(t * C + i)] = x[sz(t * C + i)] * r * w[sz(i)];
  }
  return y;
}

TEST(BackwardKernels, RmsnormMatchesFiniteDifferences) {
  const int64_t T = 3, C = 37;
  const float eps = 1e-5f;
  const Vec x = random_inputs(sz(T * C), 1), w = random_inputs(sz(C), 2), r = random_inputs(sz(T * C), 3);
  const auto xf = to_float(x), wf = to_float(w), rf = to_float(r);
  std::vector<float> y(sz(T * C)), rstd(sz(T));
  rmsnorm_forward(y.data(), rstd.data(), xf.data(), wf.data(), T, C, eps);
  // The backward adds: start from ones and subtract them after.
  std::vector<float> dx(sz(T * C), 1.0f), dw(sz(C), 1.0f);
  rmsnorm_backward(dx.data(), dw.data(), rf.data(), xf.data(), wf.data(), rstd.data(), T, C);
  Vec dxa = to_double(dx), dwa = to_double(dw);
  for (double& v : dxa) v -= 1.0;
  for (double& v : dwa) v -= 1.0;
  expect_gradient_near(dxa, numeric_gradient([&](const Vec& v) { return dot(r, rmsnorm_ref(v, w, T, C, eps)); }, x), 1e-5, "dx");
  expect_gradient_near(dwa, numeric_gradient([&](const Vec& v) { return dot(r, rmsnorm_ref(x, v, T, C, eps)); }, w), 1e-5, "dw");
}

// --- RoPE --------------------------------------------------------------------

Vec rope_ref(Vec x, int64_t T, int64_t heads, int64_t HS, double theta, RopeLayout layout,
             int64_t pos0) {
  for (int64_t t = 0; t < T; ++t) {
    for (int64_t h = 0; h < heads; ++h) {
      for (int64_t i = 0; i < HS / 2; ++i) {
        const double angle = static_cast<double>(pos0 + t) * std::pow(theta, -2.0 * i / HS);
        const int64_t base = (t * heads + h) * HS;
        const int64_t a = base + (layout == RopeLayout::interleaved ? 2 * i : i);
        const int64_t b = layout == RopeLayout::interleaved ? a + 1 : a + HS / 2;
        const double x0 = x[sz(a)], x1 = x[sz(b)];
        x[sz(a)] = x0 * std::cos(angle) - x1 * std::sin(angle);
        x[sz(b)] = x0 * std::sin(angle) + x1 * std::cos(angle);
      }
    }
  }
  return x;
}

TEST(BackwardKernels, RopeMatchesFiniteDifferences) {
  for (RopeLayout layout : {RopeLayout::interleaved, RopeLayout::half}) {
    for (int64_t HS : {6, 16}) {  // 16: the AVX2 path of the interleaved layout
      const int64_t T = 5, heads = 3, pos0 = 2;
      const RopeTable table = make_rope_table(HS, 10000.0f, layout, pos0 + T);
      const Vec x = random_inputs(sz(T * heads * HS), 4), r = random_inputs(x.size(), 5);
      std::vector<float> d = to_float(r);
      rope_backward(d.data(), table, pos0, T, heads);
      expect_gradient_near(to_double(d), numeric_gradient([&](const Vec& v) {
                             return dot(r, rope_ref(v, T, heads, HS, 10000.0, layout, pos0));
                           }, x),
                           1e-5, fmt::format("rope HS {}", HS));
    }
  }
}

// --- SwiGLU ------------------------------------------------------------------

TEST(BackwardKernels, SwigluMatchesFiniteDifferences) {
  const int64_t n = 37;
  const Vec g = random_inputs(sz(n), 6, 4.0), u = random_inputs(sz(n), 7), r = random_inputs(sz(n), 8);
  auto f = [&](const Vec& gv, const Vec& uv) {
    double s = 0;
    for (int64_t i = 0; i < n; ++i) s += r[sz(i)] * gv[sz(i)] / (1 + std::exp(-gv[sz(i)])) * uv[sz(i)];
    return s;
  };
  const auto gf = to_float(g), uf = to_float(u), rf = to_float(r);
  std::vector<float> dg(sz(n)), du(sz(n));
  swiglu_backward(dg.data(), du.data(), rf.data(), gf.data(), uf.data(), n);
  expect_gradient_near(to_double(dg), numeric_gradient([&](const Vec& v) { return f(v, u); }, g), 1e-5, "dgate");
  expect_gradient_near(to_double(du), numeric_gradient([&](const Vec& v) { return f(g, v); }, u), 1e-5, "dup");
  // dgate may alias dout.
  std::vector<float> inplace = rf;
  swiglu_backward(inplace.data(), du.data(), inplace.data(), gf.data(), uf.data(), n);
  EXPECT_EQ(inplace, dg);
}

// --- Matrix products ---------------------------------------------------------

Vec matmul_ref(const Vec& x, const Vec& w, int64_t T, int64_t K, int64_t N) {
  Vec y(sz(T * N), 0.0);
  for (int64_t t = 0; t < T; ++t)
    for (int64_t n = 0; n < N; ++n)
      for (int64_t k = 0; k < K; ++k) y[sz(t * N + n)] += x[sz(t * K + k)] * w[sz(n * K + k)];
  return y;
}

TEST(BackwardKernels, MatmulMatchesFiniteDifferencesAtAnyThreadCount) {
  const int64_t T = 50, K = 37, N = 61;  // big enough to split across two threads
  const Vec x = random_inputs(sz(T * K), 9), w = random_inputs(sz(N * K), 10), r = random_inputs(sz(T * N), 11);
  const auto xf = to_float(x), wf = to_float(w), rf = to_float(r);
  std::vector<std::vector<float>> dxs, dws;
  for (int threads : {1, 2}) {
    ThreadPool pool({threads, false});
    std::vector<float> dx(sz(T * K), 7.0f), dw(sz(N * K), 1.0f);
    matmul_backward(dx.data(), dw.data(), rf.data(), xf.data(), wf.data(), T, K, N, &pool);
    dxs.push_back(dx);
    dws.push_back(dw);
    std::vector<float> dx_acc(sz(T * K), 1.0f), dw2(sz(N * K), 0.0f);
    matmul_backward(dx_acc.data(), dw2.data(), rf.data(), xf.data(), wf.data(), T, K, N, &pool,
                    MatmulMode::accumulate);
    for (size_t i = 0; i < dx.size(); ++i) ASSERT_NEAR(dx_acc[i], dx[i] + 1.0f, 1e-5);
  }
  EXPECT_EQ(dxs[0], dxs[1]);  // bit for bit, whatever the thread count
  EXPECT_EQ(dws[0], dws[1]);
  Vec dwa = to_double(dws[0]);
  for (double& v : dwa) v -= 1.0;  // dweight accumulates
  const auto ix = test::sample_indices(x.size(), 64, 3), iw = test::sample_indices(w.size(), 64, 4);
  expect_gradient_near(test::pick(dxs[0], ix), numeric_gradient([&](const Vec& v) { return dot(r, matmul_ref(v, w, T, K, N)); }, x, ix), 1e-5, "dinp");
  expect_gradient_near(test::pick(dwa, iw), numeric_gradient([&](const Vec& v) { return dot(r, matmul_ref(x, v, T, K, N)); }, w, iw), 1e-5, "dweight");
  // dinp may be skipped.
  std::vector<float> dw3(sz(N * K), 1.0f);
  matmul_backward(nullptr, dw3.data(), rf.data(), xf.data(), wf.data(), T, K, N, nullptr);
  EXPECT_EQ(dw3, dws[0]);
}

// --- Attention ---------------------------------------------------------------

struct AttentionCase {
  int64_t B, T, NH, KVH, HS, W;
};

// out (B*T, NH*HS) of causal (W == 0) or sliding-window attention, each sequence from position 0.
Vec attention_ref(const Vec& q, const Vec& k, const Vec& v, const AttentionCase& a) {
  const int64_t QD = a.NH * a.HS, KVD = a.KVH * a.HS;
  Vec out(sz(a.B * a.T * QD), 0.0);
  for (int64_t b = 0; b < a.B; ++b) {
    for (int64_t t = 0; t < a.T; ++t) {
      for (int64_t h = 0; h < a.NH; ++h) {
        const int64_t g = h / (a.NH / a.KVH);
        const int64_t j0 = a.W > 0 ? std::max<int64_t>(0, t - a.W + 1) : 0;
        Vec s;
        double mx = -1e300;
        for (int64_t j = j0; j <= t; ++j) {
          double d = 0;
          for (int64_t i = 0; i < a.HS; ++i)
            d += q[sz((b * a.T + t) * QD + h * a.HS + i)] * k[sz((b * a.T + j) * KVD + g * a.HS + i)];
          s.push_back(d / std::sqrt(static_cast<double>(a.HS)));
          mx = std::max(mx, s.back());
        }
        double z = 0;
        for (double& e : s) z += (e = std::exp(e - mx));
        for (int64_t j = j0; j <= t; ++j)
          for (int64_t i = 0; i < a.HS; ++i)
            out[sz((b * a.T + t) * QD + h * a.HS + i)] +=
                s[sz(j - j0)] / z * v[sz((b * a.T + j) * KVD + g * a.HS + i)];
      }
    }
  }
  return out;
}

TEST(BackwardKernels, AttentionMatchesFiniteDifferences) {
  // Head sizes 6 and 8 (the forward's lane kernels) and 32 (its block GEMM);
  // windows none, shorter than a block of 32 rows, longer than the sequence;
  // T = 37: a second, partial block of rows.
  const AttentionCase cases[] = {{2, 37, 4, 2, 6, 0}, {1, 37, 2, 1, 8, 5},
                                 {2, 13, 2, 2, 32, 0}, {1, 37, 4, 4, 6, 40},
                                 {1, 9, 3, 1, 8, 3}};
  for (const AttentionCase& a : cases) {
    const std::string what = fmt::format("B {} T {} NH {} KVH {} HS {} W {}", a.B, a.T, a.NH, a.KVH, a.HS, a.W);
    const int64_t QD = a.NH * a.HS, KVD = a.KVH * a.HS, BT = a.B * a.T;
    const Vec q = random_inputs(sz(BT * QD), 12), k = random_inputs(sz(BT * KVD), 13),
              v = random_inputs(sz(BT * KVD), 14), r = random_inputs(sz(BT * QD), 15);
    const auto qf = to_float(q), kf = to_float(k), vf = to_float(v), rf = to_float(r);
    const AttentionShape shape{a.NH, a.KVH, a.HS, a.W};
    AttentionScratch scratch;
    // The forward this is the backward of agrees with the reference.
    std::vector<float> out(sz(BT * QD));
    for (int64_t b = 0; b < a.B; ++b) {
      const KvSpan kv{kf.data() + b * a.T * KVD, vf.data() + b * a.T * KVD, 0, a.T, KVD, a.HS};
      attention_forward(out.data() + b * a.T * QD, qf.data() + b * a.T * QD, kv, 0, a.T, shape, scratch, nullptr);
    }
    const Vec want = attention_ref(q, k, v, a);
    for (size_t i = 0; i < want.size(); ++i) ASSERT_NEAR(out[i], want[i], 1e-5) << what;

    std::vector<std::vector<float>> results;
    for (int threads : {1, 2}) {
      ThreadPool pool({threads, false});
      std::vector<float> dq(sz(BT * QD), 9.0f), dk(sz(BT * KVD), 9.0f), dv(sz(BT * KVD), 9.0f);
      attention_backward(dq.data(), dk.data(), dv.data(), rf.data(), qf.data(), kf.data(), vf.data(),
                         out.data(), a.B, a.T, shape, scratch, &pool);
      results.push_back(dq);
      results.push_back(dk);
      results.push_back(dv);
    }
    EXPECT_EQ(results[0], results[3]) << what;  // bit for bit at 1 and 2 threads
    EXPECT_EQ(results[1], results[4]) << what;
    EXPECT_EQ(results[2], results[5]) << what;
    // 48 entries of each (the reference costs O(T^2) per evaluation).
    const auto iq = test::sample_indices(q.size(), 48, 1), ik = test::sample_indices(k.size(), 48, 2);
    expect_gradient_near(test::pick(results[0], iq), numeric_gradient([&](const Vec& x) { return dot(r, attention_ref(x, k, v, a)); }, q, iq), 1e-5, what + " dq");
    expect_gradient_near(test::pick(results[1], ik), numeric_gradient([&](const Vec& x) { return dot(r, attention_ref(q, x, v, a)); }, k, ik), 1e-5, what + " dk");
    expect_gradient_near(test::pick(results[2], ik), numeric_gradient([&](const Vec& x) { return dot(r, attention_ref(q, k, x, a)); }, v, ik), 1e-5, what + " dv");
  }
}

// --- Loss --------------------------------------------------------------------

TEST(BackwardKernels, LossMatchesFiniteDifferences) {
  const int64_t T = 3, V = 37;
  const Vec z = random_inputs(sz(T * V), 16, 3.0), zt = random_inputs(sz(T * V), 17, 3.0);
  const std::vector<int32_t> y = {5, 0, 36};
  const auto zf = to_float(z), ztf = to_float(zt);
  const LossWeights cases[] = {{1.0, 0.0, 1.0}, {0.0, 1.0, 2.0}, {0.5, 0.5, 1.0}, {0.3, 0.7, 3.0}};
  for (const LossWeights& w : cases) {
    const std::string what = fmt::format("ce {} kd {} tau {}", w.ce, w.kd, w.temperature);
    std::vector<float> grad(zf.size());
    const LossSums sums = loss_backward(grad.data(), zf.data(), ztf.data(), y.data(), T, V, w, 0.5f, nullptr);
    const double want = loss_ref(z, zt, y, T, V, w);
    EXPECT_NEAR(sums.total, want, 1e-5 * std::abs(want)) << what;
    EXPECT_EQ(sums.rows, T);
    EXPECT_NEAR(loss_forward(zf.data(), ztf.data(), y.data(), T, V, w).total, sums.total, 1e-12) << what;
    Vec analytic = to_double(grad);
    for (double& g : analytic) g *= 2.0;  // grad_scale 0.5
    expect_gradient_near(analytic, numeric_gradient([&](const Vec& v) { return loss_ref(v, zt, y, T, V, w); }, z), 1e-5, what);
    // In place (dlogits == logits), as the trainer runs it.
    std::vector<float> inplace = zf;
    loss_backward(inplace.data(), inplace.data(), ztf.data(), y.data(), T, V, w, 0.5f, nullptr);
    EXPECT_EQ(inplace, grad) << what;
  }
  std::vector<int32_t> bad = {5, 0, 37};
  std::vector<float> grad(zf.size());
  EXPECT_THROW(loss_backward(grad.data(), zf.data(), nullptr, bad.data(), T, V, {}, 1.0f, nullptr), InvalidInput);
}

}  // namespace
}  // namespace flashnas
