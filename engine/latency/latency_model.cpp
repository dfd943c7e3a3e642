// Fitting, prediction and JSON of the latency model.
#include "engine/latency/latency_model.hpp"

#include <cmath>
#include <future>

#include "engine/latency/features.hpp"
#include "engine/util/error.hpp"

namespace flashnas::latency {

namespace {

constexpr const char* kFormat = "flashnas.latency_model.v1";

Eigen::VectorXd log_latency(const Eigen::VectorXd& ms, const char* field) {
  for (Eigen::Index i = 0; i < ms.size(); ++i) {
    if (!(ms(i) > 0.0) || !std::isfinite(ms(i))) {
      throw InvalidInput(fmt::format("{}[{}] must be a positive latency, got {}", field, i, ms(i)),
                         field);
    }
  }
  return ms.array().log();
}

search::GaussianProcess fit_target(const Eigen::MatrixXd& x, const Eigen::VectorXd& log_ms,
                                   search::GpOptions options, std::vector<int64_t> mean_columns) {
  options.mean = search::GpMeanKind::linear;
  options.linear_mean_columns = std::move(mean_columns);
  search::GaussianProcess gp(options);
  gp.fit(x, log_ms);
  return gp;
}

}  // namespace

LatencyModel LatencyModel::fit(const Eigen::MatrixXd& features, const Eigen::VectorXd& ttft_ms,
                               const Eigen::VectorXd& decode_ms, const LatencyModelOptions& options) {
  if (features.cols() != kLatencyFeatureCount) {
    throw InvalidInput(fmt::format("features must have {} columns, got {}", kLatencyFeatureCount,
                                   features.cols()),
                       "features");
  }
  if (features.rows() != ttft_ms.size() || features.rows() != decode_ms.size()) {
    throw InvalidInput(fmt::format("{} feature rows but {} prefill and {} decode latencies",
                                   features.rows(), ttft_ms.size(), decode_ms.size()),
                       "latencies");
  }
  // Seeded options: the same data always gives the same model. The two GPs
  // are independent, so the decode one is fitted on a second thread.
  const Eigen::VectorXd log_ttft = log_latency(ttft_ms, "ttft_ms");
  const Eigen::VectorXd log_decode = log_latency(decode_ms, "decode_ms");
  std::future<search::GaussianProcess> decode = std::async(std::launch::async, [&] {
    return fit_target(features, log_decode, options.gp, decode_mean_columns());
  });
  search::GaussianProcess prefill =
      fit_target(features, log_ttft, options.gp, prefill_mean_columns());
  return LatencyModel(std::move(prefill), decode.get());
}

LatencyPredictions LatencyModel::predict(const Eigen::MatrixXd& features) const {
  if (features.cols() != kLatencyFeatureCount) {
    throw InvalidInput(fmt::format("features must have {} columns, got {}", kLatencyFeatureCount,
                                   features.cols()),
                       "features");
  }
  // Independent GPs: the decode prediction runs on a second thread when the
  // batch is large enough to pay for it.
  constexpr Eigen::Index kParallelRows = 256;
  std::future<search::GpPrediction> decode;
  if (features.rows() >= kParallelRows) {
    decode = std::async(std::launch::async, [&] { return decode_.predict(features); });
  }
  const search::GpPrediction p = prefill_.predict(features);
  const search::GpPrediction d = decode.valid() ? decode.get() : decode_.predict(features);
  LatencyPredictions out;
  out.ttft_ms = p.mean.array().exp();
  out.ttft_log_sd = p.variance.array().max(0.0).sqrt();
  out.decode_ms_per_token = d.mean.array().exp();
  out.decode_log_sd = d.variance.array().max(0.0).sqrt();
  return out;
}

LatencyPrediction LatencyModel::predict(const ArchConfig& config, int64_t prompt_len) const {
  const Eigen::MatrixXd x = latency_features(config, prompt_len).transpose();
  const LatencyPredictions p = predict(x);
  return {p.ttft_ms(0), p.ttft_log_sd(0), p.decode_ms_per_token(0), p.decode_log_sd(0)};
}

nlohmann::json LatencyModel::to_json() const {
  return {{"format", kFormat},
          {"features", latency_features_spec_to_json()},
          {"prefill", prefill_.to_json()},
          {"decode", decode_.to_json()},
          {"metadata", metadata}};
}

LatencyModel LatencyModel::from_json(const nlohmann::json& j) {
  if (!j.is_object() || !j.contains("format") || j.at("format") != kFormat) {
    throw InvalidInput(fmt::format("not a {} object", kFormat), "format");
  }
  for (const char* field : {"features", "prefill", "decode"}) {
    if (!j.contains(field)) throw InvalidInput(fmt::format("{} is required", field), field);
  }
  check_latency_features_spec(j.at("features"));
  auto load = [&](const char* field) {
    try {
      search::GaussianProcess gp = search::GaussianProcess::from_json(j.at(field));
      if (gp.n_features() != kLatencyFeatureCount) {
        throw InvalidInput(fmt::format("has {} features, expected {}", gp.n_features(),
                                       kLatencyFeatureCount));
      }
      return gp;
    } catch (const InvalidInput& e) {
      throw InvalidInput(fmt::format("{}: {}", field, e.what()),
                         e.field().empty() ? field : fmt::format("{}.{}", field, e.field()));
    }
  };
  LatencyModel model(load("prefill"), load("decode"));
  if (model.prefill_.n_points() != model.decode_.n_points()) {
    throw InvalidInput("prefill and decode were fitted on different numbers of points", "decode");
  }
  if (j.contains("metadata")) model.metadata = j.at("metadata");
  return model;
}

}  // namespace flashnas::latency
