// The training loss in plain double precision, from its definition
// (engine/train/loss.hpp): the oracle of the loss tests and the last step of
// the whole-model finite-difference check.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "engine/train/loss.hpp"

namespace flashnas::test {

inline double log_sum_exp_ref(const double* z, int64_t V, double scale) {
  double mx = -1e300, s = 0;
  for (int64_t i = 0; i < V; ++i) mx = std::max(mx, z[i] * scale);
  for (int64_t i = 0; i < V; ++i) s += std::exp(z[i] * scale - mx);
  return mx + std::log(s);
}

// Sum over rows t of w_ce CE(z_t, y_t) + w_kd tau^2 KL(softmax(z'_t/tau) || softmax(z_t/tau)).
// z, zt (T, V); zt is unused when w.kd == 0.
inline double loss_ref(const std::vector<double>& z, const std::vector<double>& zt,
                       const std::vector<int32_t>& y, int64_t T, int64_t V, const LossWeights& w) {
  double total = 0;
  for (int64_t t = 0; t < T; ++t) {
    const double* zr = z.data() + t * V;
    if (w.ce > 0) total += w.ce * (log_sum_exp_ref(zr, V, 1.0) - zr[y[static_cast<size_t>(t)]]);
    if (w.kd > 0) {
      const double* ztr = zt.data() + t * V;
      const double tau = w.temperature;
      const double lt = log_sum_exp_ref(ztr, V, 1 / tau), ls = log_sum_exp_ref(zr, V, 1 / tau);
      double kl = 0;
      for (int64_t i = 0; i < V; ++i) {
        const double lp = ztr[i] / tau - lt, lq = zr[i] / tau - ls;
        kl += std::exp(lp) * (lp - lq);
      }
      total += w.kd * tau * tau * kl;
    }
  }
  return total;
}

}  // namespace flashnas::test
