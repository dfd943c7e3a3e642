// Finite-difference gradient checks in double precision: the central
// difference of a double-precision reference function, compared with the
// engine's float gradient relative to the largest component of the tensor
// (llm.c's check). The engine's float arithmetic bounds the agreement, not the
// differences: with h = 1e-5 their own error is below 1e-9.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <random>
#include <string>
#include <vector>

namespace flashnas::test {

using DoubleFn = std::function<double(const std::vector<double>&)>;

// d f / d x[i] for each i in `indices` (every index when empty), by (f(x+h) - f(x-h)) / 2h.
inline std::vector<double> numeric_gradient(const DoubleFn& f, std::vector<double> x,
                                            std::vector<size_t> indices = {}, double h = 1e-5) {
  if (indices.empty()) {
    for (size_t i = 0; i < x.size(); ++i) indices.push_back(i);
  }
  std::vector<double> g;
  for (size_t i : indices) {
    const double x0 = x[i];
    x[i] = x0 + h;
    const double up = f(x);
    x[i] = x0 - h;
    const double down = f(x);
    x[i] = x0;
    g.push_back((up - down) / (2 * h));
  }
  return g;
}

// max_i |analytic_i - numeric_i| <= tol * max(max_i |numeric_i|, 1e-3).
inline void expect_gradient_near(const std::vector<double>& analytic,
                                 const std::vector<double>& numeric, double tol,
                                 const std::string& what) {
  ASSERT_EQ(analytic.size(), numeric.size()) << what;
  double scale = 1e-3, worst = 0.0;
  size_t at = 0;
  for (double n : numeric) scale = std::max(scale, std::abs(n));
  for (size_t i = 0; i < numeric.size(); ++i) {
    const double e = std::abs(analytic[i] - numeric[i]);
    if (e > worst) {
      worst = e;
      at = i;
    }
  }
  EXPECT_LE(worst, tol * scale) << what << ": worst at " << at << " analytic " << analytic[at]
                                << " numeric " << numeric[at] << " (scale " << scale << ")";
}

// `count` distinct indices in [0, n) drawn with a fixed seed (sorted), or all
// of them when n <= count: keeps the checks of larger tensors fast.
inline std::vector<size_t> sample_indices(size_t n, size_t count, uint64_t seed) {
  std::vector<size_t> all(n);
  for (size_t i = 0; i < n; ++i) all[i] = i;
  if (n <= count) return all;
  std::mt19937_64 rng(seed);
  std::shuffle(all.begin(), all.end(), rng);
  all.resize(count);
  std::sort(all.begin(), all.end());
  return all;
}

// The analytic gradient's entries at `indices`.
template <class T>
std::vector<double> pick(const std::vector<T>& v, const std::vector<size_t>& indices) {
  std::vector<double> out;
  for (size_t i : indices) out.push_back(static_cast<double>(v[i]));
  return out;
}

inline std::vector<double> to_double(const std::vector<float>& v) {
  return {v.begin(), v.end()};
}

inline std::vector<float> to_float(const std::vector<double>& v) {
  std::vector<float> f(v.size());
  for (size_t i = 0; i < v.size(); ++i) f[i] = static_cast<float>(v[i]);
  return f;
}

// n values uniform in [-scale, scale], exactly representable as floats (so the
// float engine and the double reference see the same inputs).
inline std::vector<double> random_inputs(size_t n, uint64_t seed, double scale = 1.0) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> d(-scale, scale);
  std::vector<double> v(n);
  for (auto& x : v) x = static_cast<double>(static_cast<float>(d(rng)));
  return v;
}

inline double dot(const std::vector<double>& a, const std::vector<double>& b) {
  double s = 0.0;
  for (size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}

}  // namespace flashnas::test
