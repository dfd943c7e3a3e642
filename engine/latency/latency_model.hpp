// LatencyModel: the fitted predictor of one device kind (stage 1 of the search).
// Two Gaussian processes from engine/search/gp (written once, shared with the
// search surrogate), one for the time to first token and one for decode ms per
// token, each on log latency over the latency features (features.hpp), with a
// linear mean on that target's analytic cost terms. Predictions carry a mean and
// a variance. JSON holds the feature spec, both GPs and free-form metadata
// (environment, workload, accuracy report) and round-trips to identical
// predictions. Not the measurements (measure_latency.hpp) nor the study driver.
//
// Legend: N points, M query points, D features.
#pragma once

#include <Eigen/Core>
#include <nlohmann/json.hpp>

#include <cstdint>

#include "engine/model/arch_config.hpp"
#include "engine/search/gp/gaussian_process.hpp"

namespace flashnas::latency {

struct LatencyModelOptions {
  // Kernel, bounds, priors and fitting budget of both GPs. The mean kind and its
  // columns are set per target (linear on prefill_mean_columns /
  // decode_mean_columns); whatever is set here for them is overridden.
  search::GpOptions gp;
};

// Predictions at M points. Latencies are exp of the posterior mean of log
// latency (the median of the log-normal prediction); the *_log_sd fields are the
// posterior standard deviation of log latency, i.e. roughly the relative
// uncertainty (0.05 = about 5%).
struct LatencyPredictions {
  Eigen::VectorXd ttft_ms;              // (M)
  Eigen::VectorXd ttft_log_sd;          // (M)
  Eigen::VectorXd decode_ms_per_token;  // (M)
  Eigen::VectorXd decode_log_sd;        // (M)
};

struct LatencyPrediction {
  double ttft_ms = 0, ttft_log_sd = 0;
  double decode_ms_per_token = 0, decode_log_sd = 0;
};

class LatencyModel {
 public:
  // features (N, D = kLatencyFeatureCount) from latency_features(); ttft_ms and
  // decode_ms (N) measured medians, positive. Throws InvalidInput on bad shapes
  // or non-positive latencies, search::GpNumericalError if the GP cannot factorise.
  static LatencyModel fit(const Eigen::MatrixXd& features, const Eigen::VectorXd& ttft_ms,
                          const Eigen::VectorXd& decode_ms, const LatencyModelOptions& options = {});

  LatencyPredictions predict(const Eigen::MatrixXd& features) const;  // (M, D)
  LatencyPrediction predict(const ArchConfig& config, int64_t prompt_len) const;

  int64_t n_points() const { return prefill_.n_points(); }
  const search::GaussianProcess& prefill_gp() const { return prefill_; }
  const search::GaussianProcess& decode_gp() const { return decode_; }

  // Free-form description kept with the model: environment, workload, study
  // settings, accuracy report. Not used for prediction.
  nlohmann::json metadata = nlohmann::json::object();

  // {"format": "flashnas.latency_model.v1", "features": spec, "prefill": gp,
  //  "decode": gp, "metadata": {...}}
  nlohmann::json to_json() const;
  // Refuses other formats and feature specs this build does not compute
  // (InvalidInput naming the field); refactorises without refitting.
  static LatencyModel from_json(const nlohmann::json& j);

 private:
  LatencyModel(search::GaussianProcess prefill, search::GaussianProcess decode)
      : prefill_(std::move(prefill)), decode_(std::move(decode)) {}

  search::GaussianProcess prefill_;  // log ttft_ms
  search::GaussianProcess decode_;   // log decode ms per token
};

}  // namespace flashnas::latency
