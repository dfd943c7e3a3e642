// GP training algebra: Cholesky with jitter, GLS mean, log marginal likelihood + gradient.
#include "engine/search/gp/gp_likelihood.hpp"

#include <Eigen/Cholesky>

#include <cmath>

#include "engine/search/gp/matern52_kernel.hpp"

namespace flashnas::search {

namespace {
constexpr double kLog2Pi = 1.83787706640934548356;
}

Eigen::VectorXd pack_log_hyperparameters(const GpHyperparameters& h) {
  const Eigen::Index d = h.lengthscales.size();
  Eigen::VectorXd theta(d + 2);
  theta.head(d) = h.lengthscales.array().log();
  theta(d) = std::log(h.signal_variance);
  theta(d + 1) = std::log(h.noise_variance);
  return theta;
}

GpHyperparameters unpack_log_hyperparameters(const Eigen::VectorXd& theta) {
  FLASHNAS_CHECK(theta.size() >= 3, "need at least 3 log-hyperparameters, got {}", theta.size());
  const Eigen::Index d = theta.size() - 2;
  GpHyperparameters h;
  h.lengthscales = theta.head(d).array().exp();
  h.signal_variance = std::exp(theta(d));
  h.noise_variance = std::exp(theta(d + 1));
  return h;
}

Eigen::MatrixXd gp_mean_basis(const Eigen::MatrixXd& x, GpMeanKind kind,
                              const std::vector<int64_t>& linear_columns) {
  const Eigen::Index n = x.rows();
  if (kind == GpMeanKind::zero) return Eigen::MatrixXd(n, 0);
  const Eigen::Index p = kind == GpMeanKind::constant ? 1 : 1 + static_cast<Eigen::Index>(linear_columns.size());
  Eigen::MatrixXd h(n, p);
  h.col(0).setOnes();
  if (kind == GpMeanKind::linear) {
    for (size_t c = 0; c < linear_columns.size(); ++c) {
      FLASHNAS_CHECK(linear_columns[c] >= 0 && linear_columns[c] < x.cols(), "linear mean column {} of {}",
                     linear_columns[c], x.cols());
      h.col(static_cast<Eigen::Index>(c) + 1) = x.col(linear_columns[c]);
    }
  }
  return h;
}

Eigen::MatrixXd cholesky_with_jitter(const Eigen::MatrixXd& a, double initial_jitter,
                                     int64_t max_tries, double* jitter_added) {
  const double scale = a.rows() > 0 ? std::max(a.diagonal().mean(), 1e-300) : 1.0;
  double jitter = 0.0;
  for (int64_t attempt = 0; attempt <= max_tries; ++attempt) {
    Eigen::MatrixXd m = a;
    if (jitter > 0.0) m.diagonal().array() += jitter;
    Eigen::LLT<Eigen::MatrixXd> llt(m);
    if (llt.info() == Eigen::Success && llt.matrixLLT().diagonal().minCoeff() > 0.0) {
      if (jitter_added) *jitter_added = jitter;
      return llt.matrixL();
    }
    jitter = attempt == 0 ? initial_jitter * scale : jitter * 10.0;
  }
  throw GpNumericalError(fmt::format("Cholesky of the {}x{} GP covariance failed after {} jitter retries "
                                     "(last jitter {:.3g})",
                                     a.rows(), a.cols(), max_tries, jitter / 10.0));
}

void gp_solve_mean_and_weights(GpConditioning& c, const Eigen::VectorXd& y, const Eigen::MatrixXd& h) {
  const auto l = c.chol.triangularView<Eigen::Lower>();
  const Eigen::Index p = h.cols();
  Eigen::VectorXd r = y;
  if (p > 0) {
    c.basis_w = l.solve(h);                                   // (N, P)
    Eigen::MatrixXd a = c.basis_w.transpose() * c.basis_w;    // (P, P) H^T K^-1 H
    a.diagonal().array() += 1e-10 * std::max(a.diagonal().mean(), 1.0);
    Eigen::LLT<Eigen::MatrixXd> llt(a);
    if (llt.info() != Eigen::Success) {
      throw GpNumericalError("mean-coefficient system H^T K^-1 H is singular (collinear mean columns?)");
    }
    c.coef_chol = llt.matrixL();
    const Eigen::VectorXd wy = l.solve(y);
    c.beta = llt.solve(c.basis_w.transpose() * wy);
    r -= h * c.beta;
  } else {
    c.basis_w.resize(h.rows(), 0);
    c.coef_chol.resize(0, 0);
    c.beta.resize(0);
  }
  c.alpha = l.solve(r);
  c.chol.transpose().triangularView<Eigen::Upper>().solveInPlace(c.alpha);
}

GpConditioning gp_condition(const Eigen::MatrixXd& x, const Eigen::VectorXd& y,
                            const Eigen::MatrixXd& h, const GpHyperparameters& hyper,
                            const GpOptions& options) {
  FLASHNAS_CHECK(x.rows() == y.size() && h.rows() == y.size(), "GP data sizes differ: x {} y {} h {}",
                 x.rows(), y.size(), h.rows());
  FLASHNAS_CHECK(x.rows() > 0, "GP needs at least one point");
  Eigen::MatrixXd k = matern52_covariance(x, x, hyper.lengthscales, hyper.signal_variance);  // (N, N)
  k.diagonal().array() += hyper.noise_variance;
  GpConditioning c;
  c.chol = cholesky_with_jitter(k, options.initial_jitter, options.max_jitter_tries, &c.jitter);
  gp_solve_mean_and_weights(c, y, h);
  return c;
}

double gp_log_marginal_likelihood(const Eigen::MatrixXd& x, const Eigen::VectorXd& y,
                                  const Eigen::MatrixXd& h, const GpHyperparameters& hyper,
                                  const GpOptions& options, Eigen::VectorXd* grad) {
  const Eigen::Index n = x.rows(), d = x.cols();
  const Eigen::MatrixXd r2 = scaled_squared_distances(x, x, hyper.lengthscales);  // (N, N)
  const Eigen::MatrixXd kf = hyper.signal_variance * matern52_of_squared_distance(r2);
  Eigen::MatrixXd k = kf;
  k.diagonal().array() += hyper.noise_variance;
  GpConditioning c;
  c.chol = cholesky_with_jitter(k, options.initial_jitter, options.max_jitter_tries, &c.jitter);
  gp_solve_mean_and_weights(c, y, h);

  const Eigen::VectorXd resid = y - (h.cols() > 0 ? Eigen::VectorXd(h * c.beta) : Eigen::VectorXd::Zero(n));
  const double fit = resid.dot(c.alpha);
  const double logdet = 2.0 * c.chol.diagonal().array().log().sum();
  const double lml = -0.5 * fit - 0.5 * logdet - 0.5 * static_cast<double>(n) * kLog2Pi;
  if (!grad) return lml;

  // W = alpha alpha^T - K^{-1}; most of the time of a fit is spent in this inverse.
  Eigen::MatrixXd kinv = Eigen::MatrixXd::Identity(n, n);
  c.chol.triangularView<Eigen::Lower>().solveInPlace(kinv);
  kinv = kinv.transpose() * kinv;  // L^{-T} L^{-1}
  Eigen::MatrixXd w = c.alpha * c.alpha.transpose() - kinv;  // (N, N)

  grad->resize(d + 2);
  grad->head(d) = matern52_log_lengthscale_gradient(x, w, r2, hyper.lengthscales, hyper.signal_variance);
  (*grad)(d) = 0.5 * (w.array() * kf.array()).sum();           // dK/dlog s2 = Kf
  (*grad)(d + 1) = 0.5 * hyper.noise_variance * w.trace();     // dK/dlog n2 = n2 I
  return lml;
}

double gp_log_prior(const GpHyperparameters& hyper, const GpOptions& options, Eigen::VectorXd* grad) {
  const Eigen::Index d = hyper.lengthscales.size();
  if (grad) grad->setZero(d + 2);
  if (!options.use_priors) return 0.0;
  // Length scales: LogNormal(sqrt2 + log(D)/2, sqrt3), BoTorch's dimension-scaled default
  // (Hvarfner et al. 2024); signal variance Gamma(2, 0.15); noise LogNormal(-4, 1).
  const double mu = std::sqrt(2.0) + 0.5 * std::log(static_cast<double>(std::max<Eigen::Index>(d, 1)));
  const double var = 3.0;
  double lp = 0.0;
  for (Eigen::Index i = 0; i < d; ++i) {
    const double t = std::log(hyper.lengthscales(i)) - mu;
    lp += -0.5 * t * t / var;
    if (grad) (*grad)(i) = -t / var;
  }
  lp += std::log(hyper.signal_variance) - 0.15 * hyper.signal_variance;
  if (grad) (*grad)(d) = 1.0 - 0.15 * hyper.signal_variance;
  const double tn = std::log(hyper.noise_variance) + 4.0;
  lp += -0.5 * tn * tn;
  if (grad) (*grad)(d + 1) = -tn;
  return lp;
}

}  // namespace flashnas::search
