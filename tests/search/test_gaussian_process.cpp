// Tests of the Gaussian process: closed forms, interpolation, gradients by finite
// differences, incremental updates, jitter retries and JSON round trips.
#include <Eigen/Eigenvalues>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <random>

#include "engine/search/gp/gaussian_process.hpp"
#include "engine/search/gp/gp_likelihood.hpp"
#include "engine/search/objective_model.hpp"
#include "engine/util/json_reader.hpp"
#include "tests/support/field_errors.hpp"

namespace flashnas::search {
namespace {

Eigen::MatrixXd random_inputs(int n, int d, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  Eigen::MatrixXd x(n, d);
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < d; ++j) x(i, j) = u(rng);
  return x;
}

double smooth_function(const Eigen::RowVectorXd& x) {
  double s = 0.0;
  for (Eigen::Index j = 0; j < x.size(); ++j) s += std::sin(3.0 * x(j) + 0.5 * static_cast<double>(j));
  return s + 0.5 * x(0) * x(0);
}

Eigen::VectorXd evaluate(const Eigen::MatrixXd& x) {
  Eigen::VectorXd y(x.rows());
  for (Eigen::Index i = 0; i < x.rows(); ++i) y(i) = smooth_function(x.row(i));
  return y;
}

// Matern-5/2 written out independently of the library.
double matern(double a, double b, double l, double s2) {
  const double r = std::abs(a - b) / l;
  return s2 * (1.0 + std::sqrt(5.0) * r + 5.0 * r * r / 3.0) * std::exp(-std::sqrt(5.0) * r);
}

TEST(GaussianProcess, OneDimensionalClosedForm) {
  GpOptions o;
  o.mean = GpMeanKind::zero;
  o.standardize_outputs = false;
  o.lower_bounds = {0.0};
  o.upper_bounds = {1.0};
  GaussianProcess gp(o);
  Eigen::MatrixXd x(2, 1);
  x << 0.2, 0.7;
  Eigen::VectorXd y(2);
  y << 1.5, -0.4;
  GpHyperparameters h;
  h.lengthscales = Eigen::VectorXd::Constant(1, 0.4);
  h.signal_variance = 1.3;
  h.noise_variance = 0.05;
  gp.condition(x, y, h);

  // Hand computation: K = [[a, b], [b, a]], a = s2 + noise; K^-1 = [[a, -b], [-b, a]] / (a^2 - b^2).
  const double a = 1.3 + 0.05, b = matern(0.2, 0.7, 0.4, 1.3), det = a * a - b * b;
  const double xs = 0.55;
  const double k1 = matern(xs, 0.2, 0.4, 1.3), k2 = matern(xs, 0.7, 0.4, 1.3);
  const double w1 = (a * k1 - b * k2) / det, w2 = (-b * k1 + a * k2) / det;  // K^-1 k*
  const double mean = w1 * y(0) + w2 * y(1);
  const double var = 1.3 - (k1 * w1 + k2 * w2);
  const GpPrediction p = gp.predict(Eigen::MatrixXd::Constant(1, 1, xs));
  EXPECT_NEAR(p.mean(0), mean, 1e-12);
  EXPECT_NEAR(p.variance(0), var, 1e-12);
  const GpPrediction pn = gp.predict(Eigen::MatrixXd::Constant(1, 1, xs), true);
  EXPECT_NEAR(pn.variance(0), var + 0.05, 1e-12);
}

TEST(GaussianProcess, NoiseFreeFitInterpolates) {
  GpOptions o;
  o.noise_variance_floor = o.noise_variance_max = 1e-8;  // fixed, essentially noise-free
  GaussianProcess gp(o);
  const Eigen::MatrixXd x = random_inputs(30, 2, 1);
  const Eigen::VectorXd y = evaluate(x);
  gp.fit(x, y);
  const GpPrediction p = gp.predict(x);
  const double range = y.maxCoeff() - y.minCoeff();
  EXPECT_LT((p.mean - y).cwiseAbs().maxCoeff(), 1e-3 * range);
  // And it generalises on this smooth function.
  const Eigen::MatrixXd xt = random_inputs(50, 2, 2);
  const GpPrediction pt = gp.predict(xt);
  EXPECT_LT((pt.mean - evaluate(xt)).cwiseAbs().maxCoeff(), 0.1 * range);
}

TEST(GaussianProcess, VarianceShrinksAtObservedPoints) {
  GpOptions o;
  GaussianProcess gp(o);
  const Eigen::MatrixXd x = random_inputs(25, 2, 3) * 0.5;  // all in [0, 0.5)^2
  Eigen::VectorXd y = evaluate(x);
  std::mt19937_64 rng(9);
  std::normal_distribution<double> noise(0.0, 0.05);
  for (Eigen::Index i = 0; i < y.size(); ++i) y(i) += noise(rng);
  o.lower_bounds = {0.0, 0.0};
  o.upper_bounds = {1.0, 1.0};
  gp = GaussianProcess(o);
  gp.fit(x, y);
  const GpPrediction at = gp.predict(x);
  const GpPrediction far = gp.predict(Eigen::MatrixXd::Constant(1, 2, 0.98));
  EXPECT_LT(at.variance.maxCoeff(), 2.0 * gp.noise_variance() + 1e-9);
  EXPECT_GT(far.variance(0), 10.0 * at.variance.maxCoeff());
}

// Central finite differences of the log marginal likelihood for every hyperparameter.
void check_gradient(GpMeanKind mean, std::vector<int64_t> columns, uint64_t seed) {
  GpOptions o;
  o.mean = mean;
  o.linear_mean_columns = std::move(columns);
  const Eigen::MatrixXd x = random_inputs(20, 3, seed);
  Eigen::VectorXd y = evaluate(x);
  y.array() += 0.3 * x.col(1).array();
  const Eigen::MatrixXd h = gp_mean_basis(x, o.mean, o.linear_mean_columns);
  GpHyperparameters hyper;
  hyper.lengthscales = Eigen::Vector3d(0.3, 0.8, 1.7);
  hyper.signal_variance = 0.7;
  hyper.noise_variance = 0.02;
  Eigen::VectorXd grad, prior_grad;
  gp_log_marginal_likelihood(x, y, h, hyper, o, &grad);
  gp_log_prior(hyper, o, &prior_grad);
  const Eigen::VectorXd theta = pack_log_hyperparameters(hyper);
  ASSERT_EQ(grad.size(), theta.size());
  const double eps = 1e-5;
  for (Eigen::Index j = 0; j < theta.size(); ++j) {
    Eigen::VectorXd tp = theta, tm = theta;
    tp(j) += eps;
    tm(j) -= eps;
    const auto hp = unpack_log_hyperparameters(tp), hm = unpack_log_hyperparameters(tm);
    const double fd = (gp_log_marginal_likelihood(x, y, h, hp, o, nullptr) -
                       gp_log_marginal_likelihood(x, y, h, hm, o, nullptr)) / (2 * eps);
    EXPECT_NEAR(grad(j), fd, 1e-5 * std::max(1.0, std::abs(fd))) << "hyperparameter " << j;
    const double fdp = (gp_log_prior(hp, o, nullptr) - gp_log_prior(hm, o, nullptr)) / (2 * eps);
    EXPECT_NEAR(prior_grad(j), fdp, 1e-6 * std::max(1.0, std::abs(fdp))) << "prior " << j;
  }
}

TEST(GpLikelihood, GradientMatchesFiniteDifferencesZeroMean) { check_gradient(GpMeanKind::zero, {}, 4); }
TEST(GpLikelihood, GradientMatchesFiniteDifferencesConstantMean) { check_gradient(GpMeanKind::constant, {}, 5); }
TEST(GpLikelihood, GradientMatchesFiniteDifferencesLinearMean) {
  check_gradient(GpMeanKind::linear, {0, 2}, 6);
}

TEST(GpLikelihood, JitterRetryThenTypedError) {
  Eigen::MatrixXd singular(3, 3);
  singular << 1, 1, 0, 1, 1, 0, 0, 0, 1;  // rank 2
  double jitter = -1.0;
  const Eigen::MatrixXd l = cholesky_with_jitter(singular, 1e-10, 8, &jitter);
  EXPECT_GT(jitter, 0.0);
  Eigen::MatrixXd expect = singular;
  expect.diagonal().array() += jitter;
  EXPECT_LT((l * l.transpose() - expect).cwiseAbs().maxCoeff(), 1e-12);
  Eigen::MatrixXd indefinite = -Eigen::MatrixXd::Identity(2, 2);
  EXPECT_THROW(cholesky_with_jitter(indefinite, 1e-10, 3, &jitter), GpNumericalError);
}

TEST(GaussianProcess, DuplicatedInputNeedsJitterAndStillPredicts) {
  GpOptions o;
  o.noise_variance_floor = o.noise_variance_max = 1e-20;  // far below the duplicate's rounding pivot
  o.initial_jitter = 1e-9;
  GaussianProcess gp(o);
  Eigen::MatrixXd x = random_inputs(8, 2, 7);
  x.row(5) = x.row(2);
  Eigen::VectorXd y = evaluate(x);
  GpHyperparameters h;
  h.lengthscales = Eigen::Vector2d(0.5, 0.5);
  h.signal_variance = 1.0;
  h.noise_variance = 1e-20;
  gp.condition(x, y, h);
  const GpPrediction p = gp.predict(x);
  EXPECT_TRUE(p.mean.allFinite());
  EXPECT_LT((p.mean - y).cwiseAbs().maxCoeff(), 1e-3);
}

TEST(GaussianProcess, IncrementalUpdateMatchesFullConditioning) {
  GpOptions o;
  o.refit_every = 0;
  o.mean = GpMeanKind::linear;
  o.linear_mean_columns = {1};
  o.lower_bounds = {0.0, 0.0};
  o.upper_bounds = {1.0, 1.0};
  const Eigen::MatrixXd x = random_inputs(30, 2, 8);
  const Eigen::VectorXd y = evaluate(x);
  GaussianProcess inc(o);
  inc.fit(x.topRows(20), y.head(20));
  inc.add_observations(x.bottomRows(10), y.tail(10));
  ASSERT_EQ(inc.n_points(), 30);
  // Reference: the same hyperparameters and standardisation, conditioned at once.
  GpOptions ro = o;
  ro.standardize_outputs = false;
  GaussianProcess full(ro);
  const double mu = y.head(20).mean();
  const double sd = std::sqrt((y.head(20).array() - mu).square().sum() / 19.0);
  full.condition(x, (y.array() - mu) / sd, inc.hyperparameters());
  const Eigen::MatrixXd xt = random_inputs(40, 2, 9);
  const GpPrediction a = inc.predict(xt), b = full.predict(xt);
  EXPECT_LT((a.mean - (b.mean.array() * sd + mu).matrix()).cwiseAbs().maxCoeff(), 1e-9);
  EXPECT_LT((a.variance - b.variance * sd * sd).cwiseAbs().maxCoeff(), 1e-9);
}

TEST(GaussianProcess, RefitEveryKPointsChangesHyperparameters) {
  GpOptions o;
  o.refit_every = 5;
  GaussianProcess gp(o);
  const Eigen::MatrixXd x = random_inputs(25, 2, 10);
  const Eigen::VectorXd y = evaluate(x);
  gp.fit(x.topRows(6), y.head(6));
  const Eigen::VectorXd before = gp.hyperparameters().lengthscales;
  gp.add_observations(x.middleRows(6, 4), y.segment(6, 4));
  EXPECT_EQ(gp.hyperparameters().lengthscales, before);  // 4 < 5: no refit yet
  gp.add_observations(x.bottomRows(15), y.tail(15));
  EXPECT_NE(gp.hyperparameters().lengthscales, before);
}

TEST(GaussianProcess, JointCovarianceMatchesMarginals) {
  GaussianProcess gp;
  const Eigen::MatrixXd x = random_inputs(15, 3, 11);
  gp.fit(x, evaluate(x));
  const Eigen::MatrixXd xt = random_inputs(6, 3, 12);
  Eigen::VectorXd mean;
  Eigen::MatrixXd cov;
  gp.predict_joint(xt, mean, cov);
  const GpPrediction p = gp.predict(xt);
  EXPECT_LT((mean - p.mean).cwiseAbs().maxCoeff(), 1e-12);
  EXPECT_LT((cov.diagonal() - p.variance).cwiseAbs().maxCoeff(), 1e-10);
  EXPECT_LT((cov - cov.transpose()).cwiseAbs().maxCoeff(), 1e-12);
  Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> es(cov);
  EXPECT_GT(es.eigenvalues().minCoeff(), -1e-9);
}

TEST(GaussianProcess, JsonRoundTripGivesIdenticalPredictions) {
  GpOptions o;
  o.mean = GpMeanKind::linear;
  o.linear_mean_columns = {0, 2};
  o.refit_every = 0;
  GaussianProcess gp(o);
  const Eigen::MatrixXd x = random_inputs(40, 3, 13);
  gp.fit(x.topRows(35), evaluate(x.topRows(35)));
  gp.add_observations(x.bottomRows(5), evaluate(x.bottomRows(5)));
  const nlohmann::json j = nlohmann::json::parse(gp.to_json().dump());
  const GaussianProcess back = GaussianProcess::from_json(j);
  const Eigen::MatrixXd xt = random_inputs(30, 3, 14);
  const GpPrediction a = gp.predict(xt), b = back.predict(xt);
  EXPECT_LT((a.mean - b.mean).cwiseAbs().maxCoeff(), 1e-10);
  EXPECT_LT((a.variance - b.variance).cwiseAbs().maxCoeff(), 1e-10);
  EXPECT_EQ(back.to_json(), gp.to_json());
  EXPECT_THROW(GaussianProcess::from_json(nlohmann::json{{"format", "nope"}}), InvalidInput);
}

TEST(GaussianProcess, RejectsBadInput) {
  GaussianProcess gp;
  Eigen::MatrixXd x = random_inputs(5, 2, 15);
  EXPECT_THROW(gp.fit(x, Eigen::VectorXd::Zero(4)), InvalidInput);
  x(1, 1) = std::nan("");
  EXPECT_THROW(gp.fit(x, Eigen::VectorXd::Zero(5)), InvalidInput);
  EXPECT_THROW(gp.predict(x), Error);
  GpOptions o;
  o.mean = GpMeanKind::linear;
  EXPECT_THROW(GaussianProcess{o}, InvalidInput);
  EXPECT_THROW(gp_options_from_json(nlohmann::json{{"mean", "cubic"}}), InvalidInput);
}

using test::field_errors_of;

// GP options read strictly (no silent truncation of 1.5 to 1, no wrap of -1 to
// 2^64 - 1) with every bad field reported at once; validate() says the same.
TEST(GpOptions, EveryBadFieldIsReportedAtOnce) {
  const auto j = nlohmann::json::parse(R"({
    "mean": "cubic", "linear_mean_columns": [0, -1], "lower_bounds": [0, 1], "upper_bounds": [1, "2"],
    "lengthscale_min": 2, "lengthscale_max": 1, "random_starts": 1.5, "seed": -1,
    "fit_subset_size": 1, "use_priors": "yes", "max_jitter_tries": 0, "jitter": 1})");
  const std::vector<FieldError> expected = {
      {"mean", "must be zero, constant or linear, got 'cubic'"},
      {"upper_bounds[1]", "expected a number, got a string"},
      {"use_priors", "expected true or false, got a string"},
      {"random_starts", "expected an integer, got a number with a fraction"},
      {"seed", "must be between 0 and 18446744073709551615, got -1"},
      {"linear_mean_columns[1]", "must be >= 0, got -1"},
      {"lengthscale_min", "need 0 < min <= max, got [2, 1]"},
      {"fit_subset_size", "must be >= 2, got 1"},
      {"max_jitter_tries", "must be >= 1, got 0"},
      {"jitter", "unknown field (expected one of fit_subset_size, initial_jitter, lengthscale_max, lengthscale_min, "
                 "linear_mean_columns, lower_bounds, max_iterations, max_jitter_tries, mean, noise_variance_floor, "
                 "noise_variance_max, polish_iterations, random_starts, refit_every, seed, signal_variance_max, "
                 "signal_variance_min, standardize_outputs, upper_bounds, use_priors)"}};
  EXPECT_EQ(field_errors_of([&] { gp_options_from_json(j); }), expected);

  GpOptions o;
  o.mean = GpMeanKind::linear;
  o.lower_bounds = {0.0, 2.0};
  o.upper_bounds = {1.0, 1.0};
  o.noise_variance_floor = 0.0;
  EXPECT_EQ(field_errors_of([&] { o.validate(2); }),
            (std::vector<FieldError>{{"linear_mean_columns", "a linear mean needs at least one column"},
                                     {"lower_bounds[1]", "need lower < upper, got [2, 1]"},
                                     {"noise_variance_floor", "need 0 < min <= max, got [0, 2]"}}));
  EXPECT_EQ(gp_options_from_json(gp_options_to_json(GpOptions{})).seed, GpOptions{}.seed);
}

// The objective model keeps the factors of its last posterior() and covariance()
// point sets; answers must not depend on what it has seen before.
TEST(GpObjectiveModel, CachedFactorsGiveFreshAnswers) {
  const Eigen::MatrixXd x = random_inputs(30, 3, 1);
  auto gp = std::make_shared<GaussianProcess>();
  gp->fit(x, evaluate(x));
  const Eigen::MatrixXd baseline = random_inputs(10, 3, 2), cand = random_inputs(15, 3, 3),
                        other = random_inputs(7, 3, 4);
  const GpPrediction expected = gp->predict(cand);
  const GpPointFactors fb = gp->point_factors(baseline), fc = gp->point_factors(cand);
  const Eigen::MatrixXd expected_cov = gp->posterior_covariance(fb, fc);

  const GpObjectiveModel model(gp);
  for (int round = 0; round < 2; ++round) {  // cold, then every slot filled
    Eigen::VectorXd mean, var;
    model.posterior(cand, mean, var);
    EXPECT_LT((mean - expected.mean).cwiseAbs().maxCoeff(), 1e-12);
    EXPECT_LT((var - expected.variance).cwiseAbs().maxCoeff(), 1e-12);
    EXPECT_LT((model.covariance(baseline, cand) - expected_cov).cwiseAbs().maxCoeff(), 1e-12);
    model.posterior(other, mean, var);  // replaces the candidates' factors
    EXPECT_LT((model.covariance(baseline, cand) - expected_cov).cwiseAbs().maxCoeff(), 1e-12);
    EXPECT_LT((model.covariance(baseline, baseline) - gp->posterior_covariance(fb, fb)).cwiseAbs().maxCoeff(), 1e-12);
  }
  EXPECT_LT((gp->posterior_variance(fc) - expected.variance).cwiseAbs().maxCoeff(), 1e-15);
}

}  // namespace
}  // namespace flashnas::search
