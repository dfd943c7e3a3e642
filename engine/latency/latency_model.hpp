// LatencyModel: the fitted predictor of one device kind (stage 1 of the search).
// Two Gaussian processes from engine/search/gp (written once, shared with the
// search surrogate), one for the time to first token and one for decode ms per
// token, each on log latency over the latency features (features.hpp), with a
// linear mean on that target's analytic cost terms. Predictions carry a mean and
// a variance. JSON holds the feature spec, both GPs and free-form metadata
// (environment, workload, accuracy report) and round-trips to identical
// predictions. Not the measurements (measure_latency.hpp) nor the study driver.
//
// Transfer: a model for a new device can be fitted from a few measurements and
// the fitted model of another device (the source), which it embeds. Each GP then
// also takes the source's log prediction s(x) of its target as an input, and
// either models the log ratio log y - s(x) (log_ratio) or has s(x) as its
// linear mean column (source_mean: log y ~ a + b s(x) + GP), or has s(x) as one
// more column of the from-scratch model's linear mean on the analytic cost
// terms (source_and_cost_mean). When latency on two machines differs by a
// smooth factor, a handful of points pins that factor down; when the factor
// follows the cost terms, the cost columns carry it.
// Predictions, JSON and the study treat a transferred model like any other.
//
// Legend: N points, M query points, D features.
#pragma once

#include <Eigen/Core>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "engine/model/arch_config.hpp"
#include "engine/search/gp/gaussian_process.hpp"

namespace flashnas::latency {

class LatencyModel;

// How a transferred model uses its source's log prediction s(x) of each target.
//   log_ratio:   log y = s(x) + r(x), r a GP with a constant mean (the offset)
//                over the features and s(x);
//   source_mean: log y = GP with linear mean a + b s(x) (offset and scale) over
//                the features and s(x);
//   source_and_cost_mean: log y = GP with the from-scratch model's linear mean
//                on the target's analytic cost columns plus b s(x), over the
//                features and s(x) (needs more points than the mean has
//                coefficients: 5 per target).
enum class TransferMethod : uint8_t { log_ratio, source_mean, source_and_cost_mean };
std::string_view transfer_method_name(TransferMethod method);
TransferMethod parse_transfer_method(std::string_view text, const std::string& field);

struct LatencyModelOptions {
  // Kernel, bounds, priors and fitting budget of both GPs. The mean kind and its
  // columns are set per target (linear on prefill_mean_columns /
  // decode_mean_columns, or as the transfer method says); whatever is set here
  // for them is overridden.
  search::GpOptions gp;
  // When set, fit() fits a model transferred from this fitted model of another
  // device (see fit_transferred); null: from scratch.
  std::shared_ptr<const LatencyModel> transfer_source;
  TransferMethod transfer_method = TransferMethod::source_mean;
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
  // Transferred from options.transfer_source when that is set.
  static LatencyModel fit(const Eigen::MatrixXd& features, const Eigen::VectorXd& ttft_ms,
                          const Eigen::VectorXd& decode_ms, const LatencyModelOptions& options = {});

  // The model of a new device from few measurements of it (N >= 2; 10-40 is the
  // intended range) and `source`, the fitted model of another device, which the
  // result embeds (shared, not copied). Same inputs and errors as fit().
  static LatencyModel fit_transferred(std::shared_ptr<const LatencyModel> source, const Eigen::MatrixXd& features,
                                      const Eigen::VectorXd& ttft_ms, const Eigen::VectorXd& decode_ms,
                                      TransferMethod method = TransferMethod::source_mean,
                                      const search::GpOptions& gp = {});

  LatencyPredictions predict(const Eigen::MatrixXd& features) const;  // (M, D)
  LatencyPrediction predict(const ArchConfig& config, int64_t prompt_len) const;

  int64_t n_points() const { return prefill_.n_points(); }
  const search::GaussianProcess& prefill_gp() const { return prefill_; }
  const search::GaussianProcess& decode_gp() const { return decode_; }

  // Null unless transferred; then the model of the other device and the method.
  const std::shared_ptr<const LatencyModel>& transfer_source() const { return source_; }
  TransferMethod transfer_method() const { return method_; }

  // What the GPs are queried with at latency features (M, D), for code that uses
  // the GPs' posteriors directly (the search objective, the study's batch
  // choice): log latency of target k (0 prefill, 1 decode) is offset[k] plus
  // the posterior of GP k at x[k]. Without transfer x[k] is the features and
  // the offset zero; with it x[k] has s(x) as column D, and the offset is s(x)
  // for log_ratio.
  struct GpInputs {
    Eigen::MatrixXd x[2];       // (M, D) or (M, D + 1)
    Eigen::VectorXd offset[2];  // (M)
  };
  GpInputs gp_inputs(const Eigen::MatrixXd& features) const;

  // The training data in the units of fit(): features (N, D) and measured
  // latencies (N), e.g. to refit with more points.
  Eigen::MatrixXd training_features() const;
  Eigen::VectorXd training_ttft_ms() const;
  Eigen::VectorXd training_decode_ms() const;

  // Free-form description kept with the model: environment, workload, study
  // settings, accuracy report. Not used for prediction.
  nlohmann::json metadata = nlohmann::json::object();

  // {"format": "flashnas.latency_model.v1", "features": spec, "prefill": gp,
  //  "decode": gp, "metadata": {...}}; a transferred model is format v2, the
  // same plus "transfer": {"method": "log_ratio", "source": <the source's JSON>}
  // (which builds without transfer refuse by its format).
  nlohmann::json to_json() const;
  // Refuses other formats and feature specs this build does not compute
  // (InvalidInput naming the field, "transfer.source.prefill" inside a source);
  // refactorises without refitting.
  static LatencyModel from_json(const nlohmann::json& j);

 private:
  LatencyModel(search::GaussianProcess prefill, search::GaussianProcess decode,
               std::shared_ptr<const LatencyModel> source = nullptr,
               TransferMethod method = TransferMethod::log_ratio)
      : prefill_(std::move(prefill)), decode_(std::move(decode)), source_(std::move(source)), method_(method) {}

  search::GaussianProcess prefill_;  // log ttft_ms (or its log ratio to the source)
  search::GaussianProcess decode_;   // log decode ms per token (idem)
  std::shared_ptr<const LatencyModel> source_;
  TransferMethod method_ = TransferMethod::log_ratio;
};

}  // namespace flashnas::latency
