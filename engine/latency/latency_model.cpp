// Fitting, prediction and JSON of the latency model.
#include "engine/latency/latency_model.hpp"

#include <cmath>
#include <future>

#include "engine/latency/features.hpp"
#include "engine/util/error.hpp"

namespace flashnas::latency {

namespace {

constexpr const char* kFormat = "flashnas.latency_model.v1";
constexpr const char* kTransferFormat = "flashnas.latency_model.v2";  // v1 + "transfer"

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

void check_fit_shapes(const Eigen::MatrixXd& features, const Eigen::VectorXd& ttft_ms,
                      const Eigen::VectorXd& decode_ms) {
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
}

// The features with one more column: the source's log prediction of a target.
Eigen::MatrixXd with_source_column(const Eigen::MatrixXd& features, const Eigen::VectorXd& source_log) {
  Eigen::MatrixXd x(features.rows(), features.cols() + 1);
  x << features, source_log;
  return x;
}

}  // namespace

std::string_view transfer_method_name(TransferMethod method) {
  switch (method) {
    case TransferMethod::log_ratio: return "log_ratio";
    case TransferMethod::source_mean: return "source_mean";
    case TransferMethod::source_and_cost_mean: return "source_and_cost_mean";
  }
  return "?";
}

TransferMethod parse_transfer_method(std::string_view text, const std::string& field) {
  for (TransferMethod m :
       {TransferMethod::log_ratio, TransferMethod::source_mean, TransferMethod::source_and_cost_mean}) {
    if (text == transfer_method_name(m)) return m;
  }
  throw InvalidInput(
      fmt::format("{} must be log_ratio, source_mean or source_and_cost_mean, got '{}'", field, text), field);
}

LatencyModel LatencyModel::fit(const Eigen::MatrixXd& features, const Eigen::VectorXd& ttft_ms,
                               const Eigen::VectorXd& decode_ms, const LatencyModelOptions& options) {
  if (options.transfer_source) {
    return fit_transferred(options.transfer_source, features, ttft_ms, decode_ms, options.transfer_method,
                           options.gp);
  }
  check_fit_shapes(features, ttft_ms, decode_ms);
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

LatencyModel LatencyModel::fit_transferred(std::shared_ptr<const LatencyModel> source,
                                           const Eigen::MatrixXd& features, const Eigen::VectorXd& ttft_ms,
                                           const Eigen::VectorXd& decode_ms, TransferMethod method,
                                           const search::GpOptions& gp) {
  if (!source) throw InvalidInput("a transferred model needs a source model", "source");
  check_fit_shapes(features, ttft_ms, decode_ms);
  if (features.rows() < 2) {
    throw InvalidInput(fmt::format("a transferred model needs at least 2 points, got {}", features.rows()),
                       "features");
  }
  const Eigen::VectorXd log_ttft = log_latency(ttft_ms, "ttft_ms");
  const Eigen::VectorXd log_decode = log_latency(decode_ms, "decode_ms");
  const GpInputs in = LatencyModel(search::GaussianProcess(), search::GaussianProcess(), source, method)
                          .gp_inputs(features);
  // The source column is the last input; log_ratio models what the source
  // misses (its offset is the constant mean), source_mean regresses on it.
  const int64_t source_column = kLatencyFeatureCount;
  auto fit_one = [&](int k, const Eigen::VectorXd& log_ms) {
    search::GpOptions o = gp;
    if (method == TransferMethod::log_ratio) {
      o.mean = search::GpMeanKind::constant;
      o.linear_mean_columns.clear();
      search::GaussianProcess g(o);
      g.fit(in.x[k], log_ms - in.offset[k]);
      return g;
    }
    if (method == TransferMethod::source_mean) return fit_target(in.x[k], log_ms, o, {source_column});
    std::vector<int64_t> columns = k == 0 ? prefill_mean_columns() : decode_mean_columns();
    columns.push_back(source_column);
    return fit_target(in.x[k], log_ms, o, std::move(columns));
  };
  std::future<search::GaussianProcess> decode = std::async(std::launch::async, [&] { return fit_one(1, log_decode); });
  search::GaussianProcess prefill = fit_one(0, log_ttft);
  return LatencyModel(std::move(prefill), decode.get(), std::move(source), method);
}

LatencyModel::GpInputs LatencyModel::gp_inputs(const Eigen::MatrixXd& features) const {
  if (features.cols() != kLatencyFeatureCount) {
    throw InvalidInput(fmt::format("features must have {} columns, got {}", kLatencyFeatureCount,
                                   features.cols()),
                       "features");
  }
  GpInputs out;
  if (!source_) {
    for (int k = 0; k < 2; ++k) {
      out.x[k] = features;
      out.offset[k] = Eigen::VectorXd::Zero(features.rows());
    }
    return out;
  }
  const LatencyPredictions s = source_->predict(features);
  const Eigen::VectorXd source_log[2] = {s.ttft_ms.array().log(), s.decode_ms_per_token.array().log()};
  for (int k = 0; k < 2; ++k) {
    out.x[k] = with_source_column(features, source_log[k]);
    out.offset[k] = method_ == TransferMethod::log_ratio ? source_log[k]
                                                         : Eigen::VectorXd::Zero(features.rows());
  }
  return out;
}

Eigen::MatrixXd LatencyModel::training_features() const {
  return prefill_.inputs().leftCols(kLatencyFeatureCount);
}

Eigen::VectorXd LatencyModel::training_ttft_ms() const {
  return (prefill_.outputs() + gp_inputs(training_features()).offset[0]).array().exp();
}

Eigen::VectorXd LatencyModel::training_decode_ms() const {
  return (decode_.outputs() + gp_inputs(training_features()).offset[1]).array().exp();
}

LatencyPredictions LatencyModel::predict(const Eigen::MatrixXd& features) const {
  const GpInputs in = gp_inputs(features);  // checks the width
  // Independent GPs: the decode prediction runs on a second thread when the
  // batch is large enough to pay for it.
  constexpr Eigen::Index kParallelRows = 256;
  std::future<search::GpPrediction> decode;
  if (features.rows() >= kParallelRows) {
    decode = std::async(std::launch::async, [&] { return decode_.predict(in.x[1]); });
  }
  const search::GpPrediction p = prefill_.predict(in.x[0]);
  const search::GpPrediction d = decode.valid() ? decode.get() : decode_.predict(in.x[1]);
  // The log sd is the GP's: a transferred model's uncertainty is what its own
  // few points leave open (the source's error at x is part of what it learns).
  LatencyPredictions out;
  out.ttft_ms = (p.mean + in.offset[0]).array().exp();
  out.ttft_log_sd = p.variance.array().max(0.0).sqrt();
  out.decode_ms_per_token = (d.mean + in.offset[1]).array().exp();
  out.decode_log_sd = d.variance.array().max(0.0).sqrt();
  return out;
}

LatencyPrediction LatencyModel::predict(const ArchConfig& config, int64_t prompt_len) const {
  const Eigen::MatrixXd x = latency_features(config, prompt_len).transpose();
  const LatencyPredictions p = predict(x);
  return {p.ttft_ms(0), p.ttft_log_sd(0), p.decode_ms_per_token(0), p.decode_log_sd(0)};
}

nlohmann::json LatencyModel::to_json() const {
  nlohmann::json j = {{"format", source_ ? kTransferFormat : kFormat},
                      {"features", latency_features_spec_to_json()},
                      {"prefill", prefill_.to_json()},
                      {"decode", decode_.to_json()},
                      {"metadata", metadata}};
  if (source_) {
    j["transfer"] = {{"method", std::string(transfer_method_name(method_))}, {"source", source_->to_json()}};
  }
  return j;
}

LatencyModel LatencyModel::from_json(const nlohmann::json& j) {
  if (!j.is_object() || !j.contains("format") || (j.at("format") != kFormat && j.at("format") != kTransferFormat)) {
    throw InvalidInput(fmt::format("not a {} or {} object", kFormat, kTransferFormat), "format");
  }
  const bool transferred = j.at("format") == kTransferFormat;
  for (const char* field : {"features", "prefill", "decode"}) {
    if (!j.contains(field)) throw InvalidInput(fmt::format("{} is required", field), field);
  }
  if (transferred != j.contains("transfer")) {
    throw InvalidInput(fmt::format("transfer is {} in a {} model", transferred ? "required" : "not allowed",
                                   j.at("format").get<std::string>()),
                       "transfer");
  }
  check_latency_features_spec(j.at("features"));
  std::shared_ptr<const LatencyModel> source;
  TransferMethod method = TransferMethod::log_ratio;
  if (transferred) {
    const nlohmann::json& t = j.at("transfer");
    if (!t.is_object() || !t.contains("method") || !t.at("method").is_string()) {
      throw InvalidInput("transfer.method must be a string", "transfer.method");
    }
    method = parse_transfer_method(t.at("method").get<std::string>(), "transfer.method");
    if (!t.contains("source")) throw InvalidInput("transfer.source is required", "transfer.source");
    try {
      source = std::make_shared<const LatencyModel>(from_json(t.at("source")));
    } catch (const InvalidInput& e) {
      throw InvalidInput(fmt::format("transfer.source: {}", e.what()), fmt::format("transfer.source.{}", e.field()));
    }
  }
  const int64_t n_features = kLatencyFeatureCount + (transferred ? 1 : 0);
  auto load = [&](const char* field) {
    try {
      search::GaussianProcess gp = search::GaussianProcess::from_json(j.at(field));
      if (gp.n_features() != n_features) {
        throw InvalidInput(fmt::format("has {} features, expected {}", gp.n_features(), n_features));
      }
      return gp;
    } catch (const InvalidInput& e) {
      throw InvalidInput(fmt::format("{}: {}", field, e.what()),
                         e.field().empty() ? field : fmt::format("{}.{}", field, e.field()));
    }
  };
  search::GaussianProcess prefill = load("prefill");  // in this order, so the first bad one is named
  search::GaussianProcess decode = load("decode");
  LatencyModel model(std::move(prefill), std::move(decode), std::move(source), method);
  if (model.prefill_.n_points() != model.decode_.n_points()) {
    throw InvalidInput("prefill and decode were fitted on different numbers of points", "decode");
  }
  if (j.contains("metadata")) model.metadata = j.at("metadata");
  return model;
}

}  // namespace flashnas::latency
