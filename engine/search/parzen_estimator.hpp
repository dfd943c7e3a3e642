// The univariate Parzen estimator of TPE on [0, 1]: a weighted mixture of Gaussians
// truncated to [0, 1], one per observation plus a wide prior, with Optuna 3.1's
// bandwidth rule (optuna/samplers/_tpe/parzen_estimator.py, one float parameter,
// multivariate=False). Not the sampler that splits the observations and builds one
// estimator per dimension (tpe.hpp).
//
// Legend: K observations, C components (K + 1 with the prior, else K).
#pragma once

#include <Eigen/Core>

#include <cstdint>
#include <random>

namespace flashnas::search {

// Optuna's TPESampler defaults.
struct ParzenOptions {
  bool consider_prior = true;      // add N(0.5, 1) truncated to [0, 1] (always, when K = 0)
  double prior_weight = 1.0;       // its weight, before normalisation with the observations'
  bool consider_magic_clip = true; // sigma >= 1 / min(100, 1 + C); else >= 1e-12
  bool consider_endpoints = false; // whether the outermost kernels' widths see the bounds 0 and 1
  // Optuna 3.1 to 3.4 leave the -log(sigma) term out of each truncated Gaussian's log
  // density (_truncnorm.logpdf; fixed in 3.5 by commit 206e719), so a kernel counts in
  // proportion to its width and log_pdf is no longer a density. Off: the true density
  // (Optuna >= 3.5). On: to compare with figures made with those versions.
  bool optuna31_log_pdf = false;
};

class ParzenEstimator {
 public:
  // observations (K) in [0, 1]; weights (K) finite, >= 0, any scale (they are
  // normalised together with the prior's weight) and not all zero without the prior.
  // Throws InvalidInput otherwise.
  ParzenEstimator(const Eigen::VectorXd& observations, const Eigen::VectorXd& weights,
                  const ParzenOptions& options);

  // A draw from the mixture: a component by weight, then its truncated Gaussian.
  double sample(std::mt19937_64& rng) const;
  // log density at x in [0, 1] (integrates to 1 over [0, 1] unless optuna31_log_pdf).
  double log_pdf(double x) const;

  const Eigen::VectorXd& mus() const { return mus_; }          // (C); the prior last
  const Eigen::VectorXd& sigmas() const { return sigmas_; }    // (C)
  const Eigen::VectorXd& weights() const { return weights_; }  // (C), sum 1

 private:
  Eigen::VectorXd mus_, sigmas_, weights_;
  // (C) log(weight / (sigma sqrt(2 pi) mass in [0, 1])), with sigma taken as 1 for optuna31_log_pdf.
  Eigen::VectorXd log_scale_;
};

}  // namespace flashnas::search
