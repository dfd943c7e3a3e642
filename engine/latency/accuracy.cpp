// Accuracy metrics of latency predictions.
#include "engine/latency/accuracy.hpp"

#include <nlohmann/json.hpp>

#include <cmath>

#include "engine/util/error.hpp"

namespace flashnas::latency {

namespace {

void check_pairs(const std::vector<double>& a, const std::vector<double>& b, size_t min_size) {
  FLASHNAS_CHECK(a.size() == b.size(), "paired lists differ in length ({} vs {})", a.size(),
                 b.size());
  FLASHNAS_CHECK(a.size() >= min_size, "need at least {} pairs, got {}", min_size, a.size());
}

int sign(double x) { return (x > 0.0) - (x < 0.0); }

}  // namespace

double r_squared(const std::vector<double>& m, const std::vector<double>& p) {
  check_pairs(m, p, 2);
  double mean = 0.0;
  for (double v : m) mean += v;
  mean /= static_cast<double>(m.size());
  double ss_res = 0.0, ss_tot = 0.0;
  for (size_t i = 0; i < m.size(); ++i) {
    ss_res += (p[i] - m[i]) * (p[i] - m[i]);
    ss_tot += (m[i] - mean) * (m[i] - mean);
  }
  if (ss_tot == 0.0) {
    FLASHNAS_CHECK(ss_res == 0.0, "R^2 is undefined for constant measurements");
    return 1.0;
  }
  return 1.0 - ss_res / ss_tot;
}

double rmse(const std::vector<double>& m, const std::vector<double>& p) {
  check_pairs(m, p, 1);
  double ss = 0.0;
  for (size_t i = 0; i < m.size(); ++i) ss += (p[i] - m[i]) * (p[i] - m[i]);
  return std::sqrt(ss / static_cast<double>(m.size()));
}

double rmspe_percent(const std::vector<double>& m, const std::vector<double>& p) {
  check_pairs(m, p, 1);
  double ss = 0.0;
  for (size_t i = 0; i < m.size(); ++i) {
    FLASHNAS_CHECK(m[i] > 0.0, "percentage error needs positive measurements, got {}", m[i]);
    const double rel = (p[i] - m[i]) / m[i];
    ss += rel * rel;
  }
  return 100.0 * std::sqrt(ss / static_cast<double>(m.size()));
}

double share_within(const std::vector<double>& m, const std::vector<double>& p, double fraction) {
  check_pairs(m, p, 1);
  int64_t hits = 0;
  for (size_t i = 0; i < m.size(); ++i) {
    if (std::abs(p[i] - m[i]) <= fraction * std::abs(m[i])) ++hits;
  }
  return static_cast<double>(hits) / static_cast<double>(m.size());
}

double kendall_tau(const std::vector<double>& a, const std::vector<double>& b) {
  check_pairs(a, b, 2);
  // tau-b = (concordant - discordant) / sqrt((n0 - ties_a) (n0 - ties_b)).
  int64_t concordant_minus_discordant = 0, untied_a = 0, untied_b = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    for (size_t j = i + 1; j < a.size(); ++j) {
      const int sa = sign(a[i] - a[j]);
      const int sb = sign(b[i] - b[j]);
      concordant_minus_discordant += sa * sb;
      untied_a += sa != 0;
      untied_b += sb != 0;
    }
  }
  if (untied_a == 0 || untied_b == 0) return 0.0;
  return static_cast<double>(concordant_minus_discordant) /
         std::sqrt(static_cast<double>(untied_a) * static_cast<double>(untied_b));
}

TargetAccuracy evaluate_target_accuracy(const std::vector<double>& measured,
                                        const std::vector<double>& predicted,
                                        const std::vector<double>& params,
                                        const std::vector<double>& flops) {
  TargetAccuracy a;
  a.n = static_cast<int64_t>(measured.size());
  a.r2 = r_squared(measured, predicted);
  a.rmse_ms = rmse(measured, predicted);
  a.rmspe_percent = rmspe_percent(measured, predicted);
  a.within_5 = share_within(measured, predicted, 0.05);
  a.within_10 = share_within(measured, predicted, 0.10);
  a.kendall_tau_model = kendall_tau(predicted, measured);
  a.kendall_tau_params = kendall_tau(params, measured);
  a.kendall_tau_flops = kendall_tau(flops, measured);
  return a;
}

nlohmann::json target_accuracy_to_json(const TargetAccuracy& a) {
  return {{"n", a.n},
          {"r2", a.r2},
          {"rmse_ms", a.rmse_ms},
          {"rmspe_percent", a.rmspe_percent},
          {"within_5", a.within_5},
          {"within_10", a.within_10},
          {"kendall_tau_model", a.kendall_tau_model},
          {"kendall_tau_params", a.kendall_tau_params},
          {"kendall_tau_flops", a.kendall_tau_flops}};
}

}  // namespace flashnas::latency
