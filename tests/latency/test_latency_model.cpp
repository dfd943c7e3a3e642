// LatencyModel: fits a known latency law, predicts with variance, and its JSON
// round-trips to identical predictions.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <cmath>
#include <random>

#include "engine/latency/features.hpp"
#include "engine/latency/latency_model.hpp"
#include "engine/latency/latency_objective.hpp"
#include "engine/latency/model_shape.hpp"
#include "engine/model/arch_cost.hpp"
#include "engine/search/arch_space.hpp"
#include "engine/util/error.hpp"
#include "tests/latency/latency_fixtures.hpp"

using namespace flashnas;
using namespace flashnas::latency;

namespace {

constexpr int64_t kPrompt = 64;


// A machine-like law: compute at a rate that improves with width, a per-layer
// overhead, and a memory-bound decode.
double law_ttft(const ArchConfig& c) {
  const double efficiency = 1.0 - 0.3 * std::exp(-static_cast<double>(c.d_model) / 128.0);
  return prefill_flops(c, kPrompt) / (2e7 * efficiency) + 0.02 * static_cast<double>(c.n_layers());
}
double law_decode(const ArchConfig& c) {
  return weight_bytes_per_decode_token(c) / 5e6 + 0.005 * static_cast<double>(c.n_layers());
}

struct Data {
  Eigen::MatrixXd x;
  Eigen::VectorXd ttft, decode;
};

Data make_data(int64_t n, uint64_t seed) {
  const search::ArchSpace space = test::small_latency_space();
  std::mt19937_64 rng(seed);
  Data d{Eigen::MatrixXd(n, kLatencyFeatureCount), Eigen::VectorXd(n), Eigen::VectorXd(n)};
  for (int64_t i = 0; i < n; ++i) {
    const ArchConfig c = shape_to_config(test::kSmallLatencyShape, space.sample_arch(rng));
    d.x.row(i) = latency_features(c, kPrompt).transpose();
    d.ttft(i) = law_ttft(c);
    d.decode(i) = law_decode(c);
  }
  return d;
}

LatencyModelOptions quick_options() {
  LatencyModelOptions o;
  o.gp.random_starts = 1;
  o.gp.max_iterations = 40;
  return o;
}

}  // namespace

TEST(LatencyModel, LearnsASmoothLatencyLaw) {
  const Data train = make_data(60, 1);
  const Data test = make_data(40, 2);
  const LatencyModel model = LatencyModel::fit(train.x, train.ttft, train.decode, quick_options());
  EXPECT_EQ(model.n_points(), 60);
  const LatencyPredictions p = model.predict(test.x);
  ASSERT_EQ(p.ttft_ms.size(), 40);
  const Eigen::ArrayXd rel_ttft = (p.ttft_ms.array() / test.ttft.array() - 1.0).abs();
  const Eigen::ArrayXd rel_decode = (p.decode_ms_per_token.array() / test.decode.array() - 1.0).abs();
  EXPECT_LT(rel_ttft.maxCoeff(), 0.05);
  EXPECT_LT(rel_decode.maxCoeff(), 0.05);
  EXPECT_TRUE((p.ttft_log_sd.array() >= 0.0).all());
  EXPECT_TRUE((p.decode_log_sd.array() >= 0.0).all());
}

TEST(LatencyModel, JsonRoundTripGivesIdenticalPredictions) {
  const Data train = make_data(30, 3);
  const Data test = make_data(20, 4);
  LatencyModel model = LatencyModel::fit(train.x, train.ttft, train.decode, quick_options());
  model.metadata = {{"device", "test"}};
  // Through text, as a file would carry it.
  const LatencyModel back = LatencyModel::from_json(nlohmann::json::parse(model.to_json().dump()));
  const LatencyPredictions a = model.predict(test.x);
  const LatencyPredictions b = back.predict(test.x);
  for (Eigen::Index i = 0; i < test.x.rows(); ++i) {
    EXPECT_EQ(a.ttft_ms(i), b.ttft_ms(i));
    EXPECT_EQ(a.ttft_log_sd(i), b.ttft_log_sd(i));
    EXPECT_EQ(a.decode_ms_per_token(i), b.decode_ms_per_token(i));
    EXPECT_EQ(a.decode_log_sd(i), b.decode_log_sd(i));
  }
  EXPECT_EQ(back.metadata, model.metadata);
}

TEST(LatencyModel, SinglePredictionMatchesBatch) {
  const Data train = make_data(30, 5);
  const LatencyModel model = LatencyModel::fit(train.x, train.ttft, train.decode, quick_options());
  std::mt19937_64 rng(9);
  const ArchConfig c = shape_to_config(test::kSmallLatencyShape, test::small_latency_space().sample_arch(rng));
  const LatencyPrediction one = model.predict(c, kPrompt);
  const LatencyPredictions batch = model.predict(latency_features(c, kPrompt).transpose());
  EXPECT_EQ(one.ttft_ms, batch.ttft_ms(0));
  EXPECT_EQ(one.decode_ms_per_token, batch.decode_ms_per_token(0));
  EXPECT_EQ(one.decode_log_sd, batch.decode_log_sd(0));
}

TEST(LatencyModel, RefusesBadInputsNamingTheField) {
  const Data d = make_data(10, 6);
  Eigen::VectorXd bad = d.ttft;
  bad(3) = 0.0;
  try {
    LatencyModel::fit(d.x, bad, d.decode, quick_options());
    FAIL() << "expected InvalidInput";
  } catch (const InvalidInput& e) {
    EXPECT_EQ(e.field(), "ttft_ms");
  }
  try {
    LatencyModel::fit(d.x.leftCols(3), d.ttft, d.decode, quick_options());
    FAIL() << "expected InvalidInput";
  } catch (const InvalidInput& e) {
    EXPECT_EQ(e.field(), "features");
  }
  const LatencyModel model = LatencyModel::fit(d.x, d.ttft, d.decode, quick_options());
  nlohmann::json j = model.to_json();
  j["features"]["names"][0] = "layers";
  try {
    LatencyModel::from_json(j);
    FAIL() << "expected InvalidInput";
  } catch (const InvalidInput& e) {
    EXPECT_EQ(e.field(), "features");
  }
  j = model.to_json();
  j["format"] = "something.else";
  EXPECT_THROW(LatencyModel::from_json(j), InvalidInput);
  j = model.to_json();
  j.erase("decode");
  try {
    LatencyModel::from_json(j);
    FAIL() << "expected InvalidInput";
  } catch (const InvalidInput& e) {
    EXPECT_EQ(e.field(), "decode");
  }
}

// The linearised objective keeps the factors of its last posterior() and
// covariance() point sets; answers must not depend on what it has seen before.
TEST(LatencyObjectiveModel, CachedFactorsGiveFreshAnswers) {
  const Data d = make_data(40, 11);
  const auto model = std::make_shared<const LatencyModel>(LatencyModel::fit(d.x, d.ttft, d.decode, quick_options()));
  // Encoded points are the features themselves here.
  const search::FeatureMap identity = [](const Eigen::MatrixXd& x) { return x; };
  const Data b = make_data(6, 12), c = make_data(9, 13), o = make_data(5, 14);
  const LatencyObjectiveModel fresh_a(model, identity, 1.0, 0.5), cached(model, identity, 1.0, 0.5);
  Eigen::VectorXd mean, var, mean_expected, var_expected;
  for (int round = 0; round < 2; ++round) {
    cached.posterior(c.x, mean, var);
    const LatencyObjectiveModel fresh(model, identity, 1.0, 0.5);
    fresh.posterior(c.x, mean_expected, var_expected);
    EXPECT_LT((mean - mean_expected).cwiseAbs().maxCoeff(), 1e-12);
    EXPECT_LT((var - var_expected).cwiseAbs().maxCoeff(), 1e-12);
    const Eigen::MatrixXd expected = LatencyObjectiveModel(model, identity, 1.0, 0.5).covariance(b.x, c.x);
    EXPECT_LT((cached.covariance(b.x, c.x) - expected).cwiseAbs().maxCoeff(), 1e-12);
    cached.posterior(o.x, mean, var);  // replaces the candidates' factors
    EXPECT_LT((cached.covariance(b.x, c.x) - expected).cwiseAbs().maxCoeff(), 1e-12);
  }
  // The variance is the delta method's: sum_k w_k^2 exp(2 m_k) var_k.
  const LatencyPredictions p = model->predict(c.x);
  fresh_a.posterior(c.x, mean, var);
  for (Eigen::Index i = 0; i < c.x.rows(); ++i) {
    EXPECT_NEAR(mean(i), p.ttft_ms(i) + 0.5 * p.decode_ms_per_token(i), 1e-9 * mean(i));
  }
}
