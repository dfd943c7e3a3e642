// GaussianProcess: a GP regression model (Matern-5/2 ARD kernel, zero/constant/linear
// mean with GLS coefficients, Gaussian noise with a floor) on inputs mapped to the unit
// cube and standardised outputs. Serves both the latency model and the search
// surrogate. Fitting, prediction (marginal and joint), incremental updates and JSON.
// Not a multi-output model: one GP per objective.
//
// Legend: N training points, M query points, D features, P mean-basis columns.
#pragma once

#include <Eigen/Core>
#include <nlohmann/json_fwd.hpp>

#include <cstdint>

#include "engine/search/gp/gp_likelihood.hpp"
#include "engine/search/gp/gp_options.hpp"

namespace flashnas::search {

// Marginal posterior at M points, in the caller's output units.
struct GpPrediction {
  Eigen::VectorXd mean;      // (M)
  Eigen::VectorXd variance;  // (M) of the latent f (plus noise if asked)
};

// Posterior pieces at a set of points, reusable across covariance queries so the
// O(N^2 M) solve is done once per point (the acquisition relies on this).
struct GpPointFactors {
  Eigen::MatrixXd x_unit;  // (M, D) query points in the unit cube
  Eigen::VectorXd mean;    // (M) posterior mean, caller's units
  Eigen::MatrixXd v;       // (N, M) L^{-1} k(X, x)
  Eigen::MatrixXd r;       // (P, M) C^{-1} (h(x) - H^T K^{-1} k(X, x)), mean-coefficient uncertainty
};

class GaussianProcess {
 public:
  explicit GaussianProcess(GpOptions options = {});

  // Chooses hyperparameters (multi-start L-BFGS-B on the log marginal likelihood)
  // and conditions on the data. x (N, D) raw inputs, y (N). Throws InvalidInput on
  // bad shapes or non-finite values, GpNumericalError if no factorisation succeeds.
  void fit(const Eigen::MatrixXd& x, const Eigen::VectorXd& y);

  // Conditions on the data with given hyperparameters (standardised units), no search.
  void condition(const Eigen::MatrixXd& x, const Eigen::VectorXd& y, const GpHyperparameters& hyper);

  // Adds observations: rank-one Cholesky extension per point, O(N^2) each; the
  // hyperparameters are refitted (warm-started) every options().refit_every points.
  void add_observation(const Eigen::VectorXd& x, double y);
  void add_observations(const Eigen::MatrixXd& x, const Eigen::VectorXd& y);

  // Marginal posterior of f (or of y = f + noise) at x (M, D).
  GpPrediction predict(const Eigen::MatrixXd& x, bool include_noise = false) const;
  // Joint posterior of f at x (M, D): mean (M), covariance (M, M).
  void predict_joint(const Eigen::MatrixXd& x, Eigen::VectorXd& mean, Eigen::MatrixXd& cov) const;
  GpPointFactors point_factors(const Eigen::MatrixXd& x) const;
  // Marginal posterior variance of f at the factors' points (M), caller's units:
  // predict's variance without recomputing the factors.
  Eigen::VectorXd posterior_variance(const GpPointFactors& f) const;
  // Posterior covariance of f between two factor sets: (Ma, Mb), caller's units.
  Eigen::MatrixXd posterior_covariance(const GpPointFactors& a, const GpPointFactors& b) const;

  // log p(y | X, hyperparameters) of the standardised outputs on all current data.
  double log_marginal_likelihood() const;

  bool fitted() const { return fitted_; }
  int64_t n_points() const { return x_raw_.rows(); }
  int64_t n_features() const { return x_raw_.cols(); }
  const GpOptions& options() const { return options_; }
  const GpHyperparameters& hyperparameters() const { return hyper_; }  // standardised units
  double noise_variance() const { return hyper_.noise_variance * y_scale_ * y_scale_; }  // caller's units
  const Eigen::VectorXd& mean_coefficients() const { return cond_.beta; }  // standardised, unit cube
  const Eigen::MatrixXd& inputs() const { return x_raw_; }   // (N, D)
  const Eigen::VectorXd& outputs() const { return y_raw_; }  // (N)

  // Everything needed to reproduce predictions exactly (options, data, transforms,
  // hyperparameters); from_json refactorises without refitting.
  nlohmann::json to_json() const;
  static GaussianProcess from_json(const nlohmann::json& j);

 private:
  void set_data(const Eigen::MatrixXd& x, const Eigen::VectorXd& y);  // validates, sets transforms
  Eigen::MatrixXd to_unit(const Eigen::MatrixXd& x) const;
  void require_fitted(const char* what) const;
  Eigen::ArrayXd latent_variance_std(const GpPointFactors& f) const;  // (M) standardised units, >= 0

  GpOptions options_;
  Eigen::MatrixXd x_raw_;   // (N, D)
  Eigen::VectorXd y_raw_;   // (N)
  Eigen::MatrixXd x_unit_;  // (N, D)
  Eigen::VectorXd y_std_;   // (N)
  Eigen::MatrixXd basis_;   // (N, P)
  Eigen::VectorXd lower_, width_;  // (D) unit-cube map: (x - lower) / width
  double y_mean_ = 0.0, y_scale_ = 1.0;
  GpHyperparameters hyper_;
  GpConditioning cond_;
  int64_t added_since_fit_ = 0;
  bool fitted_ = false;
};

}  // namespace flashnas::search
