// Matern-5/2 ARD kernel: covariance matrices and the length-scale gradient.
#include "engine/search/gp/matern52_kernel.hpp"

#include <cmath>

#include "engine/util/error.hpp"

namespace flashnas::search {

namespace {
constexpr double kSqrt5 = 2.23606797749978969641;
}

Eigen::MatrixXd scaled_squared_distances(const Eigen::MatrixXd& a, const Eigen::MatrixXd& b,
                                         const Eigen::VectorXd& lengthscales) {
  FLASHNAS_CHECK(a.cols() == b.cols() && a.cols() == lengthscales.size(),
                 "feature counts differ: a {} b {} lengthscales {}", a.cols(), b.cols(),
                 lengthscales.size());
  const Eigen::RowVectorXd inv = lengthscales.cwiseInverse().transpose();
  const Eigen::MatrixXd as = a.array().rowwise() * inv.array();  // (N, D)
  const Eigen::MatrixXd bs = b.array().rowwise() * inv.array();  // (M, D)
  Eigen::MatrixXd r2 = -2.0 * as * bs.transpose();                // (N, M)
  r2.colwise() += as.rowwise().squaredNorm();
  r2.rowwise() += bs.rowwise().squaredNorm().transpose();
  return r2.cwiseMax(0.0);
}

Eigen::MatrixXd matern52_of_squared_distance(const Eigen::MatrixXd& r2) {
  // Whole-array expression so Eigen vectorises sqrt and exp (most of kernel time).
  const Eigen::ArrayXXd r = r2.array().sqrt();
  return ((1.0 + kSqrt5 * r + (5.0 / 3.0) * r2.array()) * (-kSqrt5 * r).exp()).matrix();
}

Eigen::MatrixXd matern52_covariance(const Eigen::MatrixXd& a, const Eigen::MatrixXd& b,
                                    const Eigen::VectorXd& lengthscales, double signal_variance) {
  return signal_variance * matern52_of_squared_distance(scaled_squared_distances(a, b, lengthscales));
}

Eigen::VectorXd matern52_log_lengthscale_gradient(const Eigen::MatrixXd& x, const Eigen::MatrixXd& w,
                                                  const Eigen::MatrixXd& r2,
                                                  const Eigen::VectorXd& lengthscales,
                                                  double signal_variance) {
  const Eigen::Index d = x.cols();
  // g_ij = w_ij s2 (5/3)(1 + sqrt5 r) exp(-sqrt5 r): the feature-independent factor (symmetric).
  const Eigen::ArrayXXd r = r2.array().sqrt();
  const Eigen::MatrixXd g =
      (w.array() * (signal_variance * (5.0 / 3.0)) * (1.0 + kSqrt5 * r) * (-kSqrt5 * r).exp()).matrix();
  // sum_ij g_ij (x_id - x_jd)^2 = 2 sum_i x_id^2 (sum_j g_ij) - 2 x_d^T g x_d: one GEMM for all d.
  const Eigen::VectorXd row_sums = g.rowwise().sum();            // (N)
  const Eigen::MatrixXd gx = g * x;                              // (N, D)
  Eigen::VectorXd grad(d);
  for (Eigen::Index f = 0; f < d; ++f) {
    const double acc = 2.0 * (x.col(f).array().square() * row_sums.array()).sum() -
                       2.0 * x.col(f).dot(gx.col(f));
    grad(f) = 0.5 * acc / (lengthscales(f) * lengthscales(f));
  }
  return grad;
}

}  // namespace flashnas::search
