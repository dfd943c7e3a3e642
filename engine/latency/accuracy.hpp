// Accuracy of latency predictions against measurements: R^2, RMSE, RMSPE, the
// share within x%, and Kendall's rank correlation (for the model and for the
// parameter-count and FLOPs proxies it is compared with). Free functions on
// plain vectors; not the model (latency_model.hpp).
#pragma once

#include <nlohmann/json_fwd.hpp>

#include <cstdint>
#include <vector>

namespace flashnas::latency {

// 1 - SS_res / SS_tot of `predicted` against `measured` (same length >= 2).
// For constant `measured` (SS_tot = 0) R^2 is 1 for a perfect prediction and
// undefined otherwise: then it throws rather than return -inf.
double r_squared(const std::vector<double>& measured, const std::vector<double>& predicted);

// sqrt(mean((p - m)^2)), in the unit of the inputs.
double rmse(const std::vector<double>& measured, const std::vector<double>& predicted);

// sqrt(mean(((p - m) / m)^2)) * 100: root mean squared percentage error. m > 0.
double rmspe_percent(const std::vector<double>& measured, const std::vector<double>& predicted);

// Share (0..1) of predictions with |p - m| <= fraction * m.
double share_within(const std::vector<double>& measured, const std::vector<double>& predicted,
                    double fraction);

// Kendall's tau-b between two paired lists (ties in either list are handled by
// the tau-b denominator); O(n^2), meant for held-out sets of tens to hundreds.
// Returns 0 when either list is constant.
double kendall_tau(const std::vector<double>& a, const std::vector<double>& b);

// Everything the accuracy report holds for one target (prefill or decode).
struct TargetAccuracy {
  int64_t n = 0;
  double r2 = 0.0;
  double rmse_ms = 0.0;
  double rmspe_percent = 0.0;
  double within_5 = 0.0;    // share within 5%
  double within_10 = 0.0;   // share within 10%
  double kendall_tau_model = 0.0;   // predicted vs measured
  double kendall_tau_params = 0.0;  // parameter count vs measured
  double kendall_tau_flops = 0.0;   // analytic FLOPs of the target vs measured
};

// measured, predicted in ms; params and flops are the proxies of the same architectures.
TargetAccuracy evaluate_target_accuracy(const std::vector<double>& measured,
                                        const std::vector<double>& predicted,
                                        const std::vector<double>& params,
                                        const std::vector<double>& flops);

nlohmann::json target_accuracy_to_json(const TargetAccuracy& a);

}  // namespace flashnas::latency
