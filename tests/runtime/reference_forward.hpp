// A deliberately plain double-precision forward pass, written from the model
// equations independently of the runtime's kernels (no caching, no batching,
// no SIMD): the oracle the runtime tests compare against, and (reading the
// parameters from a double copy through `read`) the function the training
// tests differentiate by finite differences.
#pragma once

#include <cmath>
#include <cstdint>
#include <vector>

#include "engine/model/arch_config.hpp"
#include "engine/model/model_weights.hpp"

namespace flashnas::test {

// Reads weight element i of the tensor whose view starts at p.
struct ReadFloatWeights {
  double operator()(const float* p, int64_t i) const { return static_cast<double>(p[i]); }
};

// Logits (T, V) of every position of `tokens` under `c`. Every weight is read
// as read(view, index), views being those of `w`.
template <class Read = ReadFloatWeights>
std::vector<double> reference_logits(const ArchConfig& c, const ModelWeights& w,
                                     const std::vector<int32_t>& tokens, Read read = {}) {
  const int64_t T = static_cast<int64_t>(tokens.size()), C = c.d_model, HS = c.head_dim;
  const int64_t NH = c.n_heads, KVH = c.n_kv_heads, V = c.vocab_size;
  using Vec = std::vector<double>;
  auto rmsnorm = [&](const Vec& x, const float* g) {
    double ss = 0;
    for (double v : x) ss += v * v;
    const double s = 1.0 / std::sqrt(ss / C + c.norm_eps);
    Vec o(x.size());
    for (size_t i = 0; i < x.size(); ++i) o[i] = x[i] * s * read(g, static_cast<int64_t>(i));
    return o;
  };
  auto matvec = [&](const float* W, const Vec& x, int64_t rows) {
    Vec y(static_cast<size_t>(rows), 0.0);
    const int64_t K = static_cast<int64_t>(x.size());
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t k = 0; k < K; ++k) y[r] += read(W, r * K + k) * x[k];
    return y;
  };
  auto rope = [&](Vec& v, int64_t heads, int64_t p) {
    for (int64_t h = 0; h < heads; ++h) {
      for (int64_t i = 0; i < HS / 2; ++i) {
        const double angle = p * std::pow(static_cast<double>(c.rope_theta), -2.0 * i / HS);
        const int64_t a = c.rope_layout == RopeLayout::interleaved ? h * HS + 2 * i : h * HS + i;
        const int64_t b = c.rope_layout == RopeLayout::interleaved ? a + 1 : a + HS / 2;
        const double x0 = v[a], x1 = v[b];
        v[a] = x0 * std::cos(angle) - x1 * std::sin(angle);
        v[b] = x0 * std::sin(angle) + x1 * std::cos(angle);
      }
    }
  };
  std::vector<Vec> x(static_cast<size_t>(T), Vec(static_cast<size_t>(C)));
  for (int64_t t = 0; t < T; ++t)
    for (int64_t i = 0; i < C; ++i) x[t][i] = read(w.tok_embd, tokens[t] * C + i);
  for (int64_t l = 0; l < c.n_layers(); ++l) {
    const LayerConfig& lc = c.layers[l];
    const LayerWeights& lw = w.layers[l];
    if (lc.kind != LayerKind::skip) {
      std::vector<Vec> q(T), k(T), v(T);
      for (int64_t t = 0; t < T; ++t) {
        const Vec n = rmsnorm(x[t], lw.attn_norm);
        q[t] = matvec(lw.wq, n, NH * HS);
        k[t] = matvec(lw.wk, n, KVH * HS);
        v[t] = matvec(lw.wv, n, KVH * HS);
        rope(q[t], NH, t);
        rope(k[t], KVH, t);
      }
      for (int64_t t = 0; t < T; ++t) {
        Vec att(static_cast<size_t>(NH * HS), 0.0);
        for (int64_t h = 0; h < NH; ++h) {
          const int64_t g = h / (NH / KVH);
          const int64_t j0 = lc.kind == LayerKind::swa ? std::max<int64_t>(0, t - lc.window + 1) : 0;
          Vec s;
          double mx = -1e300;
          for (int64_t j = j0; j <= t; ++j) {
            double d = 0;
            for (int64_t i = 0; i < HS; ++i) d += q[t][h * HS + i] * k[j][g * HS + i];
            s.push_back(d / std::sqrt(static_cast<double>(HS)));
            mx = std::max(mx, s.back());
          }
          double z = 0;
          for (double& e : s) z += (e = std::exp(e - mx));
          for (int64_t j = j0; j <= t; ++j)
            for (int64_t i = 0; i < HS; ++i) att[h * HS + i] += s[j - j0] / z * v[j][g * HS + i];
        }
        const Vec o = matvec(lw.wo, att, C);
        for (int64_t i = 0; i < C; ++i) x[t][i] += o[i];
      }
    }
    for (int64_t t = 0; t < T; ++t) {
      const Vec n = rmsnorm(x[t], lw.ffn_norm);
      Vec gate = matvec(lw.w_gate, n, lc.d_ffn);
      const Vec up = matvec(lw.w_up, n, lc.d_ffn);
      for (int64_t i = 0; i < lc.d_ffn; ++i) gate[i] = gate[i] / (1.0 + std::exp(-gate[i])) * up[i];
      const Vec d = matvec(lw.w_down, gate, C);
      for (int64_t i = 0; i < C; ++i) x[t][i] += d[i];
    }
  }
  std::vector<double> logits(static_cast<size_t>(T * V));
  for (int64_t t = 0; t < T; ++t) {
    const Vec n = rmsnorm(x[t], w.out_norm);
    const Vec y = matvec(w.output, n, V);
    for (int64_t i = 0; i < V; ++i) logits[t * V + i] = y[i];
  }
  return logits;
}

}  // namespace flashnas::test
