// The GP training algebra for fixed hyperparameters: Cholesky with jitter retries,
// generalised-least-squares mean coefficients, the log marginal likelihood and its
// analytic gradient in log-hyperparameter space, and the hyperparameter priors.
// Not the hyperparameter search (gp_hyperparameter_fit.hpp), not prediction.
//
// Legend: N points, D features, P mean-basis columns.
#pragma once

#include <Eigen/Core>

#include <cstdint>
#include <vector>

#include "engine/search/gp/gp_options.hpp"
#include "engine/util/error.hpp"

namespace flashnas::search {

// A Cholesky factorisation that failed even with the largest jitter.
class GpNumericalError : public Error {
 public:
  using Error::Error;
};

// Kernel and noise hyperparameters, in standardised output units on unit-cube inputs.
struct GpHyperparameters {
  Eigen::VectorXd lengthscales;  // (D)
  double signal_variance = 1.0;
  double noise_variance = 1e-4;
};

// Log-space packing used by the optimiser: [log l_1..l_D, log s2, log noise].
Eigen::VectorXd pack_log_hyperparameters(const GpHyperparameters& h);
GpHyperparameters unpack_log_hyperparameters(const Eigen::VectorXd& theta);

// Mean basis H (N, P) of unit-cube inputs x (N, D): no columns (zero mean), a column
// of ones (constant), or ones plus the chosen input columns (linear).
Eigen::MatrixXd gp_mean_basis(const Eigen::MatrixXd& x, GpMeanKind kind,
                              const std::vector<int64_t>& linear_columns);

// Lower Cholesky factor of a (N, N) SPD matrix, retrying with diagonal jitter
// initial_jitter * mean(diag), x10 per try; throws GpNumericalError after the last.
// `jitter_added` receives the absolute amount added to the diagonal.
Eigen::MatrixXd cholesky_with_jitter(const Eigen::MatrixXd& a, double initial_jitter,
                                     int64_t max_tries, double* jitter_added);

// Everything prediction needs from the training data for fixed hyperparameters.
struct GpConditioning {
  Eigen::MatrixXd chol;      // (N, N) L, lower: L L^T = K + (noise + jitter) I
  double jitter = 0.0;       // absolute jitter on the diagonal
  Eigen::MatrixXd basis_w;   // (N, P) L^{-1} H
  Eigen::MatrixXd coef_chol; // (P, P) lower Cholesky of H^T K^{-1} H
  Eigen::VectorXd beta;      // (P) GLS mean coefficients
  Eigen::VectorXd alpha;     // (N) K^{-1} (y - H beta)
};

// Factorises K and solves for beta and alpha. x (N, D) unit cube, y (N), h (N, P).
GpConditioning gp_condition(const Eigen::MatrixXd& x, const Eigen::VectorXd& y,
                            const Eigen::MatrixXd& h, const GpHyperparameters& hyper,
                            const GpOptions& options);

// Recomputes basis_w, coef_chol, beta and alpha from an existing `chol`.
void gp_solve_mean_and_weights(GpConditioning& c, const Eigen::VectorXd& y, const Eigen::MatrixXd& h);

// log p(y | X, theta) with beta at its GLS optimum; beta maximises the likelihood for
// fixed theta, so (envelope theorem) the gradient is the partial derivative at fixed
// beta: 0.5 tr((alpha alpha^T - K^{-1}) dK/dtheta_j). `grad` (optional) gets
// d/d theta for theta = pack_log_hyperparameters(hyper).
double gp_log_marginal_likelihood(const Eigen::MatrixXd& x, const Eigen::VectorXd& y,
                                  const Eigen::MatrixXd& h, const GpHyperparameters& hyper,
                                  const GpOptions& options, Eigen::VectorXd* grad);

// Sum of the prior log-densities (up to constants) of the hyperparameters, and its
// gradient in log space; zero when options.use_priors is false.
double gp_log_prior(const GpHyperparameters& hyper, const GpOptions& options, Eigen::VectorXd* grad);

}  // namespace flashnas::search
