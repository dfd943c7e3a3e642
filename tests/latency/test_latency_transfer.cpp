// Transferred latency models: on synthetic devices (B = A's latency times a
// smooth architecture-dependent factor, plus noise) a model transferred from
// A's fitted model with 20 points of B beats a from-scratch model on the same 20
// points; it round-trips through JSON, serves the search objective, and the
// study runs with a source model.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <cmath>
#include <memory>
#include <random>

#include "engine/latency/features.hpp"
#include "engine/latency/latency_model.hpp"
#include "engine/latency/latency_objective.hpp"
#include "engine/latency/model_shape.hpp"
#include "engine/latency/study.hpp"
#include "engine/model/arch_cost.hpp"
#include "engine/search/arch_space.hpp"
#include "engine/util/error.hpp"
#include "tests/latency/latency_fixtures.hpp"

using namespace flashnas;
using namespace flashnas::latency;

namespace {

constexpr int64_t kPrompt = 64;
constexpr TransferMethod kMethods[] = {TransferMethod::log_ratio, TransferMethod::source_mean,
                                       TransferMethod::source_and_cost_mean};

// Device A: compute that gets more efficient with width, per-layer overheads,
// memory-bound decode with a KV term.
double device_a_ttft(const ArchConfig& c) {
  const double efficiency = 1.0 - 0.4 * std::exp(-static_cast<double>(c.d_model) / 128.0);
  return prefill_flops(c, kPrompt) / (2e7 * efficiency) + 0.03 * static_cast<double>(c.n_layers());
}
double device_a_decode(const ArchConfig& c) {
  return weight_bytes_per_decode_token(c) / 5e6 + 0.004 * static_cast<double>(c.n_layers());
}

// Device B: A times a smooth factor (slower overall, relatively slower on
// narrow models for prefill, on deep models for decode), that no analytic term
// of the features carries alone.
double device_b_ttft(const ArchConfig& c) {
  return device_a_ttft(c) * 1.7 * (1.0 + 0.25 * std::tanh((192.0 - static_cast<double>(c.d_model)) / 64.0));
}
double device_b_decode(const ArchConfig& c) {
  return device_a_decode(c) * 0.6 * (1.0 + 0.04 * static_cast<double>(c.n_layers()));
}

struct Data {
  Eigen::MatrixXd x;
  Eigen::VectorXd ttft, decode;
};

// n random architectures measured on A or B with multiplicative noise of sd `noise`.
Data measure(bool device_b, int64_t n, uint64_t seed, double noise) {
  const search::ArchSpace space = test::small_latency_space();
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> eps(0.0, noise);
  Data d{Eigen::MatrixXd(n, kLatencyFeatureCount), Eigen::VectorXd(n), Eigen::VectorXd(n)};
  for (int64_t i = 0; i < n; ++i) {
    const ArchConfig c = shape_to_config(test::kSmallLatencyShape, space.sample_arch(rng));
    d.x.row(i) = latency_features(c, kPrompt).transpose();
    d.ttft(i) = (device_b ? device_b_ttft(c) : device_a_ttft(c)) * std::exp(eps(rng));
    d.decode(i) = (device_b ? device_b_decode(c) : device_a_decode(c)) * std::exp(eps(rng));
  }
  return d;
}

search::GpOptions quick_gp() {
  search::GpOptions o;
  o.random_starts = 1;
  o.max_iterations = 40;
  return o;
}

std::shared_ptr<const LatencyModel> source_model() {
  const Data a = measure(false, 80, 1, 0.02);
  LatencyModelOptions o;
  o.gp = quick_gp();
  return std::make_shared<const LatencyModel>(LatencyModel::fit(a.x, a.ttft, a.decode, o));
}

// Root mean squared log error of the predictions against the noise-free truth.
double rms_log_error(const Eigen::VectorXd& predicted, const Eigen::VectorXd& truth) {
  return std::sqrt((predicted.array().log() - truth.array().log()).square().mean());
}

}  // namespace

TEST(LatencyTransfer, TwentyPointsBeatFromScratchOnTwenty) {
  const auto source = source_model();
  const Data b = measure(true, 20, 2, 0.02);
  const Data test = measure(true, 60, 3, 0.0);
  LatencyModelOptions scratch_options;
  scratch_options.gp = quick_gp();
  const LatencyPredictions scratch =
      LatencyModel::fit(b.x, b.ttft, b.decode, scratch_options).predict(test.x);
  const double scratch_ttft = rms_log_error(scratch.ttft_ms, test.ttft);
  const double scratch_decode = rms_log_error(scratch.decode_ms_per_token, test.decode);
  for (TransferMethod method : kMethods) {
    SCOPED_TRACE(std::string(transfer_method_name(method)));
    const LatencyModel model = LatencyModel::fit_transferred(source, b.x, b.ttft, b.decode, method, quick_gp());
    EXPECT_EQ(model.n_points(), 20);
    EXPECT_EQ(model.transfer_source(), source);
    const LatencyPredictions p = model.predict(test.x);
    EXPECT_LT(rms_log_error(p.ttft_ms, test.ttft), scratch_ttft);
    EXPECT_LT(rms_log_error(p.decode_ms_per_token, test.decode), scratch_decode);
    // Within a few percent of the truth: the noise is 2%, the factor smooth
    // (source_and_cost_mean spends 5 of its 20 points on mean coefficients).
    EXPECT_LT(rms_log_error(p.ttft_ms, test.ttft), 0.08);
    EXPECT_LT(rms_log_error(p.decode_ms_per_token, test.decode), 0.08);
    EXPECT_TRUE((p.ttft_log_sd.array() >= 0.0).all());
  }
}

TEST(LatencyTransfer, FitWithASourceInTheOptionsIsFitTransferred) {
  const auto source = source_model();
  const Data b = measure(true, 15, 4, 0.02);
  const Data test = measure(true, 10, 5, 0.0);
  LatencyModelOptions o;
  o.gp = quick_gp();
  o.transfer_source = source;
  o.transfer_method = TransferMethod::source_mean;
  const LatencyModel via_options = LatencyModel::fit(b.x, b.ttft, b.decode, o);
  const LatencyModel direct =
      LatencyModel::fit_transferred(source, b.x, b.ttft, b.decode, TransferMethod::source_mean, quick_gp());
  EXPECT_EQ(via_options.transfer_method(), TransferMethod::source_mean);
  EXPECT_EQ(via_options.predict(test.x).ttft_ms, direct.predict(test.x).ttft_ms);
  EXPECT_EQ(via_options.predict(test.x).decode_ms_per_token, direct.predict(test.x).decode_ms_per_token);
}

TEST(LatencyTransfer, JsonRoundTripGivesIdenticalPredictions) {
  const auto source = source_model();
  const Data b = measure(true, 12, 6, 0.02);
  const Data test = measure(true, 20, 7, 0.0);
  for (TransferMethod method : kMethods) {
    LatencyModel model = LatencyModel::fit_transferred(source, b.x, b.ttft, b.decode, method, quick_gp());
    model.metadata = {{"device", "b"}};
    const nlohmann::json j = model.to_json();
    EXPECT_EQ(j.at("format"), "flashnas.latency_model.v2");
    EXPECT_EQ(j.at("transfer").at("method"), std::string(transfer_method_name(method)));
    EXPECT_EQ(j.at("transfer").at("source").at("format"), "flashnas.latency_model.v1");
    // Through text, as the service's database would carry it.
    const LatencyModel back = LatencyModel::from_json(nlohmann::json::parse(j.dump()));
    ASSERT_TRUE(back.transfer_source());
    EXPECT_EQ(back.transfer_method(), method);
    EXPECT_EQ(back.metadata, model.metadata);
    const LatencyPredictions a = model.predict(test.x), c = back.predict(test.x);
    for (Eigen::Index i = 0; i < test.x.rows(); ++i) {
      EXPECT_EQ(a.ttft_ms(i), c.ttft_ms(i));
      EXPECT_EQ(a.ttft_log_sd(i), c.ttft_log_sd(i));
      EXPECT_EQ(a.decode_ms_per_token(i), c.decode_ms_per_token(i));
      EXPECT_EQ(a.decode_log_sd(i), c.decode_log_sd(i));
    }
    // The single-config entry point goes through the same path.
    std::mt19937_64 rng(9);
    const ArchConfig cfg = shape_to_config(test::kSmallLatencyShape, test::small_latency_space().sample_arch(rng));
    EXPECT_EQ(back.predict(cfg, kPrompt).ttft_ms, model.predict(latency_features(cfg, kPrompt).transpose()).ttft_ms(0));
  }
}

TEST(LatencyTransfer, TrainingDataComesBackInFitUnits) {
  const auto source = source_model();
  const Data b = measure(true, 10, 8, 0.02);
  const LatencyModel model = LatencyModel::fit_transferred(source, b.x, b.ttft, b.decode);
  EXPECT_LT((model.training_features() - b.x).cwiseAbs().maxCoeff(), 1e-12);
  EXPECT_LT((model.training_ttft_ms().array() / b.ttft.array() - 1.0).abs().maxCoeff(), 1e-12);
  EXPECT_LT((model.training_decode_ms().array() / b.decode.array() - 1.0).abs().maxCoeff(), 1e-12);
}

TEST(LatencyTransfer, FromJsonRefusesBadTransfersNamingTheField) {
  const auto source = source_model();
  const Data b = measure(true, 10, 10, 0.02);
  const nlohmann::json good = LatencyModel::fit_transferred(source, b.x, b.ttft, b.decode).to_json();
  auto field_of = [](const nlohmann::json& j) {
    try {
      LatencyModel::from_json(j);
    } catch (const InvalidInput& e) {
      return e.field();
    }
    return std::string("(accepted)");
  };
  nlohmann::json j = good;
  j.erase("transfer");
  EXPECT_EQ(field_of(j), "transfer");
  j = good;
  j["transfer"]["method"] = "magic";
  EXPECT_EQ(field_of(j), "transfer.method");
  j = good;
  j["transfer"].erase("source");
  EXPECT_EQ(field_of(j), "transfer.source");
  j = good;
  j["transfer"]["source"]["features"]["names"][0] = "layers";
  EXPECT_EQ(field_of(j), "transfer.source.features");
  j = good;
  j["transfer"]["source"].erase("decode");
  EXPECT_EQ(field_of(j), "transfer.source.decode");
  // A plain (v1) model with a transfer, or a transferred GP in a v1 model.
  j = source->to_json();
  j["transfer"] = good.at("transfer");
  EXPECT_EQ(field_of(j), "transfer");
  j = good;
  j["format"] = "flashnas.latency_model.v1";
  j.erase("transfer");
  EXPECT_EQ(field_of(j), "prefill");
  // fit_transferred's own inputs.
  try {
    LatencyModel::fit_transferred(nullptr, b.x, b.ttft, b.decode);
    FAIL() << "expected InvalidInput";
  } catch (const InvalidInput& e) {
    EXPECT_EQ(e.field(), "source");
  }
  try {
    LatencyModel::fit_transferred(source, b.x.topRows(1), b.ttft.head(1), b.decode.head(1));
    FAIL() << "expected InvalidInput";
  } catch (const InvalidInput& e) {
    EXPECT_EQ(e.field(), "features");
  }
}

// The search objective queries the GPs directly; for a transferred model its
// posterior mean must still be the model's prediction.
TEST(LatencyTransfer, SearchObjectiveMatchesPredictions) {
  const auto source = source_model();
  const Data b = measure(true, 15, 11, 0.02);
  const Data c = measure(true, 8, 12, 0.0);
  const search::FeatureMap identity = [](const Eigen::MatrixXd& x) { return x; };
  for (TransferMethod method : kMethods) {
    const auto model = std::make_shared<const LatencyModel>(
        LatencyModel::fit_transferred(source, b.x, b.ttft, b.decode, method, quick_gp()));
    const LatencyObjectiveModel objective(model, identity, 1.0, 0.5);
    Eigen::VectorXd mean, var;
    objective.posterior(c.x, mean, var);
    const LatencyPredictions p = model->predict(c.x);
    for (Eigen::Index i = 0; i < c.x.rows(); ++i) {
      EXPECT_NEAR(mean(i), p.ttft_ms(i) + 0.5 * p.decode_ms_per_token(i), 1e-9 * mean(i));
      const double expected_var = std::pow(p.ttft_ms(i) * p.ttft_log_sd(i), 2) +
                                  std::pow(0.5 * p.decode_ms_per_token(i) * p.decode_log_sd(i), 2);
      EXPECT_NEAR(var(i), expected_var, 1e-9 * expected_var + 1e-15);
    }
    const Eigen::MatrixXd cov = objective.covariance(c.x, c.x);
    EXPECT_LT((cov.diagonal() - var).cwiseAbs().maxCoeff(), 1e-9 * var.maxCoeff() + 1e-15);
  }
}

TEST(LatencyTransfer, StudyWithASourceNeedsASmallDesign) {
  const search::ArchSpace space = test::small_latency_space();
  const LatencyMeasurer device_b = per_architecture([](const ArchConfig& c) {
    MeasuredLatency m;
    m.ttft_ms = device_b_ttft(c);
    m.decode_ms_per_token = device_b_decode(c);
    return m;
  });
  LatencyStudyOptions o;
  o.samples = 20;  // 10 Sobol + one adaptive round of 10
  o.holdout = 30;
  o.batch = 10;
  o.pool = 200;
  o.prompt_len = kPrompt;
  o.seed = 5;
  o.model.gp = quick_gp();
  const LatencyStudyResult scratch = run_latency_study(space, test::kSmallLatencyShape, o, device_b);
  EXPECT_FALSE(scratch.model.transfer_source());
  EXPECT_FALSE(scratch.model.metadata.at("study").contains("transfer"));

  o.model.transfer_source = source_model();
  const LatencyStudyResult r = run_latency_study(space, test::kSmallLatencyShape, o, device_b);
  ASSERT_TRUE(r.model.transfer_source());
  EXPECT_EQ(r.model.n_points(), 20);
  int64_t adaptive = 0;
  for (const StudyPoint& p : r.train) {
    if (p.phase != "adaptive") continue;
    ++adaptive;
    EXPECT_GT(p.selection_log_sd, 0.0);
  }
  EXPECT_EQ(adaptive, 10);
  EXPECT_EQ(r.model.metadata.at("study").at("transfer").at("method"), "source_mean");
  EXPECT_EQ(r.model.metadata.at("study").at("transfer").at("source_points"), 80);
  EXPECT_GT(r.accuracy.prefill.within_10, 0.9);
  EXPECT_GT(r.accuracy.decode.within_10, 0.9);
  EXPECT_GE(r.accuracy.prefill.rmspe_percent, 0.0);
  // Prefill carries B's factor that no analytic term has (tanh in d_model):
  // there the 20 points with a source beat 20 from scratch. B's decode factor is
  // near the analytic terms' span, so both fit it to about 1%.
  EXPECT_LT(r.accuracy.prefill.rmspe_percent, scratch.accuracy.prefill.rmspe_percent);
  EXPECT_LT(r.accuracy.decode.rmspe_percent, 2.0);
  // The stored model comes back as a transferred model.
  const LatencyModel back = LatencyModel::from_json(nlohmann::json::parse(r.model.to_json().dump()));
  EXPECT_TRUE(back.transfer_source());
}
